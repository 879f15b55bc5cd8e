package org.densify.ffm.cublas;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Cublas} on a real GPU with the real libcublas: device buffers come from the CUDA runtime
 * ({@code libcudart}, bound here the same way; {@code -Ddensify.cudart=PATH} or {@code DENSIFY_CUDART}
 * name the file, else {@code libcudart.so.13 / .12 / .so}). Skipped, with the reason, where either
 * library or a device is missing.
 */
@SuppressWarnings("restricted") // binds libcudart for device buffers
class CublasGpuTest {
    static Cublas cublas;
    static Cudart cudart;
    static long handle;
    static String unavailable;

    @BeforeAll
    static void probe() {
        try {
            cublas = Cublas.load();
        } catch (CublasException e) {
            unavailable = "no cuBLAS here: " + e.getMessage().replace("\n", " ");
            return;
        }
        try {
            cudart = Cudart.load();
            int devices = cudart.deviceCount();
            if (devices < 1) unavailable = "no CUDA device (cudaGetDeviceCount: " + devices + ")";
            else handle = cublas.createHandle();
        } catch (IllegalStateException e) {
            unavailable = e.getMessage();
        }
    }

    @AfterAll
    static void release() {
        if (cublas != null) cublas.close();
        if (cudart != null) cudart.close();
    }

    @BeforeEach
    void needsGpu() {
        assumeTrue(unavailable == null, () -> "skipped: " + unavailable);
    }

    // ---- the tests ---------------------------------------------------------------------------

    @Test
    void sgemmOnTheDeviceMatchesTheReferenceForEveryTransposeCombination() {
        int m = 67, n = 45, k = 129;
        SplittableRandom r = new SplittableRandom(3);
        cublas.setTf32(handle, false);
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldc = m + 2;
                float[] a = CublasTest.random(r, lda * (ta ? m : k)), b = CublasTest.random(r, ldb * (tb ? k : n)),
                        c = CublasTest.random(r, ldc * n);
                float[] expected = CublasTest.reference(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.25f, c, ldc);
                long A = cudart.upload(a), B = cudart.upload(b), C = cudart.upload(c);
                cublas.sgemm(handle, ta, tb, m, n, k, 0.75f, A, lda, B, ldb, 0.25f, C, ldc);
                float[] actual = cudart.download(C, c.length);
                cudart.free(A, B, C);
                double err = relativeError(expected, actual);
                assertTrue(err < 1e-5, "transA " + ta + " transB " + tb + ": relative L2 error " + err);
            }
        }
    }

    @Test
    void tf32IsCloseButFp32IsExact() {
        int m = 256, n = 192, k = 1024;
        SplittableRandom r = new SplittableRandom(4);
        float[] a = CublasTest.random(r, m * k), b = CublasTest.random(r, k * n), c = new float[m * n];
        float[] expected = CublasTest.reference(false, false, m, n, k, 1f, a, m, b, k, 0f, c, m);
        long A = cudart.upload(a), B = cudart.upload(b), C = cudart.upload(c);
        try {
            cublas.setTf32(handle, true);
            cublas.sgemm(handle, false, false, m, n, k, 1f, A, m, B, k, 0f, C, m);
            double tf32 = relativeError(expected, cudart.download(C, c.length));
            cublas.setTf32(handle, false);
            cublas.sgemm(handle, false, false, m, n, k, 1f, A, m, B, k, 0f, C, m);
            double fp32 = relativeError(expected, cudart.download(C, c.length));
            assertTrue(fp32 < 1e-5, "fp32 relative L2 error " + fp32);
            assertTrue(tf32 < 5e-3, "tf32 relative L2 error " + tf32);
        } finally {
            cublas.setTf32(handle, false);
            cudart.free(A, B, C);
        }
    }

    @Test
    void stridedBatchedOnAStream() {
        int m = 33, n = 17, k = 40, batches = 5;
        SplittableRandom r = new SplittableRandom(6);
        float[] a = CublasTest.random(r, m * k), b = CublasTest.random(r, k * n * batches), c = new float[m * n * batches];
        long A = cudart.upload(a), B = cudart.upload(b), C = cudart.upload(c);
        long stream = cudart.createStream();
        try {
            cublas.setStream(handle, stream);
            cublas.sgemmStridedBatched(handle, false, false, m, n, k, 1f, A, m, 0, B, k, (long) k * n, 0f, C, m, (long) m * n, batches);
            cudart.synchronize(stream);
            float[] actual = cudart.download(C, c.length);
            for (int i = 0; i < batches; i++) {
                float[] bi = Arrays.copyOfRange(b, i * k * n, (i + 1) * k * n);
                float[] expected = CublasTest.reference(false, false, m, n, k, 1f, a, m, bi, k, 0f, new float[m * n], m);
                double err = relativeError(expected, Arrays.copyOfRange(actual, i * m * n, (i + 1) * m * n));
                assertTrue(err < 1e-5, "batch " + i + ": relative L2 error " + err);
            }
        } finally {
            cublas.setStream(handle, 0);
            cudart.destroyStream(stream);
            cudart.free(A, B, C);
        }
    }

    static double relativeError(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double num = 0, den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            num += d * d;
            den += (double) expected[i] * expected[i];
        }
        double err = Math.sqrt(num / den);
        return Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
    }

    /** The few CUDA runtime calls the test needs, on the current device's primary context (as cuBLAS). */
    static final class Cudart implements AutoCloseable {
        private static final int H2D = 1, D2H = 2;
        private final Arena arena = Arena.ofShared();
        private final MethodHandle getDeviceCount, malloc, free, memcpy, streamCreate, streamDestroy, streamSynchronize, errorString;

        private Cudart(String target) {
            SymbolLookup lib;
            try {
                lib = target.contains("/") ? SymbolLookup.libraryLookup(Path.of(target), arena)
                        : SymbolLookup.libraryLookup(target, arena);
            } catch (IllegalArgumentException e) {
                arena.close();
                throw new IllegalStateException(target + ": " + DynamicLinker.whyNotLoaded(target));
            }
            Linker linker = Linker.nativeLinker();
            getDeviceCount = bind(linker, lib, "cudaGetDeviceCount", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            malloc = bind(linker, lib, "cudaMalloc", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
            free = bind(linker, lib, "cudaFree", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            memcpy = bind(linker, lib, "cudaMemcpy", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
            streamCreate = bind(linker, lib, "cudaStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            streamDestroy = bind(linker, lib, "cudaStreamDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            streamSynchronize = bind(linker, lib, "cudaStreamSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            errorString = bind(linker, lib, "cudaGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        }

        private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
            return linker.downcallHandle(lib.find(name).orElseThrow(() -> new IllegalStateException("libcudart lacks " + name)), fd);
        }

        static Cudart load() {
            List<String> candidates = new ArrayList<>();
            String property = System.getProperty("densify.cudart"), env = System.getenv("DENSIFY_CUDART");
            if (property != null && !property.isBlank()) candidates.add(property);
            if (env != null && !env.isBlank()) candidates.add(env);
            candidates.addAll(List.of("libcudart.so.13", "libcudart.so.12", "libcudart.so"));
            List<String> tried = new ArrayList<>();
            for (String c : candidates) {
                try {
                    return new Cudart(c);
                } catch (IllegalStateException e) {
                    tried.add(e.getMessage());
                }
            }
            throw new IllegalStateException("no CUDA runtime (libcudart) for device buffers; tried " + tried);
        }

        int deviceCount() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(JAVA_INT);
                int status = (int) getDeviceCount.invokeExact(out);
                return status == 0 ? out.get(JAVA_INT, 0) : -status; // e.g. -100: cudaErrorNoDevice
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        private void check(String call, int status) throws Throwable {
            if (status != 0) {
                MemorySegment s = (MemorySegment) errorString.invokeExact(status);
                throw new IllegalStateException(call + " failed: " + s.reinterpret(4096).getString(0) + " (" + status + ")");
            }
        }

        long upload(float[] host) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ADDRESS), src = a.allocateFrom(JAVA_FLOAT, host);
                check("cudaMalloc", (int) malloc.invokeExact(out, src.byteSize()));
                MemorySegment device = out.get(ADDRESS, 0);
                check("cudaMemcpy", (int) memcpy.invokeExact(device, src, src.byteSize(), H2D));
                return device.address();
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        float[] download(long device, int count) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment dst = a.allocate(JAVA_FLOAT, count);
                check("cudaMemcpy", (int) memcpy.invokeExact(dst, MemorySegment.ofAddress(device), dst.byteSize(), D2H));
                return dst.toArray(JAVA_FLOAT);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        void free(long... devices) {
            try {
                for (long d : devices) check("cudaFree", (int) free.invokeExact(MemorySegment.ofAddress(d)));
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        long createStream() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ADDRESS);
                check("cudaStreamCreate", (int) streamCreate.invokeExact(out));
                return out.get(ADDRESS, 0).address();
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        void synchronize(long stream) {
            try {
                check("cudaStreamSynchronize", (int) streamSynchronize.invokeExact(MemorySegment.ofAddress(stream)));
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        void destroyStream(long stream) {
            try {
                check("cudaStreamDestroy", (int) streamDestroy.invokeExact(MemorySegment.ofAddress(stream)));
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        @Override
        public void close() {
            arena.close();
        }
    }
}
