package org.densify.ffm.cublas;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * cuBLAS bound through the FFM API by symbol lookup, so any CUDA major's {@code libcublas} works
 * (no JCublas natives tied to one version; see docs/design.md section 7). Only what the engine needs:
 * handles, stream and math mode, and fp32 GEMM (plain and strided-batched).
 *
 * <p>cuBLAS is column-major: {@code C [m, n] = alpha op(A) [m, k] op(B) [k, n] + beta C}, element
 * (i, j) of a matrix with leading dimension {@code ld} at {@code base + i + j ld}. A row-major
 * {@code [r, c]} matrix is the column-major {@code [c, r]} one, so a row-major product
 * {@code C = A B} is {@code sgemm(n, m, k, B, A, C)}. Matrix arguments are raw device addresses
 * ({@code CUdeviceptr} values); handles and streams are raw {@code cublasHandle_t} /
 * {@code cudaStream_t} values.
 *
 * <p>Arguments are checked before the call (sizes, leading dimensions, null matrices, live
 * handles), so a wrong call gives an {@link IllegalArgumentException} instead of a device fault; a
 * status other than success becomes a {@link CublasException} naming the call and the status.
 *
 * <p>Threads: alpha and beta travel in one host buffer per instance (the handles stay in cuBLAS's
 * default host pointer mode, in which cuBLAS reads them before the call returns), so GEMM calls
 * on one instance are serialised on it; cuBLAS itself wants one handle per thread.
 *
 * <p>Binding a native library is a restricted FFM operation: run with
 * {@code --enable-native-access=ALL-UNNAMED} (the project's JVM flags) to keep the JDK quiet.
 */
@SuppressWarnings("restricted") // the point of the class; each downcall's arguments are checked first
public final class Cublas implements AutoCloseable {
    /** System property naming the library file to load first. */
    public static final String PROPERTY = "densify.cublas";
    /** Environment variable naming the library file to load when the property is not set. */
    public static final String ENV = "DENSIFY_CUBLAS";
    /** Names the dynamic linker searches for, newest CUDA first. */
    public static final List<String> SONAMES = List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so");

    private static final int CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3;
    private static final int OP_N = 0, OP_T = 1;

    private final String source;
    private final Arena arena;
    private final MemorySegment alpha, beta;
    private final MethodHandle create, destroy, setStream, setMathMode, sgemm, sgemmStridedBatched;
    /** Handles created here and not yet destroyed: a stale handle would crash the process, not fail. */
    private final Set<Long> liveHandles = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private Cublas(String source, Arena arena, SymbolLookup lookup) {
        this.source = source;
        this.arena = arena;
        Linker linker = Linker.nativeLinker();
        create = bind(linker, lookup, "cublasCreate_v2", ADDRESS);
        destroy = bind(linker, lookup, "cublasDestroy_v2", ADDRESS);
        setStream = bind(linker, lookup, "cublasSetStream_v2", ADDRESS, ADDRESS);
        setMathMode = bind(linker, lookup, "cublasSetMathMode", ADDRESS, JAVA_INT);
        // (handle, transa, transb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc)
        sgemm = bind(linker, lookup, "cublasSgemm_v2", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
        // (... A, lda, long long strideA, B, ldb, strideB, *beta, C, ldc, strideC, batchCount)
        sgemmStridedBatched = bind(linker, lookup, "cublasSgemmStridedBatched", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT,
                JAVA_LONG, JAVA_INT);
        MemorySegment scalars = arena.allocate(JAVA_FLOAT, 2);
        alpha = scalars.asSlice(0, JAVA_FLOAT.byteSize());
        beta = scalars.asSlice(JAVA_FLOAT.byteSize(), JAVA_FLOAT.byteSize());
    }

    private MethodHandle bind(Linker linker, SymbolLookup lookup, String name, MemoryLayout... args) {
        MemorySegment symbol = lookup.find(name).orElseThrow(() -> new CublasException(
                "loads, but has no symbol " + name + ": not a cuBLAS library of CUDA 11 or later"));
        return linker.downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT, args));
    }

    // ---- loading -----------------------------------------------------------------------------

    /**
     * Loads the first cuBLAS that opens, trying in order: the file named by {@code -Ddensify.cublas},
     * the file named by {@code DENSIFY_CUBLAS}, then {@link #SONAMES} through the dynamic linker's
     * search path ({@code LD_LIBRARY_PATH}, ldconfig's cache).
     *
     * @throws CublasException listing every candidate and why it failed
     */
    public static Cublas load() {
        List<String[]> candidates = new ArrayList<>();
        String property = System.getProperty(PROPERTY);
        if (property != null && !property.isBlank()) candidates.add(new String[] {"-D" + PROPERTY, property});
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) candidates.add(new String[] {ENV, env});
        for (String soname : SONAMES) candidates.add(new String[] {"dynamic linker search", soname});
        return loadFirst(candidates);
    }

    /** Loads the cuBLAS library file {@code library}. */
    public static Cublas load(Path library) {
        try {
            return open(library.toString());
        } catch (CublasException e) {
            throw new CublasException("cuBLAS could not be loaded from " + library + ": " + e.getMessage());
        }
    }

    /** Tries {@code candidates} ({origin, file or soname}) in order; the message lists every failure. */
    static Cublas loadFirst(List<String[]> candidates) {
        StringBuilder tried = new StringBuilder();
        for (String[] c : candidates) {
            try {
                return open(c[1]);
            } catch (CublasException e) {
                tried.append("\n  ").append(c[1]).append(" (").append(c[0]).append("): ").append(e.getMessage());
            }
        }
        throw new CublasException("cuBLAS could not be loaded; tried, in order:" + tried
                + "\nInstall the CUDA toolkit's libcublas (or PyTorch's nvidia-cublas wheel) and point -D" + PROPERTY
                + "=/path/to/libcublas.so.N or " + ENV + " at it, or add its folder to LD_LIBRARY_PATH.");
    }

    /** Opens a file path (contains '/') or a soname searched by the dynamic linker; failures say why, not what. */
    private static Cublas open(String target) {
        boolean isPath = target.contains("/");
        if (isPath && !Files.exists(Path.of(target))) throw new CublasException("no such file");
        if (isPath && Files.isDirectory(Path.of(target))) throw new CublasException("is a directory, not the library file");
        Arena arena = Arena.ofShared();
        try {
            SymbolLookup lookup;
            try {
                lookup = isPath ? SymbolLookup.libraryLookup(Path.of(target), arena) : SymbolLookup.libraryLookup(target, arena);
            } catch (IllegalArgumentException e) {
                throw new CublasException("dlopen failed: " + DynamicLinker.whyNotLoaded(target));
            }
            return new Cublas(target, arena, lookup);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** The file or soname this instance was loaded from. */
    public String source() {
        return source;
    }

    // ---- handles -----------------------------------------------------------------------------

    /** {@code cublasCreate_v2}: a handle on the current device (cuBLAS uses the primary context). */
    public long createHandle() {
        checkOpen();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ADDRESS);
            check("cublasCreate_v2", (int) create.invokeExact(out));
            long handle = out.get(ADDRESS, 0).address();
            liveHandles.add(handle);
            return handle;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cublasCreate_v2", t);
        }
    }

    /** {@code cublasDestroy_v2}. Destroy every handle before the CUDA context it was created on. */
    public void destroyHandle(long handle) {
        checkHandle(handle);
        liveHandles.remove(handle);
        call("cublasDestroy_v2", () -> (int) destroy.invokeExact(MemorySegment.ofAddress(handle)));
    }

    /** {@code cublasSetStream_v2}: later calls on {@code handle} queue on {@code cudaStream} (0: the legacy default stream). */
    public void setStream(long handle, long cudaStream) {
        checkHandle(handle);
        call("cublasSetStream_v2", () -> (int) setStream.invokeExact(MemorySegment.ofAddress(handle), MemorySegment.ofAddress(cudaStream)));
    }

    /**
     * {@code cublasSetMathMode}: TF32 tensor cores for fp32 GEMMs ({@code CUBLAS_TF32_TENSOR_OP_MATH},
     * 10-bit mantissa products, fp32 accumulation) or strict fp32 ({@code CUBLAS_DEFAULT_MATH}).
     */
    public void setTf32(long handle, boolean on) {
        checkHandle(handle);
        int mode = on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
        call("cublasSetMathMode", () -> (int) setMathMode.invokeExact(MemorySegment.ofAddress(handle), mode));
    }

    // ---- GEMM --------------------------------------------------------------------------------

    /**
     * {@code cublasSgemm_v2}, column-major: {@code C [m, n] = alpha op(A) [m, k] op(B) [k, n] + beta C}.
     * A is stored {@code [m, k]} ({@code [k, m]} when {@code transA}) with leading dimension
     * {@code lda >= max(1, rows stored)}; likewise B ({@code [k, n]} or {@code [n, k]}) and C ({@code ldc >= max(1, m)}).
     * Asynchronous on the handle's stream.
     */
    public void sgemm(long handle, boolean transA, boolean transB, int m, int n, int k, float alpha, long A, int lda,
                      long B, int ldb, float beta, long C, int ldc) {
        checkHandle(handle);
        checkGemm(transA, transB, m, n, k, A, lda, B, ldb, C, ldc);
        synchronized (this.alpha) {
            this.alpha.set(JAVA_FLOAT, 0, alpha);
            this.beta.set(JAVA_FLOAT, 0, beta);
            call("cublasSgemm_v2", () -> (int) sgemm.invokeExact(MemorySegment.ofAddress(handle), op(transA), op(transB), m, n, k,
                    this.alpha, MemorySegment.ofAddress(A), lda, MemorySegment.ofAddress(B), ldb, this.beta,
                    MemorySegment.ofAddress(C), ldc));
        }
    }

    /**
     * {@code cublasSgemmStridedBatched}: {@link #sgemm} for {@code i < batchCount} on
     * {@code A + i strideA}, {@code B + i strideB}, {@code C + i strideC} (strides in floats, 0 reuses one
     * matrix for every batch).
     */
    public void sgemmStridedBatched(long handle, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                    long A, int lda, long strideA, long B, int ldb, long strideB, float beta,
                                    long C, int ldc, long strideC, int batchCount) {
        checkHandle(handle);
        checkGemm(transA, transB, m, n, k, A, lda, B, ldb, C, ldc);
        if (batchCount < 0) throw new IllegalArgumentException("sgemmStridedBatched: batchCount " + batchCount + " < 0");
        if (strideA < 0 || strideB < 0 || strideC < 0) {
            throw new IllegalArgumentException("sgemmStridedBatched: negative stride (strideA " + strideA + ", strideB "
                    + strideB + ", strideC " + strideC + ")");
        }
        synchronized (this.alpha) {
            this.alpha.set(JAVA_FLOAT, 0, alpha);
            this.beta.set(JAVA_FLOAT, 0, beta);
            call("cublasSgemmStridedBatched", () -> (int) sgemmStridedBatched.invokeExact(MemorySegment.ofAddress(handle),
                    op(transA), op(transB), m, n, k, this.alpha, MemorySegment.ofAddress(A), lda, strideA,
                    MemorySegment.ofAddress(B), ldb, strideB, this.beta, MemorySegment.ofAddress(C), ldc, strideC, batchCount));
        }
    }

    private static int op(boolean trans) {
        return trans ? OP_T : OP_N;
    }

    private static void checkGemm(boolean transA, boolean transB, int m, int n, int k, long A, int lda, long B, int ldb, long C, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("sgemm: negative size m " + m + ", n " + n + ", k " + k);
        checkLd("lda", lda, transA ? k : m, transA ? "k" : "m");
        checkLd("ldb", ldb, transB ? n : k, transB ? "n" : "k");
        checkLd("ldc", ldc, m, "m");
        if (m > 0 && n > 0) {
            if (C == 0) throw new IllegalArgumentException("sgemm: C is a null pointer");
            if (k > 0 && (A == 0 || B == 0)) throw new IllegalArgumentException("sgemm: " + (A == 0 ? "A" : "B") + " is a null pointer");
        }
    }

    private static void checkLd(String name, int ld, int rows, String rowsName) {
        if (ld < Math.max(1, rows)) {
            throw new IllegalArgumentException("sgemm: " + name + " " + ld + " < max(1, " + rowsName + " = " + rows
                    + ") (column-major: the leading dimension is the stored row count)");
        }
    }

    // ---- plumbing ----------------------------------------------------------------------------

    @FunctionalInterface
    private interface NativeCall {
        int invoke() throws Throwable;
    }

    private static void call(String name, NativeCall c) {
        int status;
        try {
            status = c.invoke();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(name, t);
        }
        check(name, status);
    }

    private static void check(String name, int status) {
        if (status != 0) throw new CublasException(name, status);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this Cublas (" + source + ") is closed");
    }

    private void checkHandle(long handle) {
        checkOpen();
        if (!liveHandles.contains(handle)) {
            throw new IllegalArgumentException("0x" + Long.toHexString(handle) + " is not a live cuBLAS handle of this Cublas"
                    + " (never created here, or already destroyed)");
        }
    }

    /**
     * Destroys the handles still live, then unloads the library. Idempotent. Handles must not
     * outlive their CUDA context: destroy them (or close this) before destroying it.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        CublasException first = null;
        for (Long handle : List.copyOf(liveHandles)) {
            try {
                destroyHandle(handle);
            } catch (CublasException e) {
                if (first == null) first = e;
            }
        }
        closed = true;
        arena.close();
        if (first != null) throw first;
    }
}
