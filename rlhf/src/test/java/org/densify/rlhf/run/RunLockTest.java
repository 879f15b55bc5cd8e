package org.densify.rlhf.run;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The run-folder lock between processes: refused while another process holds it, free again once that process is killed. */
class RunLockTest {
    @TempDir
    Path dir;

    @Test
    void aFolderHeldByAnotherProcessIsRefusedUntilThatProcessIsKilled() throws Exception {
        Path run = dir.resolve("run");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process holder = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"), HoldLock.class.getName(), run.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine());
            RunLock.InUse e = assertThrows(RunLock.InUse.class, () -> RunLock.inside(run));
            assertEquals(run + " is in use by another run (lock " + run.resolve(RunLock.FILE) + ")", e.getMessage());
        } finally {
            holder.destroyForcibly(); // SIGKILL: no code of the holder runs, the operating system drops its lock
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        try (RunLock _ = RunLock.inside(run)) {
            assertTrue(Files.exists(run.resolve(RunLock.FILE)));
        }
    }

    @Test
    void theLockFileDoesNotMakeAFolderNonEmpty() throws IOException {
        Path run = dir.resolve("empty");
        try (RunLock _ = RunLock.inside(run)) {
            assertTrue(OutputPaths.isEmpty(run));
            RunLock.InUse e = assertThrows(RunLock.InUse.class, () -> RunLock.inside(run));
            assertTrue(e.getMessage().contains("in use by another run"), e.getMessage());
        }
        try (RunLock _ = RunLock.inside(run)) {
            assertTrue(OutputPaths.isEmpty(run), "a released lock can be taken again");
        }
    }
}
