#!/usr/bin/env bash
# Checks that the distribution runs with no JDK: unpacks the tarball into a temporary folder and,
# under `env -i` (no JAVA_HOME, nothing inherited) with a PATH that holds no java, runs
# bin/densify --version and bin/densify demo --quick, and checks the start-up cache loads there, that
# the launcher still runs without it or with a broken one, and that usage errors exit with 2.
# Where it may (root, with unshare), every JDK under /usr/lib/jvm is also hidden behind an empty
# folder for the duration, so that nothing could reach one even by absolute path.
# Usage: dist/src/test/check-dist.sh [TARBALL]   (default: the one under dist/target/)
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
if [ $# -ge 1 ]; then
  tarball="$1"
else
  tarballs=("$here"/../../target/densify-*-linux-x64.tar.gz)
  tarball="${tarballs[0]}"
fi
[ -f "$tarball" ] || { echo "check-dist: no tarball at $tarball; build it with ./mvnw -B -Pdist package -DskipTests" >&2; exit 1; }
tarball="$(readlink -f "$tarball")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp"
dist=("$tmp"/densify-*/)
dist="${dist[0]%/}"
echo "check-dist: unpacked $(basename "$tarball") into $dist"

# /usr/bin holds a java on most machines that build this, so the PATH is a folder of links to the
# few tools the launcher and these checks use, and nothing else.
mkdir "$tmp/path"
for tool in bash env readlink dirname cat grep; do
  ln -s "$(command -v "$tool")" "$tmp/path/$tool"
done

hide_jdks=()
if [ -d /usr/lib/jvm ] && unshare -m true 2> /dev/null; then
  hide_jdks=(unshare -m bash -c 'mount -t tmpfs none /usr/lib/jvm && exec "$@"' hide-jdks)
  echo "check-dist: /usr/lib/jvm hidden (unshare -m, tmpfs)"
fi

# Runs its arguments as a user without a JDK would: empty environment, HOME in the temporary folder.
clean() {
  ${hide_jdks[@]+"${hide_jdks[@]}"} env -i PATH="$tmp/path" HOME="$tmp" "$@"
}

failures=0
check() { # check WHAT COMMAND...: runs COMMAND, reports WHAT as passed or failed
  local what="$1"
  shift
  if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; failures=$((failures + 1)); fi
}

no_java() { ! clean bash -c 'command -v java' > /dev/null; }
check "no java on the PATH, no JAVA_HOME" no_java

version_runs() {
  local out
  out="$(clean "$dist/bin/densify" --version 2> "$tmp/version.err")" || return 1
  echo "$out" | sed 's/^/        /'
  grep -q '^densify ' <<< "$out" && [ ! -s "$tmp/version.err" ]
}
check "bin/densify --version (nothing on standard error)" version_runs

cache_loads() { clean DENSIFY_JAVA_OPTS=-XX:AOTMode=on "$dist/bin/densify" --version > /dev/null; }
check "the AOT cache loads (AOTMode=on)" cache_loads

usage_error_is_2() {
  local status=0
  clean "$dist/bin/densify" score > /dev/null 2>&1 || status=$?
  [ "$status" = 2 ]
}
check "a usage error exits with 2" usage_error_is_2

demo_runs() {
  clean "$dist/bin/densify" demo --quick --work "$tmp/work" > "$tmp/demo.out" 2> "$tmp/demo.err" || {
    tail -n 20 "$tmp/demo.err"
    return 1
  }
  tail -n 8 "$tmp/demo.out" | sed 's/^/        /'
  [ -s "$tmp/work/results.md" ] && [ -s "$tmp/work/reward.png" ]
}
check "bin/densify demo --quick --work TMP (results.md, reward.png)" demo_runs

# Without the cache, and with one the JVM rejects: slower, but the same output.
runs_with_cache() { # runs_with_cache CONTENT: replaces the cache by CONTENT (none: removes it)
  local cache="$dist/lib/densify.aot" out status=0
  mv "$cache" "$tmp/densify.aot.kept"
  [ "$1" = none ] || printf '%s' "$1" > "$cache"
  out="$(clean "$dist/bin/densify" --version 2> /dev/null)" || status=$?
  rm -f "$cache"
  mv "$tmp/densify.aot.kept" "$cache"
  [ "$status" = 0 ] && [ "$(head -n 1 <<< "$out")" = "$(head -n 1 <<< "$(clean "$dist/bin/densify" --version)")" ] \
    && [ "$(wc -l <<< "$out")" = 2 ]
}
check "runs without the cache" runs_with_cache none
check "runs with a rejected cache, standard output unchanged" runs_with_cache "not a cache"

if [ "$failures" -gt 0 ]; then
  echo "check-dist: $failures check(s) failed" >&2
  exit 1
fi
echo "check-dist: all checks passed"
