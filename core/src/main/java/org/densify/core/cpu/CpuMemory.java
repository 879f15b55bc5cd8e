package org.densify.core.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.densify.core.Backend;
import org.densify.core.BackendArguments;
import org.densify.core.Tensor;

/**
 * Host memory shared by the CPU backends: the scalar reference and the Vector API backend use the
 * same {@link CpuTensor}s, so a test can run both on the same buffers.
 */
public abstract class CpuMemory implements Backend {

    @Override
    public CpuTensor allocate(long length) {
        if (length < 0) throw new IllegalArgumentException("negative tensor length " + length);
        Arena arena = Arena.ofShared();
        try {
            // 64-byte alignment: whole cache lines, and aligned vector loads at offset 0.
            MemorySegment segment = arena.allocate(Math.max(1, length) * Float.BYTES, 64);
            return new CpuTensor(length == 0 ? segment.asSlice(0, 0) : segment, arena);
        } catch (OutOfMemoryError e) {
            arena.close();
            throw new OutOfMemoryError("cannot allocate " + length + " floats (" + (length * 4 >> 20)
                    + " MiB) of off-heap memory; raise -XX:MaxDirectMemorySize or use a smaller model/batch");
        }
    }

    @Override
    public void free(Tensor tensor) {
        CpuTensor t = CpuTensor.of(tensor);
        if (t.arena == null) throw new IllegalArgumentException("free() takes a tensor from allocate(), not a slice or a wrapped segment");
        t.arena.close();
    }

    @Override
    public void write(Tensor dst, long dstOffset, float[] src) {
        MemorySegment.copy(src, 0, CpuTensor.of(dst).slice(dstOffset, src.length).segment(), ValueLayout.JAVA_FLOAT, 0, src.length);
    }

    @Override
    public void write(Tensor dst, long dstOffset, MemorySegment src) {
        long n = src.byteSize() / Float.BYTES;
        CpuTensor.of(dst).slice(dstOffset, n).segment().copyFrom(src.asSlice(0, n * Float.BYTES));
    }

    @Override
    public void read(Tensor src, long srcOffset, float[] dst) {
        MemorySegment.copy(CpuTensor.of(src).slice(srcOffset, dst.length).segment(), ValueLayout.JAVA_FLOAT, 0, dst, 0, dst.length);
    }

    @Override
    public void zero(Tensor t) {
        CpuTensor.of(t).segment().fill((byte) 0);
    }

    @Override
    public void copy(Tensor dst, Tensor src, long n) {
        CpuTensor.of(dst).slice(0, n).segment().copyFrom(CpuTensor.of(src).slice(0, n).segment());
    }

    @Override
    public void storeKeysValues(Tensor kCache, Tensor vCache, Tensor qkv, int[] past, int[] count, int cacheCapacity, int C) {
        BackendArguments.cache(past, count, cacheCapacity, 3 * C, C);
        MemorySegment k = CpuTensor.of(kCache).segment(), v = CpuTensor.of(vCache).segment(), x = CpuTensor.of(qkv).segment();
        long rowBytes = (long) C * Float.BYTES;
        long row = 0;
        for (int s = 0; s < past.length; s++) {
            for (int i = 0; i < count[s]; i++, row++) {
                long at = ((long) s * cacheCapacity + past[s] + i) * rowBytes;
                MemorySegment.copy(x, (3 * row + 1) * rowBytes, k, at, rowBytes);
                MemorySegment.copy(x, (3 * row + 2) * rowBytes, v, at, rowBytes);
            }
        }
    }

    @Override
    public void storeRows(Tensor cache, Tensor rows, int[] past, int[] count, int cacheCapacity, int width) {
        BackendArguments.cache(past, count, cacheCapacity, width, width);
        MemorySegment c = CpuTensor.of(cache).segment(), x = CpuTensor.of(rows).segment();
        long rowBytes = (long) width * Float.BYTES;
        long row = 0;
        for (int s = 0; s < past.length; s++) {
            for (int i = 0; i < count[s]; i++, row++) {
                MemorySegment.copy(x, row * rowBytes, c, ((long) s * cacheCapacity + past[s] + i) * rowBytes, rowBytes);
            }
        }
    }

    @Override
    public void close() {
        // Tensors are freed by their owners; nothing is pooled here.
    }
}
