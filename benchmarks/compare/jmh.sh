#!/usr/bin/env bash
# Runs JMH from benchmarks/target/benchmarks.jar with libtorch 2.7.1 for the CPU (the PyTorch peer's
# native jar, which the shaded jar leaves out) on the class path; JMH's forks inherit it. Arguments
# go to JMH. The native jar comes from the local Maven repository (MAVEN_REPO, default ~/.m2/repository),
# where the benchmarks build put it; nothing is downloaded at run time (TorchRuntime sets DJL offline).
set -euo pipefail
cd "$(dirname "$0")/../.."
JAVA="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
LIBTORCH_JAR="${MAVEN_REPO:-$HOME/.m2/repository}/ai/djl/pytorch/pytorch-native-cpu/2.7.1/pytorch-native-cpu-2.7.1-linux-x86_64.jar"
if [ ! -f "$LIBTORCH_JAR" ]; then
  echo "jmh.sh: $LIBTORCH_JAR is missing; build the benchmarks module once online (./mvnw -B -pl benchmarks -am package -DskipTests)" >&2
  exit 2
fi
exec "$JAVA" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "benchmarks/target/benchmarks.jar:$LIBTORCH_JAR" org.openjdk.jmh.Main "$@"
