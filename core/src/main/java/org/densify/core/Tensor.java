package org.densify.core;

/**
 * A run of {@code length} floats in one backend's memory. Tensors carry no shape: the shapes live
 * in the comments of the code that lays a block out (as llm.c does), and every operation is told
 * its dimensions. A slice shares memory with the tensor it was cut from.
 */
public abstract class Tensor {
    private final long length;

    protected Tensor(long length) {
        if (length < 0) throw new IllegalArgumentException("negative tensor length " + length);
        this.length = length;
    }

    /** Number of floats. */
    public final long length() {
        return length;
    }

    /** The floats {@code [offset, offset + length)} of this tensor, sharing its memory. */
    public abstract Tensor slice(long offset, long length);

    protected final void checkSlice(long offset, long sliceLength) {
        if (offset < 0 || sliceLength < 0 || offset > length - sliceLength) {
            throw new IndexOutOfBoundsException(
                    "slice [" + offset + ", " + offset + " + " + sliceLength + ") of a tensor of " + length + " floats");
        }
    }
}
