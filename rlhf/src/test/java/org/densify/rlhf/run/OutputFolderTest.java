package org.densify.rlhf.run;

import org.densify.loaders.io.AtomicFiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** A whole-folder replacement stopped at each of its renames leaves the old or the new folder, found by {@link OutputFolder#recover}. */
class OutputFolderTest {
    @TempDir
    Path dir;
    private AtomicFiles.RenameHook previous;

    @AfterEach
    void restoreHook() {
        if (previous != null) AtomicFiles.setRenameHookForTests(previous);
    }

    private Path folder(String name, String content) throws IOException {
        Path p = Files.createDirectories(dir.resolve(name));
        Files.writeString(p.resolve("model.safetensors"), content);
        return p;
    }

    /** Replaces {@code out} ("old") with a new folder ("new"), stopped before the {@code n}-th rename (0-based), as a kill would. */
    private void replaceStoppedAt(Path out, int n) throws IOException {
        Path partial = OutputFolder.partialFolder(out);
        Files.writeString(partial.resolve("model.safetensors"), "new");
        int[] renames = {0};
        previous = AtomicFiles.setRenameHookForTests((from, to) -> {
            if (renames[0]++ == n) throw new IOException("simulated kill");
        });
        assertThrows(IOException.class, () -> OutputFolder.publish(partial, out, OutputPaths.Existing.REPLACE));
        AtomicFiles.setRenameHookForTests(previous);
        previous = null;
    }

    private String recover(Path out) throws IOException {
        StringWriter report = new StringWriter();
        OutputFolder.recover(out, new PrintWriter(report));
        return report.toString();
    }

    private List<String> hidden() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList();
        }
    }

    @Test
    void stoppedBeforeTheNewFolderIsCompleteKeepsTheOld() throws IOException {
        Path out = folder("rm", "old");
        replaceStoppedAt(out, 0); // .partial -> .new
        String report = recover(out);
        assertEquals("old", Files.readString(out.resolve("model.safetensors")));
        assertEquals(List.of(), hidden(), report);
        assertTrue(report.contains("an unfinished output a stopped run left"), report);
    }

    @Test
    void stoppedBeforeTheOldFolderIsMovedAsideKeepsTheOld() throws IOException {
        Path out = folder("rm", "old");
        replaceStoppedAt(out, 1); // out -> .old
        String report = recover(out);
        assertEquals("old", Files.readString(out.resolve("model.safetensors")));
        assertEquals(List.of(), hidden(), report);
    }

    @Test
    void stoppedWithNeitherInPlacePutsTheNewOneThere() throws IOException {
        Path out = folder("rm", "old");
        replaceStoppedAt(out, 2); // .new -> out: the state the issue describes, only hidden folders left
        assertFalse(Files.exists(out));
        assertEquals(2, hidden().size(), hidden().toString());
        String report = recover(out);
        assertEquals("new", Files.readString(out.resolve("model.safetensors")));
        assertTrue(report.contains("restored " + out), report);
        assertEquals(List.of(), hidden(), report);
    }

    @Test
    void onlyTheOldFolderLeftIsPutBack() throws IOException {
        Path out = folder("rm", "old");
        Files.move(out, dir.resolve(".rm.old-1234"));
        String report = recover(out);
        assertEquals("old", Files.readString(out.resolve("model.safetensors")));
        assertTrue(report.contains("this is the old model"), report);
    }

    @Test
    void aCompleteReplacementLeavesNothingBehind() throws IOException {
        Path out = folder("rm", "old");
        Path partial = OutputFolder.partialFolder(out);
        Files.writeString(partial.resolve("model.safetensors"), "new");
        OutputFolder.publish(partial, out, OutputPaths.Existing.REPLACE);
        assertEquals("new", Files.readString(out.resolve("model.safetensors")));
        assertEquals(List.of(), hidden());
        assertEquals("", recover(out));
    }
}
