#!/usr/bin/env bash
# Where the time goes in one JMH benchmark of Densify: runs it with Java Flight Recorder (JMH's jfr
# profiler, samples taken after warm-up, not only at safepoints) and prints two tables from the
# recording: the share of CPU samples by where they are (the innermost CPU-backend frame of each
# sample: the GEMM, a backend op, whose lambdas running on worker threads count for it, or the
# thread pool waiting) and the 25 hottest methods by self time. JFR samples Java frames; time inside native code (libtorch) shows up only as the
# calling Java method, so profile Densify's benchmarks, not the torch* twins.
#   benchmarks/compare/profile.sh 'ModelBenchmark.trainStep$' [more JMH arguments]
# Forks and iterations: PROFILE_JMH (default "-f 1 -wi 2 -i 3"). Recording and tables go to
# PROFILE_OUT (default a fresh /tmp/profile.* folder). Needs benchmarks/target/benchmarks.jar.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/java-home.sh
use_java_home javac
export JAVA_HOME
if [ $# -lt 1 ]; then
  echo "usage: benchmarks/compare/profile.sh BENCHMARK_REGEX [JMH arguments]" >&2
  exit 2
fi
OUT="${PROFILE_OUT:-$(mktemp -d /tmp/profile.XXXXXX)}"
mkdir -p "$OUT"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
benchmarks/compare/jmh.sh "$@" ${PROFILE_JMH:--f 1 -wi 2 -i 3} -prof "jfr:dir=$OUT;stackDepth=96" > "$OUT/jmh.log" 2>&1 || {
  tail -30 "$OUT/jmh.log" >&2
  exit 1
}
grep -E '^(Benchmark|[A-Za-z]+Benchmark\.)' "$OUT/jmh.log" | grep -v ':jfr' || true
mapfile -t RECORDINGS < <(find "$OUT" -name '*.jfr' | sort)
if [ ${#RECORDINGS[@]} -eq 0 ]; then
  echo "profile.sh: JMH wrote no recording under $OUT (see $OUT/jmh.log)" >&2
  exit 1
fi
for rec in "${RECORDINGS[@]}"; do
  "$JAVA_HOME/bin/jfr" print --json --stack-depth 96 --events jdk.ExecutionSample "$rec" > "${rec%.jfr}.samples.json"
done
python3 - "${RECORDINGS[@]/%.jfr/.samples.json}" <<'PYEOF'
import collections, json, sys

CPU = "org.densify.core.cpu."
def category(frames):
    """The innermost engine frame decides: GEMM, a backend op (lambdas count for the op that made
    them, so worker threads' samples land on their op), or the thread pool waiting / dispatching."""
    for f in frames:
        cls, method = f["method"]["type"]["name"].replace("/", "."), f["method"]["name"]
        if cls in (CPU + "Gemm", CPU + "GemmSmallM") or cls.startswith((CPU + "Gemm$", CPU + "GemmSmallM$")):
            return "GEMM (Gemm, GemmSmallM)"
        if cls.startswith(CPU + "VectorBackend"):
            return "VectorBackend." + (method.split("$")[1] if method.startswith("lambda$") else method)
        if cls.startswith(CPU + "CpuThreads"):
            return "CpuThreads (waiting or dispatching)"
    return "(outside the CPU backend)"

for path in sys.argv[1:]:
    events = json.load(open(path))["recording"]["events"]
    by_op, by_self, total = collections.Counter(), collections.Counter(), 0
    for e in events:
        frames = e["values"]["stackTrace"]["frames"] if e["values"].get("stackTrace") else []
        if not frames:
            continue
        total += 1
        top = frames[0]["method"]
        by_self[top["type"]["name"].replace("/", ".") + "." + top["name"]] += 1
        by_op[category(frames)] += 1
    print(f"\n{path}: {total} samples")
    print("\n| where (innermost CPU-backend frame) | share of samples |\n| --- | ---: |")
    for op, n in by_op.most_common(25):
        print(f"| `{op}` | {100 * n / total:.1f} % |")
    print("\n| hottest method (self) | share of samples |\n| --- | ---: |")
    for m, n in by_self.most_common(25):
        print(f"| `{m}` | {100 * n / total:.1f} % |")
PYEOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); recordings in $OUT"
