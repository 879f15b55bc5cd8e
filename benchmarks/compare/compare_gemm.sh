#!/usr/bin/env bash
# GemmBenchmark (JMH, 2 threads) against numpy/OpenBLAS (OPENBLAS_NUM_THREADS=2) on the same
# shapes, back to back in one run, then a table: shape, ours GFLOP/s, OpenBLAS GFLOP/s, ratio, with
# the 2048x2048x2048 multiply (each side's measured GEMM peak) as the limit row.
# The peer runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (some machines set them globally,
# which pins old kernels), in its own command only, and the script prints which OpenBLAS core ran.
# Extra arguments go to JMH (e.g. -p shape=256x768x768,16x768x3072; the limit row is added when
# missing); forks and iterations come from GEMM_JMH (default "-f 2 -wi 3 -i 5"). Builds
# benchmarks/target/benchmarks.jar first unless GEMM_NO_BUILD=1; raw results go to GEMM_OUT
# (default a fresh /tmp/gemm-compare.* folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
# A Java 25 with javac, found as ./densify and ./verify find it.
. scripts/java-home.sh
use_java_home javac
JAVA="$JAVA_HOME/bin/java"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
OUT="${GEMM_OUT:-$(mktemp -d /tmp/gemm-compare.XXXXXX)}"
mkdir -p "$OUT"
if [ "${GEMM_NO_BUILD:-0}" != 1 ]; then
  # Not offline (-o): on a fresh machine JMH and the other benchmark dependencies come from Maven Central.
  ./mvnw -q -B package -DskipTests -pl benchmarks -am
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
benchmarks/compare/jmh.sh GemmBenchmark ${GEMM_JMH:--f 2 -wi 3 -i 5} -p threads=2 \
  -rf json -rff "$OUT/jmh.json" "$@" > "$OUT/jmh.log" 2>&1
# the peer times exactly the shapes JMH ran, plus the limit row
SHAPES=$(python3 -c 'import json,sys; s=[r["params"]["shape"] for r in json.load(open(sys.argv[1]))]; print(" ".join(s + ([] if "2048x2048x2048" in s else ["2048x2048x2048"])))' "$OUT/jmh.json")
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 benchmarks/compare/gemm_peer.py --kernel | tee "$OUT/peer-kernel.txt"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 benchmarks/compare/gemm_peer.py --json $SHAPES > "$OUT/peer.json"
if ! grep -q '"2048x2048x2048"' "$OUT/jmh.json"; then
  benchmarks/compare/jmh.sh GemmBenchmark ${GEMM_JMH:--f 2 -wi 3 -i 5} -p threads=2 -p shape=2048x2048x2048 \
    -rf json -rff "$OUT/jmh-peak.json" > "$OUT/jmh-peak.log" 2>&1
fi
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
jmh = json.load(open(os.path.join(out, "jmh.json")))
if os.path.exists(os.path.join(out, "jmh-peak.json")):
    jmh += json.load(open(os.path.join(out, "jmh-peak.json")))
peer = json.load(open(os.path.join(out, "peer.json")))
print("| shape | ours ms/op | ours GFLOP/s | OpenBLAS GFLOP/s | ratio |")
print("| --- | --- | --- | --- | --- |")
rows = sorted(jmh, key=lambda r: r["params"]["shape"] == "2048x2048x2048")
for r in rows:
    shape = r["params"]["shape"]
    m, k, n = (int(x) for x in shape.split(":")[0].split("x"))
    ms = r["primaryMetric"]["score"]
    err = r["primaryMetric"]["scoreError"]
    err = f"{err:.3f}" if isinstance(err, (int, float)) and err == err else "?"
    ours = 2.0 * m * n * k / (ms * 1e6)
    theirs = peer[shape]
    label = f"limit: `{shape}` (measured GEMM peak)" if shape == "2048x2048x2048" else f"`{shape}`"
    print(f"| {label} | {ms:.3f} ± {err} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x |")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw results in $OUT"
