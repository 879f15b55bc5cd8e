package org.densify.ffm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class MappedFileTest {
    @TempDir
    Path dir;

    @Test
    void mapsBytesReadOnly() throws IOException {
        Path p = Files.write(dir.resolve("a.bin"), new byte[]{1, 2, 3, 4, 5});
        try (MappedFile f = MappedFile.open(p)) {
            assertEquals(5, f.size());
            assertEquals(p, f.path());
            assertTrue(f.isOpen());
            assertEquals(3, f.segment().get(ValueLayout.JAVA_BYTE, 2));
            assertTrue(f.segment().isReadOnly());
            assertThrows(IllegalArgumentException.class, // FFM reports writes to read-only segments so
                    () -> f.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 9));
        }
    }

    @Test
    void emptyFileGivesEmptySegment() throws IOException {
        Path p = Files.write(dir.resolve("empty.bin"), new byte[0]);
        try (MappedFile f = MappedFile.open(p)) {
            assertEquals(0, f.size());
        }
    }

    @Test
    void accessAfterCloseThrowsInsteadOfCrashing() throws IOException {
        Path p = Files.write(dir.resolve("b.bin"), new byte[64]);
        MappedFile f = MappedFile.open(p);
        MemorySegment slice = f.segment().asSlice(8, 8);
        f.close();
        f.close(); // idempotent
        assertFalse(f.isOpen());
        assertThrows(IllegalStateException.class, () -> slice.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertThrows(IllegalStateException.class, () -> f.segment().get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void missingFileIsAnIOException() {
        assertThrows(NoSuchFileException.class, () -> MappedFile.open(dir.resolve("nope")));
    }
}
