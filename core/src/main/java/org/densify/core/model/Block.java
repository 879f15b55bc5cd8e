package org.densify.core.model;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * One backend allocation that is handed out as named slices, each 16-float aligned. The block only
 * grows: {@link #reserve} reallocates when a layout needs more than it holds, so a steady loop of
 * same-sized passes allocates once.
 */
public final class Block implements AutoCloseable {
    private final Backend backend;
    private final String what;
    private Tensor memory;
    private long capacity;
    private long cursor;

    public Block(Backend backend, String what) {
        this.backend = backend;
        this.what = what;
    }

    /** Starts a new layout of at most {@code floats} floats (alignment padding included). */
    public void reserve(long floats) {
        if (memory == null || floats > capacity) {
            if (memory != null) backend.free(memory);
            memory = null;
            try {
                memory = backend.allocate(Math.max(floats, 16));
            } catch (OutOfMemoryError e) {
                throw new OutOfMemoryError(what + ": cannot allocate " + floats + " floats (" + (floats * 4 >> 20) + " MiB) on "
                        + backend.name() + ": " + e.getMessage());
            }
            capacity = Math.max(floats, 16);
        }
        cursor = 0;
    }

    /** The next {@code length} floats of the current layout. */
    public Tensor take(long length) {
        if (cursor + length > capacity) throw new IllegalStateException(what + ": layout overran its reservation");
        Tensor t = memory.slice(cursor, length);
        cursor += align(length);
        return t;
    }

    /** {@code length} rounded up to whole 16-float slots. */
    public static long align(long length) {
        return (length + 15) & ~15L;
    }

    @Override
    public void close() {
        if (memory != null) backend.free(memory);
        memory = null;
    }
}
