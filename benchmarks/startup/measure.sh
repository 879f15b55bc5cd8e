#!/usr/bin/env bash
# Start-up of the distribution's bin/densify without and with its AOT cache, in the same run, on
# the bundled runtime: the wall time of `densify score` on the quick demo's reward model, and of
# `densify ppo --steps 1` on the quick demo's policy and reward model (with that step's own
# seconds from its log.jsonl). The two modes alternate run by run, so that a change in the
# machine's load falls on both alike. Without the cache means DENSIFY_JAVA_OPTS=-XX:AOTMode=off;
# with it, -XX:AOTMode=on, so that a run the cache could not serve fails instead of passing silently.
# Usage: benchmarks/startup/measure.sh [DIST_DIR] [RUNS]
#   DIST_DIR  an unpacked distribution (default: dist/target/densify-*/, left by the -Pdist build)
#   RUNS      runs of each command in each mode (default 5); the summary gives their medians
# Writes the runs to STARTUP_OUT (default: a temporary folder, named at the end) as runs.tsv.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
if [ -n "${1:-}" ]; then
  dist="$1"
else
  dists=("$repo"/dist/target/densify-*/)
  dist="${dists[0]%/}"
fi
runs="${2:-5}"
[ -x "$dist/bin/densify" ] && [ -f "$dist/lib/densify.aot" ] || {
  echo "measure.sh: $dist is not a distribution with a cache; build one with ./mvnw -B -Pdist package -DskipTests" >&2
  exit 1
}
densify="$dist/bin/densify"
out="${STARTUP_OUT:-$(mktemp -d)}"
mkdir -p "$out"

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
echo "runtime: $("$dist/runtime/bin/java" -version 2>&1 | sed -n 2p)"
echo "distribution: $dist"

# The quick demo's models (tokenizer, policy, reward model); its PPO part is cut to one step.
work="$out/demo-quick"
if [ ! -f "$work/reward-model/config.json" ]; then
  echo "building the quick demo's models in $work ..."
  "$densify" demo --quick --steps 1 --work "$work" > "$out/demo.log" 2>&1
fi

# The quick demo's PPO settings (DemoPlan.quick), one step.
ppo_args=(--policy "$work/policy/model" --reward-model "$work/reward-model" --credit abc --steps 1
  --batch 8 --minibatch 2 --ppo-epochs 2 --lr 1e-3 --prompt-min 2 --prompt-max 7 --gen-min 4 --gen-max 9)

# Prints the wall seconds of running its arguments (output discarded; a failure stops the script).
wall() {
  local start="$EPOCHREALTIME"
  "$@" > /dev/null 2> "$out/last.err" || { cat "$out/last.err" >&2; echo "measure.sh: failed: $*" >&2; exit 1; }
  awk -v end="$EPOCHREALTIME" -v start="$start" 'BEGIN { printf "%.3f", end - start }'
}

printf 'run\tmode\tscore_s\tppo_s\tppo_step1_s\n' > "$out/runs.tsv"
for ((run = 1; run <= runs; run++)); do
  for mode in off on; do
    export DENSIFY_JAVA_OPTS="-XX:AOTMode=$mode"
    score_s="$(wall "$densify" score --reward-model "$work/reward-model" --prompt "This movie was" --completion " a joy to watch")"
    ppo_dir="$out/ppo-$mode-$run"
    ppo_s="$(wall "$densify" ppo "${ppo_args[@]}" --out "$ppo_dir")"
    step_s="$(sed -n 's/.*"seconds":\([0-9.eE-]*\).*/\1/p' "$ppo_dir/log.jsonl" | head -n 1)"
    rm -rf "$ppo_dir"
    printf '%s\t%s\t%.3f\t%.3f\t%.3f\n' "$run" "$mode" "$score_s" "$ppo_s" "$step_s" | tee -a "$out/runs.tsv"
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
column_median() { awk -F'\t' -v mode="$1" -v col="$2" 'NR > 1 && $2 == mode { print $col }' "$out/runs.tsv" | median; }
echo
echo "medians of $runs runs (seconds)    without cache   with cache"
for spec in "3 densify score (wall)" "4 densify ppo --steps 1 (wall)" "5 its first PPO step (log)"; do
  col="${spec%% *}"
  printf '%-34s %13s %12s\n' "${spec#* }" "$(column_median off "$col")" "$(column_median on "$col")"
done
echo "runs: $out/runs.tsv"
