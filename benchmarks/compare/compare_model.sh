#!/usr/bin/env bash
# ModelBenchmark (JMH, GPT-2 124M shape, T = 256) against the same work in PyTorch
# (benchmarks/compare/torch_peer.py), back to back in one run, then a table of times and ratios.
# The peer runs at two thread settings (torch 1 / OpenBLAS 2 and torch 1 / OpenBLAS 1, the best of
# DESIGN.md section 9) and each line takes its best. Forks and iterations come from MODEL_JMH
# (default "-f 2 -wi 2 -i 3"); MODEL_NO_BUILD=1 skips the build; raw results go to MODEL_OUT.
# Needs Debian's python3-torch (in /usr/bin/python3) and libopenblas0-pthread; Java needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A Java 25 with javac, found as ./densify and ./verify find it.
. scripts/java-home.sh
use_java_home javac
JAVA="$JAVA_HOME/bin/java"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
PY=/usr/bin/python3
OUT="${MODEL_OUT:-$(mktemp -d /tmp/model-compare.XXXXXX)}"
mkdir -p "$OUT"
if [ "${MODEL_NO_BUILD:-0}" != 1 ]; then
  # Not offline (-o): on a fresh machine JMH and the other benchmark dependencies come from Maven Central.
  ./mvnw -q -B package -DskipTests -pl benchmarks -am
fi
"$JAVA" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -jar benchmarks/target/benchmarks.jar ModelBenchmark ${MODEL_JMH:--f 2 -wi 2 -i 3} \
  -rf json -rff "$OUT/jmh.json" "$@" > "$OUT/jmh.log" 2>&1
"$PY" benchmarks/compare/torch_peer.py --threads 1 --openblas-threads 2 --repeat 3 --json "$OUT/peer-1-2.json" > "$OUT/peer-1-2.log"
"$PY" benchmarks/compare/torch_peer.py --threads 1 --openblas-threads 1 --repeat 3 --json "$OUT/peer-1-1.json" > "$OUT/peer-1-1.log"
"$PY" - "$OUT" <<'PYEOF'
import json, sys, os
out = sys.argv[1]
jmh = {r["benchmark"].rsplit(".", 1)[1]: r["primaryMetric"]["score"] / 1000.0 for r in json.load(open(os.path.join(out, "jmh.json")))}
peers = [json.load(open(os.path.join(out, f))) for f in ("peer-1-2.json", "peer-1-1.json")]
def best(name):
    runs = [(p["results"][name]["median_s"], f"torch {p['setting'].get('torch_threads', '?')} / OpenBLAS {p['setting'].get('openblas_threads', '?')}")
            for p in peers if name in p["results"]]
    return min(runs)
rows = [("forward, LM head (B 1, T 256)", "forward", "forward_lm"),
        ("forward, no head", "forwardNoHead", "forward_body"),
        ("forward + backward", "forwardBackward", "forward_backward"),
        ("sampling 16 x 64 tokens (KV cache)", "generate", "sample")]
print("| work | Densify s | PyTorch s (best setting) | time ratio (<= 1: Densify as fast or faster) |")
print("| --- | --- | --- | --- |")
for label, ours, theirs in rows:
    if ours not in jmh:
        continue
    t, setting = best(theirs)
    extra = f" ({1024 / jmh[ours]:.0f} vs {1024 / t:.0f} tokens/s)" if theirs == "sample" else ""
    print(f"| {label} | {jmh[ours]:.3f} | {t:.3f} ({setting}) | {jmh[ours] / t:.2f}{extra} |")
if "forwardCaptureLastRow" in jmh and "forwardNoHead" in jmh:
    extra = (jmh["forwardCaptureLastRow"] - jmh["forwardNoHead"]) / jmh["forwardNoHead"] * 100
    print(f"\nattention capture of the last row: {extra:+.2f}% of the forward pass without the head "
          f"({jmh['forwardCaptureLastRow']:.3f} s vs {jmh['forwardNoHead']:.3f} s; within the noise when negative)")
PYEOF
echo "(raw results in $OUT)"
