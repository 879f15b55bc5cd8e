package org.densify.core.model;

import java.util.function.Function;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * One backend allocation handed out as slices, each 16-float aligned: the activations of a pass, or
 * their gradients. A layout is written once, as the sequence of {@link Slices#take} calls that
 * builds its record of named slices; {@link #layOut} runs it twice, first to count the floats and
 * then to hand out the slices, so the size can never disagree with the slices (llm.c keeps a table
 * of sizes beside its pointer assignments for the same reason). The allocation only grows, so a
 * steady loop of same-sized passes allocates once.
 */
public final class TensorArena implements AutoCloseable {
    private final Backend backend;
    private final String what;
    private Tensor memory;
    private long capacity;

    /** Where a layout takes its slices from. */
    @FunctionalInterface
    public interface Slices {
        /** The next {@code length} floats; {@code null} while {@link #layOut} only counts. */
        Tensor take(long length);
    }

    /** @param what names the contents in errors (e.g. "activations") */
    public TensorArena(Backend backend, String what) {
        this.backend = backend;
        this.what = what;
    }

    /**
     * Runs {@code layout} against a counter, grows the allocation to the count, and runs it again
     * against the allocation; returns the second result. The layout must take the same lengths both
     * times and must not read the slices it takes.
     */
    public <T> T layOut(Function<Slices, T> layout) {
        long[] total = {0};
        layout.apply(length -> {
            total[0] = Math.addExact(total[0], align(length));
            return null;
        });
        reserve(total[0]);
        long[] cursor = {0};
        return layout.apply(length -> {
            if (cursor[0] + length > capacity) throw new IllegalStateException(what + ": the layout took more than it counted");
            Tensor t = memory.slice(cursor[0], length);
            cursor[0] += align(length);
            return t;
        });
    }

    private void reserve(long floats) {
        long size = Math.max(floats, 16);
        if (memory != null && size <= capacity) return;
        if (memory != null) backend.free(memory);
        memory = null;
        try {
            memory = backend.allocate(size);
        } catch (OutOfMemoryError e) {
            throw new OutOfMemoryError(what + ": cannot allocate " + floats + " floats (" + (floats * 4 >> 20) + " MiB) on "
                    + backend.name() + ": " + e.getMessage());
        }
        capacity = size;
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
