# Sourced, not run: how ./densify and the distribution's bin/densify start the densify jar, in one
# place, so that both give the JVM the same flags and pass on the same output and exit status.
#
#   run_densify_jar JAVA JAR ARGS...
#       runs JAR with JAVA, the engine's JVM flags, the options in the array densify_jvm_opts (if
#       the caller set one), then those in DENSIFY_JAVA_OPTS (split on whitespace, so they can
#       override both), and ARGS; drops the JVM's incubator warning from standard error and exits
#       with the JVM's status (it does not return).

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
