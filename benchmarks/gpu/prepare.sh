#!/usr/bin/env bash
# Builds, on a machine with JDK 25 and Maven's local repository, everything benchmarks/gpu/check.sh
# needs on a bare GPU machine (no Java, no Maven), then prints the paths to carry there:
#   .jdk/                       a jlinked JDK 25 runtime (scripts/jlink-runtime.sh)
#   benchmarks/gpu/target/kit/  lib/     the engine's jars and their runtime dependencies, JUnit
#                               test/    the test classes of native and kernels, one jar each
#                               runner/  RunTests (a minimal JUnit console, benchmarks/gpu/RunTests.java)
# The engine's jars include rlhf (PpoStepBenchmark runs PpoTrainer) and picocli (the benchmark mains
# parse their options with it); the charts' jfreechart is left out (no class the benchmarks load needs it).
# Left out of the kit: JMH and its dependencies and the CPU peer (libtorch through DJL) and its dependencies (not used by the GPU check) and the parts of
# jcuda-natives other than the driver binding (the PTX compiler alone is 24 MB; kernels come as PTX).
# The engine's own jars come from each module's target/ (the local repository is shared with other
# builds and may hold other SNAPSHOTs); ~/.m2 only supplies third-party jars and the path names.
# Both paths are git-ignored. PREPARE_KEEP_JDK=1 reuses an existing .jdk/; PREPARE_NO_BUILD=1 skips Maven's build;
# PREPARE_OFFLINE=1 keeps Maven offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/java-home.sh
. scripts/java-home.sh
use_java_home jlink
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
# Online, so that a fresh machine fetches what the kit needs (the dependency plugin, JUnit's
# launcher); PREPARE_OFFLINE=1 builds from the local repository alone.
MVN=(./mvnw -q -B)
[ "${PREPARE_OFFLINE:-0}" = 1 ] && MVN+=(-o)
KIT=benchmarks/gpu/target/kit
LIMIT_MIB=64

# One reactor run builds the modules and writes each one's test class path (a superset of its
# runtime class path) to target/gpu-kit.classpath, resolving the engine's modules to their jars here.
CLASSPATH_GOAL=(dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/gpu-kit.classpath)
if [ "${PREPARE_NO_BUILD:-0}" != 1 ]; then
  echo "== build: native, loaders, core, kernels, rlhf, benchmarks (tests compiled, not run)"
  "${MVN[@]}" package -DskipTests -pl benchmarks -am "${CLASSPATH_GOAL[@]}"
else
  "${MVN[@]}" -pl benchmarks,native,kernels "${CLASSPATH_GOAL[@]}"
fi
if [ "${PREPARE_KEEP_JDK:-0}" != 1 ] || [ ! -x .jdk/bin/java ]; then
  echo "== jlink"
  scripts/jlink-runtime.sh .jdk
fi

echo "== kit"
rm -rf "$KIT"
mkdir -p "$KIT/lib" "$KIT/test" "$KIT/runner"
for jar in $(for m in benchmarks native kernels; do tr ':' '\n' < $m/target/gpu-kit.classpath; echo; done | sort -u); do
  case "$(basename "$jar")" in
    jmh-*|jopt-simple-*|commons-math3-*) ;;                      # JMH only
    jfreechart-*) ;;                                             # rlhf's charts: not used by the benchmarks
    api-[0-9]*|pytorch-engine-*|pytorch-jni-*|pytorch-native-*|gson-*|jna-*|commons-compress-*|commons-codec-*|commons-io-*|commons-lang3-*|slf4j-api-*|error_prone_annotations-*) ;;
                                                                 # the CPU peer (libtorch through DJL, 110 MB) and its dependencies: not used by the GPU check
    densify-*)                                                   # this tree's build, not whatever ~/.m2 holds
      module="$(basename "$jar" | sed -E 's/^densify-([a-z]+)-.*/\1/')"
      cp "$module/target/$(basename "$jar")" "$KIT/lib/" ;;
    jcuda-natives-*)                                             # keep only the driver API's binding
      slim="$(mktemp -d)"
      (cd "$slim" && "$JAVA_HOME/bin/jar" xf "$jar" && find lib -name '*.so' ! -name 'libJCudaDriver-*' -delete \
        && "$JAVA_HOME/bin/jar" cf "$OLDPWD/$KIT/lib/$(basename "$jar")" .)
      rm -rf "$slim" ;;
    *) cp "$jar" "$KIT/lib/" ;;
  esac
done
cp benchmarks/target/densify-benchmarks-*.jar "$KIT/lib/"
# The JUnit launcher (what surefire brings itself), in the platform version the tests were built with
platform="$(ls "$KIT"/lib/junit-platform-engine-*.jar | sed 's/.*junit-platform-engine-\(.*\)\.jar/\1/')"
"${MVN[@]}" dependency:copy -Dartifact="org.junit.platform:junit-platform-launcher:$platform" -DoutputDirectory="$KIT/lib"
for module in native kernels; do
  if [ -d "$module/target/test-classes" ]; then
    "$JAVA_HOME/bin/jar" cf "$KIT/test/$module-tests.jar" -C "$module/target/test-classes" .
  else
    echo "   ($module has no test classes yet)"
  fi
done
"$JAVA_HOME/bin/javac" --release 25 -Xlint:all -Werror -d "$KIT/runner" -cp "$KIT/lib/*" benchmarks/gpu/RunTests.java

jdk_b=$(du -sb .jdk | cut -f1)
kit_b=$(du -sb "$KIT" | cut -f1)
total=$(( (jdk_b + kit_b) / 1048576 ))
ls -la "$KIT/lib" "$KIT/test" | sed 's/^/   /'
echo "   .jdk $(( jdk_b / 1048576 )) MiB + kit $(( kit_b / 1048576 )) MiB = $total MiB (limit $LIMIT_MIB MiB)"
if [ "$total" -ge "$LIMIT_MIB" ]; then
  echo "prepare.sh: $total MiB is over the $LIMIT_MIB MiB that can be carried" >&2
  exit 1
fi
echo "carry: [\".jdk\", \"$KIT\"]"
