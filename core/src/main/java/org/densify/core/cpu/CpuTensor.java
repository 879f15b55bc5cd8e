package org.densify.core.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.densify.core.Tensor;

/** A tensor in host memory: a native-order float segment, off-heap. */
public final class CpuTensor extends Tensor {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private final MemorySegment segment;
    /** Non-null only for a tensor that owns its memory (allocated, not sliced). */
    final Arena arena;

    CpuTensor(MemorySegment segment, Arena arena) {
        super(segment.byteSize() / Float.BYTES);
        this.segment = segment;
        this.arena = arena;
    }

    /** Wraps memory the caller owns (a mapped file, a test's array in a segment). */
    public static CpuTensor wrap(MemorySegment segment) {
        if (segment.byteSize() % Float.BYTES != 0) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is not a whole number of floats");
        }
        return new CpuTensor(segment, null);
    }

    /** The tensor's bytes: {@code length() * 4}, native byte order. */
    public MemorySegment segment() {
        return segment;
    }

    public float get(long i) {
        return segment.getAtIndex(F32, i);
    }

    public void set(long i, float value) {
        segment.setAtIndex(F32, i, value);
    }

    @Override
    public CpuTensor slice(long offset, long length) {
        checkSlice(offset, length);
        return new CpuTensor(segment.asSlice(offset * Float.BYTES, length * Float.BYTES), null);
    }

    /** Cast with a message that says which backend was handed a foreign tensor. */
    static CpuTensor of(Tensor t) {
        if (t instanceof CpuTensor c) return c;
        if (t == null) throw new NullPointerException("tensor is null");
        throw new IllegalArgumentException("a CPU backend was given a " + t.getClass().getSimpleName()
                + "; tensors belong to the backend that allocated them");
    }

    /** {@link #of} for optional arguments. */
    static CpuTensor ofNullable(Tensor t) {
        return t == null ? null : of(t);
    }
}
