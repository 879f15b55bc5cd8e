#!/usr/bin/env bash
# Builds a trimmed JDK 25 runtime into .jdk/ (git-ignored) for machines without Java, such as the
# GPU machines that run benchmarks/gpu/check.sh: java.base plus what the engine, its jars and the
# JUnit launcher use, found with jdeps:
#   jdk.incubator.vector  the CPU backend's Vector API
#   java.logging          JUnit Platform and JCuda's LibUtils (java.util.logging)
#   java.management       JMH's runner (java.lang.management), for the JMH benchmarks
#   jdk.unsupported       sun.misc.Unsafe (JMH)
#   jdk.zipfs             the "jar" file system JUnit's class-path scanner opens test jars with
# Left out: java.desktop and java.sql, which jackson-databind requires only "static" (optional:
# java.beans / java.sql type support, unused here) and which commons-math's 2-D geometry (pulled in
# by JMH, unused) names; jdk.compiler (no source launch: classes come compiled).
# Extra modules: JLINK_EXTRA_MODULES=java.sql,java.desktop scripts/jlink-runtime.sh
# Usage: scripts/jlink-runtime.sh [OUTPUT_DIR]   (default .jdk in the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
JDK="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
OUT="${1:-.jdk}"
MODULES="java.base,jdk.incubator.vector,java.logging,java.management,jdk.unsupported,jdk.zipfs${JLINK_EXTRA_MODULES:+,$JLINK_EXTRA_MODULES}"

version="$("$JDK/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
if [ "$version" != 25 ]; then
  echo "jlink-runtime.sh: $JDK is Java $version; point JAVA_HOME at a JDK 25" >&2
  exit 1
fi
rm -rf "$OUT"
"$JDK/bin/jlink" --add-modules "$MODULES" --output "$OUT" \
  --strip-debug --no-header-files --no-man-pages --compress zip-6
"$OUT/bin/java" --add-modules=jdk.incubator.vector -version 2>&1 | grep -v 'incubator modules' | sed 's/^/  /'
echo "$OUT: $(du -sh "$OUT" | cut -f1) (modules: $MODULES)"
