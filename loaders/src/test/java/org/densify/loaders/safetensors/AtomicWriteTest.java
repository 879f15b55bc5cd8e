package org.densify.loaders.safetensors;

import org.densify.loaders.io.AtomicFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class AtomicWriteTest {
    @TempDir
    Path dir;

    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void successLeavesOnlyTheTarget() throws IOException {
        Path target = dir.resolve("model.safetensors");
        new SafetensorsWriter().add("a", new long[]{1}, new float[]{1}).write(target);
        new SafetensorsWriter().add("b", new long[]{1}, new float[]{2}).write(target); // replaces
        assertEquals(List.of("model.safetensors"), listing());
        try (SafetensorsFile f = SafetensorsFile.open(target)) {
            assertTrue(f.has("b") && !f.has("a"));
        }
    }

    /** A data source that fails after megabytes were written: the old file must survive whole. */
    @Test
    void failureMidwayKeepsTheOldFileAndLeavesNoTemporary() throws IOException {
        Path target = dir.resolve("model.safetensors");
        new SafetensorsWriter().add("old", new long[]{2}, new float[]{1, 2}).write(target);
        byte[] before = Files.readAllBytes(target);

        MemorySegment doomed;
        try (Arena arena = Arena.ofConfined()) {
            doomed = arena.allocate(16);
        } // closed: reading it at write time throws IllegalStateException
        SafetensorsWriter w = new SafetensorsWriter()
                .add("a_big", new long[]{1 << 20}, new float[1 << 20]) // 4 MiB, written before the failure
                .addFloats("b_doomed", new long[]{4}, doomed);
        assertThrows(IllegalStateException.class, () -> w.write(target));

        assertArrayEquals(before, Files.readAllBytes(target));
        assertEquals(List.of("model.safetensors"), listing());
    }

    @Test
    void failureWithoutAnOldFileLeavesNothing() throws IOException {
        Path target = dir.resolve("new.bin");
        assertThrows(IOException.class, () -> AtomicFiles.write(target, ch -> {
            ch.write(java.nio.ByteBuffer.wrap(new byte[100]));
            throw new IOException("disk full (simulated)");
        }));
        assertEquals(List.of(), listing());
    }

    @Test
    void replacingKeepsThePermissionsOfTheOldFile() throws IOException {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"), "POSIX permissions");
        Path target = dir.resolve("config.json");
        AtomicFiles.write(target, "{}".getBytes());
        Set<PosixFilePermission> restricted = PosixFilePermissions.fromString("rw-r-----");
        Files.setPosixFilePermissions(target, restricted);
        AtomicFiles.write(target, "{\"a\": 1}".getBytes());
        assertEquals("{\"a\": 1}", Files.readString(target));
        assertEquals(restricted, Files.getPosixFilePermissions(target));
        Set<PosixFilePermission> open = PosixFilePermissions.fromString("rwxrwxr-x");
        Files.setPosixFilePermissions(target, open);
        new SafetensorsWriter().add("a", new long[]{1}, new float[]{1}).write(target);
        assertEquals(open, Files.getPosixFilePermissions(target));
        assertEquals(List.of("config.json"), listing());
    }

    /** Documented behaviour: the link is replaced by a regular file; the file it pointed to is untouched. */
    @Test
    void aSymbolicLinkIsReplacedNotFollowed() throws IOException {
        Path real = Files.writeString(dir.resolve("real.json"), "old");
        Path link;
        try {
            link = Files.createSymbolicLink(dir.resolve("link.json"), real.getFileName());
        } catch (UnsupportedOperationException | IOException e) {
            assumeTrue(false, "symbolic links: " + e);
            return;
        }
        AtomicFiles.write(link, "new".getBytes());
        assertFalse(Files.isSymbolicLink(link));
        assertEquals("new", Files.readString(link));
        assertEquals("old", Files.readString(real));
    }

    @Test
    void writesBytesAtomically() throws IOException {
        Path target = dir.resolve("config.json");
        AtomicFiles.write(target, "{}".getBytes());
        assertEquals("{}", Files.readString(target));
        assertEquals(List.of("config.json"), listing());
    }
}
