#!/usr/bin/env bash
# Trains the distribution's ahead-of-time cache (JDK 25, JEP 483/514/515): runs a short demo
# (tokenizer, tiny policy, reward model, a few PPO steps with every credit method, the chart) through
# the image's own bin/densify, so the cache is made by the bundled runtime with the launcher's exact
# flags and class path, and writes it to IMAGE/lib/densify.aot when the JVM exits.
# Usage: train-aot-cache.sh IMAGE_DIR WORK_DIR
set -euo pipefail
image="$1" work="$2"
cache="$image/lib/densify.aot"
rm -rf "$work" "$cache"
mkdir -p "$work"
# The training run logs to standard output what it records and assembles; so do the JVM's two
# expected complaints about --add-modules (the cache then holds no archived module graph).
DENSIFY_JAVA_OPTS="-XX:AOTCacheOutput=$cache" \
  "$image/bin/densify" demo --quick --steps 2 --work "$work/demo-quick"
if [ ! -s "$cache" ]; then
  echo "train-aot-cache.sh: the training run left no cache at $cache" >&2
  exit 1
fi
# The cache must load: with AOTMode=on the JVM refuses to start without it.
DENSIFY_JAVA_OPTS="-XX:AOTMode=on" "$image/bin/densify" --version > /dev/null
echo "train-aot-cache.sh: $cache ($(du -h "$cache" | cut -f1)) loads"
