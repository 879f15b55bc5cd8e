package org.densify.ffm;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file mapped read-only into memory as one {@link MemorySegment}: no copy, no 2 GB limit. The
 * mapping lives until {@link #close()}; touching the segment (or any slice of it) afterwards throws
 * {@link IllegalStateException} instead of crashing the JVM, because the mapping belongs to a shared
 * {@link Arena} whose closing invalidates every segment derived from it, in every thread.
 */
public final class MappedFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;

    private MappedFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    /** Maps the whole file read-only. An empty file gives an empty segment (still tied to the arena). */
    public static MappedFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            // mmap of length 0 is an error on Linux; a zero-length arena allocation keeps the
            // "closed means IllegalStateException" behaviour without a restricted reinterpret().
            MemorySegment segment = size == 0
                    ? arena.allocate(0)
                    : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            // The channel may be closed now: the mapping stays valid until the arena closes.
            return new MappedFile(path, arena, segment.asReadOnly());
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** The file's bytes (read-only); valid until {@link #close()}. */
    public MemorySegment segment() {
        return segment;
    }

    public long size() {
        return segment.byteSize();
    }

    /** False once {@link #close()} has run. */
    public boolean isOpen() {
        return arena.scope().isAlive();
    }

    /** Unmaps the file. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
