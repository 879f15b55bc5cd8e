package org.densify.kernels;

import java.lang.foreign.MemorySegment;

/**
 * What {@link CudaBackend} needs from a GPU: memory, copies, kernel launches by name, and a
 * column-major sgemm. {@link JCudaDevice} is the real one (JCuda's driver API + cuBLAS); the tests
 * also run the backend on a CPU emulator of the same kernels. Addresses are raw device addresses;
 * everything runs in order on one stream, so an operation sees the results of every earlier one.
 */
interface Device extends AutoCloseable {

    /** The device in words, for logs and messages: "NVIDIA H100 80GB HBM3 (device 0, CUDA driver 13.0)". */
    String description();

    /** {@code bytes} of device memory (contents undefined). An out-of-memory error names the sizes involved. */
    long allocate(long bytes);

    /** Frees memory from {@link #allocate}, after the work queued so far is done. */
    void free(long address);

    /** Copies {@code src.byteSize()} bytes from the host (a native or an array-backed segment) to {@code dst}. */
    void copyToDevice(long dst, MemorySegment src);

    /** Copies {@code dst.byteSize()} bytes from {@code src} to the host; returns once they are there. */
    void copyToHost(MemorySegment dst, long src);

    void copyOnDevice(long dst, long src, long bytes);

    void zero(long dst, long bytes);

    /**
     * Launches {@code kernel} (an {@code extern "C"} name from the packaged PTX) with {@code args}
     * in its parameter order: {@link Address} for a pointer, {@link Integer} for int, {@link Long}
     * for long long, {@link Float} for float.
     */
    void launch(String kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                Object... args);

    /** cuBLAS's {@code cublasSgemm} (column-major), on the same stream. */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b, int ldb, float beta,
               long c, int ldc);

    /** Waits for all queued work. */
    void synchronize();

    /** {free, total} bytes of device memory. */
    long[] memoryInfo();

    @Override
    void close();

    /** A pointer kernel argument (0 for an absent optional buffer). */
    record Address(long value) {
        static final Address NULL = new Address(0);
    }
}
