#!/usr/bin/env bash
# GPT-2 124M, Densify against PyTorch 2.7 (libtorch 2.7.1 through DJL, ModelBenchmark's torch* twins
# on the same weights, both at 2 threads), all inside one JMH run; then the machine's measured GEMM
# peak (2048^3, Densify's Gemm in JMH and numpy/OpenBLAS with OPENBLAS_CORETYPE/L2_SIZE unset) and
# the attention-capture cost in the reward pass (CaptureCostBenchmark); then one table of ratios
# against the issue's targets. Forks and iterations come from MODEL_JMH (default "-f 2 -wi 2 -i 3"),
# CAPTURE_JMH (default "-f 4": two forks leave the interval near ±1 %) and GEMM_JMH (default
# "-f 2 -wi 3 -i 5"); MODEL_NO_BUILD=1 skips the
# build; raw results go to MODEL_OUT. Extra arguments go to the ModelBenchmark run.
# MODEL_TORCH113=1 also runs the older Python peer (Debian's PyTorch 1.13, compare/torch_peer.py).
# LLAMA=1 also runs LlamaModelBenchmark (the Llama engine at SmolLM2-135M's shape against its PyTorch
# 2.7 peer; forks and iterations from LLAMA_JMH, default "-f 2 -wi 2 -i 3") and prints its table.
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
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
benchmarks/compare/jmh.sh '\.ModelBenchmark\.' ${MODEL_JMH:--f 2 -wi 2 -i 3} -rf json -rff "$OUT/jmh.json" "$@" > "$OUT/jmh.log" 2>&1
grep -m1 "PyTorch peer:" "$OUT/jmh.log" || true
grep -m1 "Peer check" "$OUT/jmh.log" || true
benchmarks/compare/jmh.sh GemmBenchmark ${GEMM_JMH:--f 2 -wi 3 -i 5} -p threads=2 -p shape=2048x2048x2048 \
  -rf json -rff "$OUT/gemm-peak.json" > "$OUT/gemm-peak.log" 2>&1
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 benchmarks/compare/gemm_peer.py --kernel | tee "$OUT/peer-kernel.txt"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 benchmarks/compare/gemm_peer.py --json 2048x2048x2048 > "$OUT/gemm-peak-peer.json"
rm -f "$OUT/capture.jsonl"
benchmarks/compare/jmh.sh CaptureCostBenchmark ${CAPTURE_JMH:--f 4} -jvmArgsAppend "-Dcapture.out=$OUT/capture.jsonl" \
  -rf json -rff "$OUT/capture-jmh.json" > "$OUT/capture.log" 2>&1
if [ "${MODEL_TORCH113:-0}" = 1 ]; then
  /usr/bin/python3 benchmarks/compare/torch_peer.py --threads 1 --openblas-threads 2 --repeat 3 --json "$OUT/peer-113.json" > "$OUT/peer-113.log"
fi
python3 - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
def jmh_scores(name):
    # seconds per op and the half-width of JMH's 99.9 % interval, by method name
    return {r["benchmark"].rsplit(".", 1)[1]: (r["primaryMetric"]["score"] / 1000.0, float(r["primaryMetric"]["scoreError"]) / 1000.0)
            for r in json.load(open(os.path.join(out, name)))}
jmh = jmh_scores("jmh.json")
peak_ms = json.load(open(os.path.join(out, "gemm-peak.json")))[0]["primaryMetric"]["score"]
peak_ours = 2 * 2048 ** 3 / (peak_ms * 1e6)
peak_blas = json.load(open(os.path.join(out, "gemm-peak-peer.json")))["2048x2048x2048"]
peak = max(peak_ours, peak_blas)
L, C, V, T = 12, 768, 50257, 256
# useful FLOPs of one training step on one 256-token sequence: 6 x tokens x matrix parameters
# (LM head included) + 12 L T^2 C for attention (forward and backward, full square)
train_flops = 6 * T * (12 * L * C * C + V * C) + 12 * L * T * T * C
def fmt(s, e):
    return f"{s:.3f} ± {e:.3f}" if e == e else f"{s:.3f}"
print(f"\nmeasured GEMM peak (2048^3, 2 threads): Densify {peak_ours:.1f} GFLOP/s, OpenBLAS {peak_blas:.1f} GFLOP/s\n")
print("| work | Densify s | PyTorch 2.7 s | time ratio | target | met |")
print("| --- | --- | --- | --- | --- | --- |")
rows = [("forward, LM head (B 1, T 256)", "forward", "<= 0.8"),
        ("forward, LM head (B 8, T 128)", "forwardBatch", "<= 0.8"),
        ("forward, no head (B 1, T 256)", "forwardNoHead", ""),
        ("forward + backward (B 1, T 256)", "forwardBackward", ""),
        ("training step: forward + backward + AdamW (B 1, T 256)", "trainStep", "<= 0.7"),
        ("sampling 16 x 64 tokens, KV cache", "generate", "<= 0.67 (>= 1.5x tokens/s)")]
for label, name, target in rows:
    twin = "torch" + name[0].upper() + name[1:]
    if name not in jmh or twin not in jmh:
        print(f"| {label} | not measured | not measured | | {target} | |")
        continue
    (ours, e1), (theirs, e2) = jmh[name], jmh[twin]
    ratio = ours / theirs
    met = "" if not target else ("yes" if ratio <= float(target.split()[1]) else "no")
    extra = f" ({1024 / ours:.0f} vs {1024 / theirs:.0f} tokens/s)" if name == "generate" else ""
    print(f"| {label} | {fmt(ours, e1)} | {fmt(theirs, e2)} | {ratio:.2f}{extra} | {target} | {met} |")
if "trainStep" in jmh:
    useful = train_flops / jmh["trainStep"][0] / 1e9
    print(f"| training step, useful GFLOP/s (of the {peak:.0f} GFLOP/s peak) | {useful:.1f} ({useful / peak * 100:.0f} %) | "
          + (f"{train_flops / jmh['torchTrainStep'][0] / 1e9:.1f}" if "torchTrainStep" in jmh else "not measured")
          + f" | | >= 60 % | {'yes' if useful / peak >= 0.6 else 'no'} |")
cap = os.path.join(out, "capture.jsonl")
if os.path.exists(cap):
    forks = [json.loads(line) for line in open(cap) if line.strip()]
    for i, f in enumerate(forks):
        pct, ci = (f["ratio"] - 1) * 100, f["ci95"] * 100
        print(f"| capture of the last row, reward pass {f['sequences']} x {f['length']} (fork {i + 1}, {f['pairs']} pairs) | "
              f"{pct:+.3f} % ± {ci:.3f} % | | | < 1 %, error bar < 1 % | {'yes' if pct + ci < 1 and ci < 1 else 'no'} |")
    if len(forks) > 1:
        # forks are independent runs: pool them weighting each by the inverse of its variance
        w = [(1.96 / f["ci95"]) ** 2 for f in forks]
        pooled = sum(wi * f["ratio"] for wi, f in zip(w, forks)) / sum(w)
        pct, ci = (pooled - 1) * 100, 1.96 / sum(w) ** 0.5 * 100
        print(f"| capture of the last row, all {len(forks)} forks pooled ({sum(f['pairs'] for f in forks)} pairs) | "
              f"{pct:+.3f} % ± {ci:.3f} % | | | < 1 %, error bar < 1 % | {'yes' if pct + ci < 1 and ci < 1 else 'no'} |")
else:
    print("| capture of the last row | not measured | | | < 1 % | |")
p113 = os.path.join(out, "peer-113.json")
if os.path.exists(p113):
    r = json.load(open(p113))["results"]
    print("\nPyTorch 1.13 (Python, Debian) for reference, median s: " + ", ".join(f"{k} {v['median_s']:.3f}" for k, v in r.items()))
PYEOF
if [ "${LLAMA:-0}" = 1 ]; then
  benchmarks/compare/jmh.sh '\.LlamaModelBenchmark\.' ${LLAMA_JMH:--f 2 -wi 2 -i 3} -rf json -rff "$OUT/llama.json" > "$OUT/llama.log" 2>&1
  grep -m1 "Peer check" "$OUT/llama.log" || true
  python3 - "$OUT" <<'PYEOF'
import json, os, sys
jmh = {r["benchmark"].rsplit(".", 1)[1]: (r["primaryMetric"]["score"] / 1000.0, float(r["primaryMetric"]["scoreError"]) / 1000.0)
       for r in json.load(open(os.path.join(sys.argv[1], "llama.json")))}
def fmt(s, e):
    return f"{s:.3f} ± {e:.3f}" if e == e else f"{s:.3f}"
print("\nLlama engine, SmolLM2-135M shape (30 layers, d 576, 9/3 heads, F 1536, vocab 49152), 2 threads each side\n")
print("| work | Densify s | PyTorch 2.7 s | time ratio |")
print("| --- | --- | --- | --- |")
for label, name in [("forward, LM head (B 1, T 256)", "forward"), ("forward + backward (B 1, T 256)", "forwardBackward"),
                    ("sampling 16 x 64 tokens, KV cache", "generate")]:
    twin = "torch" + name[0].upper() + name[1:]
    if name not in jmh or twin not in jmh:
        print(f"| {label} | not measured | not measured | |")
        continue
    (ours, e1), (theirs, e2) = jmh[name], jmh[twin]
    extra = f" ({1024 / ours:.0f} vs {1024 / theirs:.0f} tokens/s)" if name == "generate" else ""
    print(f"| {label} | {fmt(ours, e1)} | {fmt(theirs, e2)} | {ours / theirs:.2f}{extra} |")
PYEOF
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw results in $OUT"
