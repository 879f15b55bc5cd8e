#!/usr/bin/env bash
# The GPU device check: run from the repository root on a machine with an NVIDIA GPU, PyTorch and
# what benchmarks/gpu/prepare.sh built (.jdk/ and benchmarks/gpu/target/kit/); no Java or Maven needed.
#   1. nvidia-smi, the Java runtime, torch, and where libcublas / libcudart are
#   2. the GPU tests: org.densify.kernels.*Test and org.densify.ffm.cublas.*Test (skipped, with the
#      reason, where no GPU is usable)
#   3. the GPT-2 124M training step, B 8 x T 1024, Densify (TrainStepBenchmark) then PyTorch eager
#      (torch_train_step.py), fp32 then TF32; PyTorch with SDPA attention as an extra yardstick
#   4. one RLHF PPO step at the paper's IMDb setting (GPT-2 124M policy + value head, reference and
#      reward model; batch 16, 2..8-token prompts, 8..16 new tokens, 4 epochs x minibatch 1, ABC
#      credit), fp32, 1 warm-up + 2 timed steps: Densify (PpoStepBenchmark) then PyTorch
#      (benchmarks/compare/torch_ppo_peer.py)
#   5. the reward pass's attention-capture overhead (B 16, T 24 and 512), both sides
#   6. the table of figures and ratios, printed LAST
# Without a GPU (or with --device cpu) it runs a CPU smoke of the same stages on tiny models.
# Every stage has its own timeout and the whole run a budget (CHECK_BUDGET, default 450 s); a stage
# that no longer fits is skipped and says so. Logs and JSON go to $CHECK_OUT, else $OUT/gpu-check
# (the device machine's return folder), else a temporary folder.
# Usage: benchmarks/gpu/check.sh [--device cuda|cpu] [--budget SECONDS]
set -uo pipefail
cd "$(dirname "$0")/../.."

DEVICE=""
BUDGET="${CHECK_BUDGET:-450}"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    *) echo "usage: $0 [--device cuda|cpu] [--budget SECONDS]" >&2; exit 64 ;;
  esac
done
START=$(date +%s)
RESERVE=10   # seconds kept for the report
KIT=benchmarks/gpu/target/kit
JAVA="${CHECK_JAVA:-.jdk/bin/java}"
PY="${PYTHON:-python3}"
JFLAGS=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
RES="${CHECK_OUT:-${OUT:+$OUT/gpu-check}}"
[ -n "$RES" ] || RES="$(mktemp -d /tmp/gpu-check.XXXXXX)"
mkdir -p "$RES"
RES="$(cd "$RES" && pwd)"
: > "$RES/stages.tsv"

# a copy that lost the executable bits (the JDK's launchers and helpers) gets them back
if [ -f "$JAVA" ] && [ ! -x "$JAVA" ]; then chmod +x "$(dirname "$JAVA")"/* "$(dirname "$JAVA")"/../lib/jspawnhelper 2> /dev/null; fi
if [ ! -x "$JAVA" ] || [ ! -d "$KIT/lib" ]; then
  echo "check.sh: no $JAVA or $KIT: run benchmarks/gpu/prepare.sh on the build machine and carry .jdk and $KIT" >&2
  exit 2
fi
JAVA="$(cd "$(dirname "$JAVA")" && pwd)/$(basename "$JAVA")"

# run_stage NAME LIMIT_S LOG CMD...: runs CMD under its timeout (capped by what is left of the
# budget), shows the lines that matter, records the outcome in stages.tsv.
run_stage() {
  local name="$1" limit="$2" log="$RES/$3"; shift 3
  local left=$(( BUDGET - ($(date +%s) - START) - RESERVE ))
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped, the ${BUDGET}s budget is spent"
    printf '%s\tskipped (budget)\t-\n' "$name" >> "$RES/stages.tsv"
    return
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  echo "== $name (limit ${limit}s)"
  local t0=$(date +%s) rc status
  timeout -k 5 "$limit" "$@" > "$log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status="timed out after ${limit}s" ;;
    *) status="failed (exit $rc)" ;;
  esac
  grep -E '^(densify:|torch |train step|reward pass|ppo step|setting: |(warmup|step) [0-9]+: |tests:|  FAIL|  SKIP|  org\.densify)' "$log" | cut -c1-400 | sed 's/^/   /'
  [ $rc -ne 0 ] && { echo "   -- $status; last lines of $log:"; tail -n 12 "$log" | cut -c1-300 | sed 's/^/   | /'; }
  printf '%s\t%s\t%ss\n' "$name" "$status" "$(( $(date +%s) - t0 ))" >> "$RES/stages.tsv"
}

# ---- 1. the machine --------------------------------------------------------------------------
echo "== machine"
if command -v nvidia-smi > /dev/null && timeout 20 nvidia-smi > "$RES/nvidia-smi.txt" 2>&1; then
  sed 's/^/   /' "$RES/nvidia-smi.txt"
  CARD="$(timeout 10 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
  [ -z "$DEVICE" ] && DEVICE=cuda
else
  echo "   no usable nvidia-smi: no GPU here"
  CARD="none"
  [ -z "$DEVICE" ] && DEVICE=cpu
fi
"$JAVA" -version 2>&1 | head -n 1 | sed 's/^/   java: /'
TORCH="$("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1)"
echo "   torch: $TORCH"

# cuBLAS and the CUDA runtime: PyTorch's nvidia-* wheels keep them in site-packages, off the
# linker's path. The newest major found wins; its folder also goes on LD_LIBRARY_PATH for libcublasLt.
find_lib() {
  "$PY" - "$1" 2> /dev/null <<'PYEOF'
import glob, os, site, sys
name = sys.argv[1]
roots = [p for p in sys.path if p and os.path.isdir(p)]
try:
    roots += site.getsitepackages() + [site.getusersitepackages()]
except Exception:
    pass
hits = []
for r in dict.fromkeys(roots):
    hits += glob.glob(os.path.join(r, "nvidia", "**", name + ".*"), recursive=True)
    hits += glob.glob(os.path.join(r, "torch", "lib", name + ".*"))
for d in ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"] + glob.glob("/usr/local/cuda-*/lib64"):
    hits += glob.glob(os.path.join(d, name + ".*"))
def major(p):
    try:
        return int(os.path.basename(p)[len(name) + 1:].split(".")[0])
    except ValueError:
        return -1
hits = [h for h in hits if major(h) >= 11]
if hits:
    print(max(hits, key=lambda p: (major(p), -len(p))))
PYEOF
}
if [ "$DEVICE" = cuda ]; then
  for lib in libcublas.so:DENSIFY_CUBLAS libcudart.so:DENSIFY_CUDART; do
    var="${lib#*:}"
    if [ -z "${!var:-}" ]; then
      path="$(find_lib "${lib%%:*}")"
      [ -n "$path" ] && export "$var=$path" && export LD_LIBRARY_PATH="$(dirname "$path")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    echo "   $var=${!var:-(not found: left to the dynamic linker search path)}"
  done
fi
echo "   device: $DEVICE; results in $RES"

if [ "$DEVICE" = cuda ]; then
  TRAIN=(--model gpt2 --batch 8 --seq 1024 --warmup 2 --steps 8)
  REWARD=(--model gpt2 --reward-batch 16 --reward-seqs 24,512 --reward-reps 20)
  PPO=(--layers 12 --d 768 --heads 12 --vocab 50257 --positions 1024)
else
  TRAIN=(--model tiny --batch 2 --seq 64 --warmup 2 --steps 3)
  REWARD=(--model tiny --reward-batch 4 --reward-seqs 24,128 --reward-reps 5)
  PPO=(--layers 2 --d 64 --heads 2 --vocab 512 --positions 64)
fi
PPO+=(--batch 16 --epochs 4 --warmup 1 --steps 2)
BENCH=("$JAVA" "${JFLAGS[@]}" -cp "$KIT/lib/*" org.densify.benchmarks.gpu.TrainStepBenchmark --device "$DEVICE")
PEER=("$PY" benchmarks/gpu/torch_train_step.py --device "$DEVICE")

# ---- 2. tests --------------------------------------------------------------------------------
# From kernels/, as surefire runs them (a test may read files relative to its module). The CPU
# emulation of the kernels (EmulatedKernelsTest, minutes of CPU) already ran at build time: left
# out unless CHECK_TEST_EXCLUDE says otherwise.
ROOT="$PWD"
run_stage "GPU tests (kernels, cuBLAS)" 150 tests.log env -C kernels \
  "$JAVA" "${JFLAGS[@]}" -Xss4m -cp "$ROOT/$KIT/runner:$ROOT/$KIT/test/*:$ROOT/$KIT/lib/*" RunTests \
  --pattern 'org\.densify\.(kernels|ffm\.cublas)\..*Test' --exclude "${CHECK_TEST_EXCLUDE:-.*\.Emulated.*}" --summary "$RES/tests.txt" "$ROOT/$KIT"/test/*.jar

# ---- 3. training step ------------------------------------------------------------------------
run_stage "train step fp32: Densify" 100 java-fp32.log "${BENCH[@]}" "${TRAIN[@]}" --json "$RES/java-fp32.json"
run_stage "train step fp32: PyTorch" 75 torch-fp32.log "${PEER[@]}" "${TRAIN[@]}" --json "$RES/torch-fp32.json"
if [ "$DEVICE" = cuda ]; then
  run_stage "train step tf32: Densify" 100 java-tf32.log "${BENCH[@]}" --tf32 "${TRAIN[@]}" --json "$RES/java-tf32.json"
  run_stage "train step tf32: PyTorch" 75 torch-tf32.log "${PEER[@]}" --tf32 "${TRAIN[@]}" --json "$RES/torch-tf32.json"
fi

# ---- 4. PPO step ------------------------------------------------------------------------------
# Both sides' defaults are the paper's lengths and minibatch 1; --capture is the peer's --credit abc.
run_stage "PPO step: Densify" 100 java-ppo.log "$JAVA" "${JFLAGS[@]}" -cp "$KIT/lib/*" org.densify.benchmarks.gpu.PpoStepBenchmark \
  --device "$DEVICE" "${PPO[@]}" --credit abc --json "$RES/java-ppo.json"
run_stage "PPO step: PyTorch" 75 torch-ppo.log "$PY" benchmarks/compare/torch_ppo_peer.py --device "$DEVICE" "${PPO[@]}" --capture \
  --json "$RES/torch-ppo.json"

# ---- 5. reward pass capture ------------------------------------------------------------------
run_stage "reward pass capture: Densify" 75 java-reward.log "${BENCH[@]}" --work reward "${REWARD[@]}" --json "$RES/java-reward.json"
run_stage "reward pass capture: PyTorch" 60 torch-reward.log "${PEER[@]}" --work reward "${REWARD[@]}" --json "$RES/torch-reward.json"
if [ "$DEVICE" = cuda ]; then
  run_stage "train step tf32: PyTorch SDPA" 60 torch-sdpa-tf32.log "${PEER[@]}" --sdpa --tf32 "${TRAIN[@]}" --json "$RES/torch-sdpa-tf32.json"
fi

# ---- 6. the table, last ----------------------------------------------------------------------
echo "== total $(( $(date +%s) - START ))s"
if ! "$PY" benchmarks/gpu/report.py "$RES" "$CARD" "$DEVICE" | tee "$RES/summary.md"; then
  echo "(report.py failed: raw figures follow)"
  cat "$RES"/stages.tsv
  grep -hE '^(train step|reward pass|ppo step|tests:)' "$RES"/*.log
fi
