# Sourced, not run: finds a Java 25 or newer for ./densify, ./verify and .ci/run, in one place.
#
#   java_home_with TOOL   prints the home of the first Java >= 25 whose bin/TOOL exists (java for
#                         running the jar, javac for building), looking in JAVA_HOME, then at the
#                         java on PATH, then under /usr/lib/jvm; returns 1 when there is none.
#   use_java_home TOOL    the same, exported as JAVA_HOME with its bin first on PATH; on failure
#                         prints why to standard error and returns 1.

densify_java_needed=25

# The Java feature version of the java binary $1 (e.g. 25), or nothing.
densify_java_version() {
  "$1" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

java_home_with() {
  local tool="$1" candidates=() home v
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  # /usr/bin/java is a link into the real JDK: resolve it before going up to the home.
  command -v java > /dev/null 2>&1 && candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  for home in /usr/lib/jvm/*; do candidates+=("$home"); done
  for home in "${candidates[@]}"; do
    [ -x "$home/bin/java" ] && [ -x "$home/bin/$tool" ] || continue
    v="$(densify_java_version "$home/bin/java" || true)"
    if [ -n "$v" ] && [ "$v" -ge "$densify_java_needed" ]; then
      echo "$home"
      return 0
    fi
  done
  return 1
}

use_java_home() {
  local home
  if ! home="$(java_home_with "$1")"; then
    echo "densify: needs a Java $densify_java_needed or newer with bin/$1; none found in JAVA_HOME (${JAVA_HOME:-unset}), on PATH or in /usr/lib/jvm." >&2
    echo "densify: install one (for example Temurin 25) and set JAVA_HOME to it." >&2
    return 1
  fi
  JAVA_HOME="$home"
  PATH="$JAVA_HOME/bin:$PATH"
  export JAVA_HOME PATH
}
