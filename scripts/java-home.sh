# Sourced, not run: what the shell scripts share about Java, in one place. ./densify, ./verify and
# .ci/run find a Java 25 or newer with it; ./densify and the distribution's bin/densify (which ships
# this file as lib/java-home.sh and calls only run_densify_jar, on its bundled runtime) start the jar
# with it, so that both give the JVM the same flags and pass on the same output and exit status.
#
#   java_home_with TOOL   prints the home of the first Java >= 25 whose bin/TOOL exists (java for
#                         running the jar, javac for building), looking in JAVA_HOME, then at the
#                         java on PATH, then under /usr/lib/jvm; returns 1 when there is none.
#   use_java_home TOOL    the same, exported as JAVA_HOME with its bin first on PATH; on failure
#                         prints why to standard error and returns 1.
#   run_densify_jar JAVA JAR ARGS...
#                         runs JAR with JAVA, the engine's JVM flags, the options in the array
#                         densify_jvm_opts (if the caller set one), then those in DENSIFY_JAVA_OPTS
#                         (split on whitespace, so they can override both), and ARGS; drops the
#                         JVM's incubator warning from standard error and exits with the JVM's
#                         status (it does not return).

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

# The flags every run of the engine needs (the root pom's densify.jvm.flags, for tests and benchmarks).
densify_engine_flags=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED)

# The JVM announces the incubator module on every start ("WARNING: Using incubator modules:
# jdk.incubator.vector"), always as the first line of standard error. Drop exactly that line and
# pass everything else through as it comes: cat does not buffer, so progress bars (which redraw
# with carriage returns, no newline) still show live.
densify_incubator_warning="WARNING: Using incubator modules: jdk.incubator.vector"
drop_incubator_warning() {
  local first
  if IFS= read -r first; then
    [ "$first" = "$densify_incubator_warning" ] || printf '%s\n' "$first"
  elif [ -n "$first" ]; then
    printf '%s' "$first" # a first line without a newline: the input ended there
  fi
  exec cat
}

run_densify_jar() {
  local java="$1" jar="$2" extra_opts=() status
  shift 2
  # Extra JVM options (heap size, say) come from DENSIFY_JAVA_OPTS, split on whitespace.
  read -r -a extra_opts <<< "${DENSIFY_JAVA_OPTS:-}"
  # Standard output goes straight to ours (fd 3); only standard error goes through the filter.
  set +e
  { "$java" "${densify_engine_flags[@]}" ${densify_jvm_opts[@]+"${densify_jvm_opts[@]}"} \
      ${extra_opts[@]+"${extra_opts[@]}"} -jar "$jar" "$@" 2>&1 1>&3 3>&- | drop_incubator_warning >&2 3>&-; } 3>&1
  status="${PIPESTATUS[0]}"
  exit "$status"
}
