package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./densify} launcher, run against a stand-in java (a shell script that talks like the
 * JVM) in a copy of the repository's layout, so that what it does with the streams and the exit
 * status is checked without building the jar.
 */
class LauncherTest {
    /** Each blocking read on a thread of its own: the common pool may have a single thread on a small machine. */
    static final java.util.concurrent.Executor OWN_THREAD = task -> Thread.ofPlatform().daemon().start(task);

    static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    @Test
    void dropsOnlyTheIncubatorWarningPassesTheRestUnbufferedAndKeepsTheStatus() throws Exception {
        Files.createDirectories(dir.resolve("scripts"));
        Files.copy(REPO.resolve("densify"), dir.resolve("densify"));
        Files.copy(REPO.resolve("scripts/java-home.sh"), dir.resolve("scripts/java-home.sh"));
        Files.createDirectories(dir.resolve("rlhf/target"));
        Files.writeString(dir.resolve("rlhf/target/densify.jar"), "");
        Path java = dir.resolve("jdk/bin/java");
        Files.createDirectories(java.getParent());
        Path go = dir.resolve("go");
        Files.writeString(java, """
                #!/usr/bin/env bash
                if [ "$1" = "-XshowSettings:properties" ]; then echo "    java.specification.version = 25" >&2; exit 0; fi
                echo "WARNING: Using incubator modules: jdk.incubator.vector" >&2
                echo "args: ${@: -2}"
                printf 'progress' >&2
                for i in $(seq 1 600); do [ -f "%s" ] && break; sleep 0.1; done
                printf ' done\\nWARNING: Using incubator modules: jdk.incubator.vector\\n' >&2
                exit 3
                """.formatted(go));
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));

        ProcessBuilder pb = new ProcessBuilder("bash", dir.resolve("densify").toString(), "tokenize", "--x");
        pb.environment().put("JAVA_HOME", dir.resolve("jdk").toString());
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()), OWN_THREAD);
        InputStream err = p.getErrorStream();
        ByteArrayOutputStream seen = new ByteArrayOutputStream();
        // "progress" has no newline: it must come through while the program is still running.
        CompletableFuture<Void> progress = CompletableFuture.runAsync(() -> {
            try {
                while (!seen.toString(StandardCharsets.UTF_8).contains("progress")) {
                    int b = err.read();
                    if (b < 0) return;
                    seen.write(b);
                }
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, OWN_THREAD);
        progress.get(20, TimeUnit.SECONDS); // well before the stand-in gives up waiting (60 s)
        Files.writeString(go, "");
        seen.write(err.readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(3, p.exitValue(), "the launcher exits with the JVM's status");
        assertEquals("args: tokenize --x\n", out.get());
        // Only the first line, the JVM's own, is dropped; the same text later is the program's and passes.
        assertEquals("progress done\nWARNING: Using incubator modules: jdk.incubator.vector\n", seen.toString(StandardCharsets.UTF_8));
    }

    private static String read(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}
