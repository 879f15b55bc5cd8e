package org.densify.loaders.safetensors;

import java.util.Arrays;

/**
 * One header entry: the tensor's name, dtype, shape and its byte range {@code [begin, end)} relative
 * to the start of its file's data region (the byte after the header).
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    /** A copy: callers cannot change the shape of a parsed file. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Product of the dimensions (1 for a 0-d tensor); validated not to overflow when parsed. */
    public long numElements() {
        return elementCount(shape);
    }

    /**
     * The number of elements of a tensor of {@code shape}: the product of its dimensions, 1 for a
     * 0-d tensor. The one place this product is computed.
     *
     * @throws IllegalArgumentException if a dimension is negative
     * @throws ArithmeticException      if the product overflows a {@code long}
     */
    public static long elementCount(long... shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + shapeString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public long byteSize() {
        return end - begin;
    }

    public boolean hasShape(long... expected) {
        return Arrays.equals(shape, expected);
    }

    /** {@code [3, 4]}. */
    public static String shapeString(long[] shape) {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + shapeString(shape) + " [" + begin + ", " + end + ")";
    }
}
