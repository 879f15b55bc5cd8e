#!/usr/bin/env bash
# GemmBenchmark (JMH, 2 threads) against numpy/OpenBLAS (OPENBLAS_NUM_THREADS=2) on the same
# shapes, back to back in one run, then a table: shape, ours GFLOP/s, OpenBLAS GFLOP/s, ratio.
# Extra arguments go to JMH (e.g. -p shape=256x768x768,16x768x3072); forks and iterations come from
# GEMM_JMH (default "-f 2 -wi 3 -i 5"). Builds benchmarks/target/benchmarks.jar first unless
# GEMM_NO_BUILD=1; raw results go to GEMM_OUT (default a fresh /tmp/gemm-compare.* folder).
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
"$JAVA" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -jar benchmarks/target/benchmarks.jar GemmBenchmark ${GEMM_JMH:--f 2 -wi 3 -i 5} -p threads=2 \
  -rf json -rff "$OUT/jmh.json" "$@" > "$OUT/jmh.log" 2>&1
# the peer times exactly the shapes JMH ran
SHAPES=$(python3 -c 'import json,sys; print(" ".join(r["params"]["shape"] for r in json.load(open(sys.argv[1]))))' "$OUT/jmh.json")
OPENBLAS_NUM_THREADS=2 python3 benchmarks/compare/gemm_peer.py --json $SHAPES > "$OUT/peer.json"
python3 - "$OUT/jmh.json" "$OUT/peer.json" <<'PY'
import json, sys
jmh = json.load(open(sys.argv[1]))
peer = json.load(open(sys.argv[2]))
print("| shape | ours ms/op | ours GFLOP/s | OpenBLAS GFLOP/s | ratio |")
print("| --- | --- | --- | --- | --- |")
for r in jmh:
    shape = r["params"]["shape"]
    m, k, n = (int(x) for x in shape.split(":")[0].split("x"))
    ms = r["primaryMetric"]["score"]
    err = r["primaryMetric"]["scoreError"]
    err = f"{err:.3f}" if isinstance(err, (int, float)) and err == err else "?"
    ours = 2.0 * m * n * k / (ms * 1e6)
    theirs = peer[shape]
    print(f"| `{shape}` | {ms:.3f} ± {err} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x |")
PY
echo "(raw results in $OUT)"
