#!/usr/bin/env python3
"""Builds the IMDb sample bundled with Densify from the full 50,000-review JSON.

Usage: make_imdb_sample.py [FULL.json.gz] [OUT.json.gz] [PER_LABEL]

Takes PER_LABEL reviews of each label, evenly spaced over that label's reviews (the full file
holds 25,000 negative then 25,000 positive), replacing an exact duplicate by its next neighbour, and writes them as the
same {"t": text, "s": 0|1} JSON array, gzipped with a fixed mtime so the output is reproducible.
The text is kept as published (with its <br /> tags): the Java loader does the cleaning.
"""
import gzip
import json
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/imdb/reviews.json.gz"
out = sys.argv[2] if len(sys.argv) > 2 else "loaders/src/main/resources/org/densify/loaders/data/imdb-sample.json.gz"
per_label = int(sys.argv[3]) if len(sys.argv) > 3 else 2000

with gzip.open(src, "rt", encoding="utf-8") as f:
    reviews = json.load(f)

picked, seen = [], set()
for label in (0, 1):
    pool = [r for r in reviews if r["s"] == label]
    step = len(pool) / per_label
    for k in range(per_label):
        j = int(k * step)
        while pool[j]["t"] in seen:  # a duplicate: take its next neighbour instead
            j += 1
        seen.add(pool[j]["t"])
        picked.append({"t": pool[j]["t"], "s": label})

data = json.dumps(picked, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
    gz.write(data)
print(f"wrote {len(picked)} reviews ({len(data) / 1e6:.1f} MB text) to {out}")
