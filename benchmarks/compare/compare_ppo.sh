#!/usr/bin/env bash
# One RLHF PPO step on the CPU: Densify (PpoStepBenchmark, from benchmarks/target/benchmarks.jar)
# against the same step in PyTorch (benchmarks/compare/torch_ppo_peer.py, torch 1 thread + OpenBLAS
# 2, the best setting of docs/design.md section 9), back to back, then a table of each phase's median
# seconds and the time ratio Densify / PyTorch (<= 1: Densify as fast or faster).
# Shape: the demo's policy size (4 layers, d 128, 4 heads, vocab 4096, positions 128; PPO_SHAPE
# overrides) with the paper's step: batch 16, prompts of 2..8 random tokens, 8..16 new tokens,
# 4 PPO epochs of minibatch 1, ABC credit (the reward model's attention captured).
# PPO_STEPS timed steps (default 3) after PPO_WARMUP (default 1); PPO_NO_BUILD=1 skips the build;
# raw logs and JSON go to PPO_OUT (default a temporary folder).
# Needs Debian's python3-torch (in /usr/bin/python3) and libopenblas0-pthread; Java needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A Java 25 with javac, found as ./densify and ./verify find it.
. scripts/java-home.sh
use_java_home javac
JAVA="$JAVA_HOME/bin/java"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
PY=/usr/bin/python3
OUT="${PPO_OUT:-$(mktemp -d /tmp/ppo-compare.XXXXXX)}"
mkdir -p "$OUT"
read -r -a SHAPE <<< "${PPO_SHAPE:---layers 4 --d 128 --heads 4 --vocab 4096 --positions 128}"
STEPS=(--steps "${PPO_STEPS:-3}" --warmup "${PPO_WARMUP:-1}")
if [ "${PPO_NO_BUILD:-0}" != 1 ]; then
  # Not offline (-o): on a fresh machine JMH and the other benchmark dependencies come from Maven Central.
  ./mvnw -q -B package -DskipTests -pl benchmarks -am
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$JAVA" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar \
  org.densify.benchmarks.gpu.PpoStepBenchmark --device cpu "${SHAPE[@]}" --credit abc "${STEPS[@]}" \
  --json "$OUT/densify.json" > "$OUT/densify.log" 2>&1 || { tail -n 20 "$OUT/densify.log" >&2; exit 1; }
"$PY" benchmarks/compare/torch_ppo_peer.py --device cpu --threads 1 --openblas-threads 2 "${SHAPE[@]}" --capture "${STEPS[@]}" \
  --json "$OUT/torch.json" > "$OUT/torch.log" 2>&1 || { tail -n 20 "$OUT/torch.log" >&2; exit 1; }
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -hE '^(warmup|step) ' "$OUT/densify.log" | sed 's/^/densify  /'
grep -hE '^(warmup|step) ' "$OUT/torch.log" | sed 's/^/pytorch  /'
"$PY" - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
ours, theirs = (json.load(open(os.path.join(out, f))) for f in ("densify.json", "torch.json"))
m, p = ours["model"], ours["ppo"]
print(f"\nPPO step, {m['layers']} layers, d {m['d']}, {m['heads']} heads, vocab {m['vocab']}; batch {p['batch']}, "
      f"prompts {p['prompt_tokens']}, new tokens {p['new_tokens']}, {p['epochs']} epochs x minibatch {p['mini_batch']}, "
      f"credit {p['credit']}; median of {ours['steps']} steps after {ours['warmup']} warm-up\n")
print("| phase | Densify s | PyTorch s | time ratio Densify / PyTorch (<= 1: Densify as fast or faster) |")
print("| --- | --- | --- | --- |")
for phase in ("generation", "reward", "reference", "update", "total"):
    a, b = ours["seconds_per_step"][phase], theirs["seconds_per_step"][phase]
    print(f"| {phase} | {a:.3f} | {b:.3f} | {a / b:.2f} |")
s, t = ours["setting"], theirs["setting"]
print(f"\nDensify: java {s['java']}, load {s['loadavg_1min_before']:.2f} -> {s['loadavg_1min_after']:.2f}; "
      f"PyTorch {t['torch']}, torch threads {t['torch_threads']}, OpenBLAS {t['OPENBLAS_NUM_THREADS']}, "
      f"load {t['loadavg_1min_before']:.2f} -> {t['loadavg_1min_after']:.2f}")
PYEOF
echo "(raw results in $OUT)"
