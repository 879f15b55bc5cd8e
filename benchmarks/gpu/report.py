#!/usr/bin/env python3
"""The table benchmarks/gpu/check.sh prints last: every figure of the run and Densify / PyTorch ratios.

  python3 benchmarks/gpu/report.py RESULTS_DIR CARD DEVICE

Reads the JSON written by TrainStepBenchmark (java-*.json) and torch_train_step.py (torch-*.json),
PpoStepBenchmark (java-ppo.json) and torch_ppo_peer.py (torch-ppo.json), tests.txt (RunTests' summary) and stages.tsv (each stage's outcome). A missing figure prints as "-".
Speed ratio = Densify speed / PyTorch speed (tokens/s, or the inverse of the times): above 1 Densify is faster.
"""
import datetime
import json
import os
import sys


def load(res, name):
    try:
        with open(os.path.join(res, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def get(doc, *path):
    for p in path:
        if doc is None:
            return None
        doc = doc[p] if isinstance(doc, list) else doc.get(p)
    return doc


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(ours, theirs):
    return "-" if not ours or not theirs else f"{ours / theirs:.2f}"


def main():
    res, card, device = sys.argv[1], sys.argv[2], sys.argv[3]
    rows = []
    shape = None
    for mode in ("fp32", "tf32"):
        j, t = load(res, f"java-{mode}.json"), load(res, f"torch-{mode}.json")
        if j is None and t is None:
            continue
        train = get(j, "train") or get(t, "train")
        shape = f"{(j or t)['model']}, B {train['batch']} x T {train['seq']}"
        jt, tt = get(j, "train", "tokens_per_s"), get(t, "train", "tokens_per_s")
        rows.append((f"train step {mode} ({shape}): tokens/s", fmt(jt, ".0f"), fmt(tt, ".0f"), ratio(jt, tt)))
        rows.append((f"  step time {mode}: median s", fmt(get(j, "train", "median_s"), ".4f"), fmt(get(t, "train", "median_s"), ".4f"), ""))
        loss = lambda d: None if get(d, "train") is None else f"{d['train']['loss_first']:.3f} -> {d['train']['loss_last']:.3f}"
        rows.append((f"  loss first -> last {mode}", loss(j) or "-", loss(t) or "-", ""))
    s = load(res, "torch-sdpa-tf32.json")
    if s is not None:
        jt, st = get(load(res, "java-tf32.json"), "train", "tokens_per_s"), get(s, "train", "tokens_per_s")
        rows.append(("train step tf32, PyTorch with SDPA (flash) attention: tokens/s", fmt(jt, ".0f"), fmt(st, ".0f"), ratio(jt, st)))
    jp, tp = load(res, "java-ppo.json"), load(res, "torch-ppo.json")
    if jp is not None or tp is not None:
        m, p = (jp or tp)["model"], (jp or tp)["ppo"]
        what = (f"PPO step ({m['layers']} layers, d {m['d']}, vocab {m['vocab']}; batch {p['batch']}, prompts {p['prompt_tokens']}, "
                f"new {p['new_tokens']}, {p['epochs']} epochs x minibatch {p['mini_batch']}, {p['credit']}): median s per step")
        for phase in ("total", "generation", "reward", "reference", "update"):
            js, ts = get(jp, "seconds_per_step", phase), get(tp, "seconds_per_step", phase)
            rows.append((what if phase == "total" else f"  PPO {phase}: s", fmt(js, ".3f"), fmt(ts, ".3f"), ratio(ts, js)))
    jr, tr = load(res, "java-reward.json"), load(res, "torch-reward.json")
    for i in range(max(len(get(jr, "reward") or []), len(get(tr, "reward") or []))):
        r = get(jr, "reward", i) or get(tr, "reward", i)
        def cell(d):
            row = get(d, "reward", i)
            if row is None:
                return "-"
            return f"{row['none_s'] * 1e3:.2f} / {row['last_row_s'] * 1e3:.2f} ({row['overhead_pct']:+.1f}%)"
        jn, tn = get(jr, "reward", i, "none_s"), get(tr, "reward", i, "none_s")
        rows.append((f"reward pass B {r['batch']} x T {r['seq']}: ms, capture none / last row (overhead)", cell(jr), cell(tr),
                     ratio(tn, jn)))
    try:
        with open(os.path.join(res, "tests.txt")) as f:
            tests = f.read().strip()
    except OSError:
        tests = "did not run"
    rows.append(("GPU tests (org.densify.kernels, org.densify.ffm.cublas)", tests, "", ""))

    stages = []
    try:
        with open(os.path.join(res, "stages.tsv")) as f:
            stages = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except OSError:
        pass

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(f"## Densify GPU check: {card} (device {device}), {when}")
    print()
    print("| figure | Densify | PyTorch eager | speed ratio (> 1: Densify faster) |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    bad = [s for s in stages if len(s) > 1 and s[1] != "ok"]
    print()
    print("stages: " + ", ".join(f"{s[0]} {s[1]} {s[2] if len(s) > 2 else ''}".strip() for s in stages))
    if bad:
        print("NOT OK: " + "; ".join(f"{s[0]}: {s[1]}" for s in bad))
    print(f"(raw logs and JSON in {res})")


if __name__ == "__main__":
    main()
