package org.densify.ffm.cublas;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Cublas} against a fake libcublas compiled here with gcc (test resource {@code fake_cublas.c}):
 * the same symbols and argument lists, GEMMs computed on host memory, so the numbers, the
 * argument order of every downcall and the status mapping are all checked without a GPU.
 */
@SuppressWarnings("restricted") // binds the fake's inspection functions
class CublasTest {
    @TempDir
    static Path dir;

    static Path fake;
    static Arena controlArena;
    static MethodHandle liveHandles, calls, failNext, mathMode, stream;

    @BeforeAll
    static void compileFake() throws Exception {
        fake = compile("libfakecublas.so");
        controlArena = Arena.ofShared();
        // The same dlopen handle as Cublas's (same path), so these read the state Cublas changes.
        SymbolLookup lib = SymbolLookup.libraryLookup(fake, controlArena);
        Linker linker = Linker.nativeLinker();
        liveHandles = linker.downcallHandle(lib.find("fake_cublas_live_handles").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
        calls = linker.downcallHandle(lib.find("fake_cublas_calls").orElseThrow(), FunctionDescriptor.of(JAVA_LONG));
        failNext = linker.downcallHandle(lib.find("fake_cublas_fail_next").orElseThrow(), FunctionDescriptor.ofVoid(JAVA_INT));
        mathMode = linker.downcallHandle(lib.find("fake_cublas_math_mode").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        stream = linker.downcallHandle(lib.find("fake_cublas_stream").orElseThrow(), FunctionDescriptor.of(ADDRESS, ADDRESS));
    }

    @AfterAll
    static void unload() {
        if (controlArena != null) controlArena.close();
    }

    /** Compiles fake_cublas.c into {@code dir/name}; skips the test class when gcc is absent. */
    static Path compile(String name, String... defines) throws IOException, InterruptedException {
        Path source = dir.resolve("fake_cublas.c");
        if (!Files.exists(source)) {
            try (InputStream in = CublasTest.class.getResourceAsStream("fake_cublas.c")) {
                assertTrue(in != null, "test resource fake_cublas.c is missing");
                Files.copy(in, source);
            }
        }
        Path out = dir.resolve(name);
        List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O1", "-o", out.toString()));
        cmd.addAll(List.of(defines));
        cmd.add(source.toString());
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "gcc is not installed: the fake libcublas cannot be built (" + e.getMessage() + ")");
            throw e;
        }
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gcc did not finish");
        assertEquals(0, p.exitValue(), "gcc failed: " + log);
        return out;
    }

    static int live() throws Throwable {
        return (int) liveHandles.invokeExact();
    }

    static long callCount() throws Throwable {
        return (long) calls.invokeExact();
    }

    // ---- numbers -----------------------------------------------------------------------------

    /** Column-major reference: alpha op(A) op(B) + beta C, in double. */
    static float[] reference(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb,
                             float beta, float[] c, int ldc) {
        float[] out = c.clone();
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    double x = ta ? a[p + i * lda] : a[i + p * lda];
                    double y = tb ? b[j + p * ldb] : b[p + j * ldb];
                    sum += x * y;
                }
                out[i + j * ldc] = (float) (alpha * sum + beta * (double) c[i + j * ldc]);
            }
        }
        return out;
    }

    static float[] random(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextDouble() * 2 - 1);
        return x;
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5f * Math.max(1f, Math.abs(expected[i])), what + " at " + i);
        }
    }

    @Test
    void sgemmMatchesTheReferenceForEveryTransposeCombination() throws Throwable {
        int m = 5, n = 7, k = 3;
        SplittableRandom r = new SplittableRandom(11);
        try (Cublas cublas = Cublas.load(fake); Arena arena = Arena.ofConfined()) {
            long h = cublas.createHandle();
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    // leading dimensions with padding rows, so lda/ldb/ldc are really used
                    int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 3;
                    float[] a = random(r, lda * (ta ? m : k)), b = random(r, ldb * (tb ? k : n)), c = random(r, ldc * n);
                    float[] expected = reference(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, -0.5f, c, ldc);
                    MemorySegment A = arena.allocateFrom(JAVA_FLOAT, a), B = arena.allocateFrom(JAVA_FLOAT, b),
                            C = arena.allocateFrom(JAVA_FLOAT, c);
                    cublas.sgemm(h, ta, tb, m, n, k, 1.5f, A.address(), lda, B.address(), ldb, -0.5f, C.address(), ldc);
                    float[] actual = C.toArray(JAVA_FLOAT);
                    assertClose(expected, actual, "transA " + ta + " transB " + tb);
                    for (int j = 0; j < n; j++) {
                        for (int i = m; i < ldc; i++) assertEquals(c[i + j * ldc], actual[i + j * ldc], "padding row " + i + " was written");
                    }
                }
            }
            cublas.destroyHandle(h);
        }
    }

    @Test
    void rowMajorProductThroughSwappedOperands() {
        // Row-major C [2, 3] = A [2, 4] B [4, 3] is column-major C^T = B^T A^T: sgemm(n, m, k, B, A).
        float[] a = {1, 2, 3, 4, 5, 6, 7, 8}, b = {1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 0, 1};
        float[] expected = {1 + 9, 2, 2 + 3 + 4, 5 + 21, 6, 10 + 7 + 8};
        try (Cublas cublas = Cublas.load(fake); Arena arena = Arena.ofConfined()) {
            long h = cublas.createHandle();
            MemorySegment A = arena.allocateFrom(JAVA_FLOAT, a), B = arena.allocateFrom(JAVA_FLOAT, b), C = arena.allocate(JAVA_FLOAT, 6);
            cublas.sgemm(h, false, false, 3, 2, 4, 1f, B.address(), 3, A.address(), 4, 0f, C.address(), 3);
            assertClose(expected, C.toArray(JAVA_FLOAT), "row-major C");
        }
    }

    @Test
    void stridedBatchedRunsEveryBatchAndHonoursZeroStride() {
        // A [m, k] shared by every batch (stride 0); B stored transposed [n, k]; gaps between batches
        int m = 4, n = 3, k = 5, batches = 3, lda = m, ldb = n + 1, ldc = m;
        long strideB = (long) ldb * k + 2, strideC = (long) ldc * n + 1;
        SplittableRandom r = new SplittableRandom(5);
        float[] a = random(r, lda * k), b = random(r, (int) strideB * batches), c = random(r, (int) strideC * batches);
        try (Cublas cublas = Cublas.load(fake); Arena arena = Arena.ofConfined()) {
            long h = cublas.createHandle();
            MemorySegment A = arena.allocateFrom(JAVA_FLOAT, a), B = arena.allocateFrom(JAVA_FLOAT, b), C = arena.allocateFrom(JAVA_FLOAT, c);
            cublas.sgemmStridedBatched(h, false, true, m, n, k, 2f, A.address(), lda, 0, B.address(), ldb, strideB, 1f,
                    C.address(), ldc, strideC, batches);
            float[] actual = C.toArray(JAVA_FLOAT);
            for (int i = 0; i < batches; i++) {
                int bAt = (int) (i * strideB), cAt = (int) (i * strideC);
                float[] expected = reference(false, true, m, n, k, 2f, a, lda, Arrays.copyOfRange(b, bAt, bAt + ldb * k), ldb,
                        1f, Arrays.copyOfRange(c, cAt, cAt + ldc * n), ldc);
                assertClose(expected, Arrays.copyOfRange(actual, cAt, cAt + ldc * n), "batch " + i);
                assertEquals(c[cAt + ldc * n], actual[cAt + ldc * n], "the gap after batch " + i + " was written");
            }
        }
    }

    // ---- handles, modes, errors --------------------------------------------------------------

    @Test
    void mathModeAndStreamReachTheHandle() throws Throwable {
        try (Cublas cublas = Cublas.load(fake)) {
            long h = cublas.createHandle();
            MemorySegment handle = MemorySegment.ofAddress(h);
            cublas.setTf32(h, true);
            assertEquals(3, (int) mathMode.invokeExact(handle), "CUBLAS_TF32_TENSOR_OP_MATH");
            cublas.setTf32(h, false);
            assertEquals(0, (int) mathMode.invokeExact(handle), "CUBLAS_DEFAULT_MATH");
            cublas.setStream(h, 0x7f00_1234_5000L);
            assertEquals(0x7f00_1234_5000L, ((MemorySegment) stream.invokeExact(handle)).address());
            cublas.destroyHandle(h);
        }
    }

    @Test
    void aFailingStatusBecomesAnExceptionNamingCallAndStatus() throws Throwable {
        try (Cublas cublas = Cublas.load(fake); Arena arena = Arena.ofConfined()) {
            long h = cublas.createHandle();
            MemorySegment x = arena.allocate(JAVA_FLOAT, 4);
            failNext.invokeExact(13);
            CublasException e = assertThrows(CublasException.class,
                    () -> cublas.sgemm(h, false, false, 2, 2, 1, 1f, x.address(), 2, x.address(), 1, 0f, x.address(), 2));
            assertEquals("cublasSgemm_v2", e.call());
            assertEquals(13, e.status());
            assertTrue(e.getMessage().startsWith("cublasSgemm_v2 failed: CUBLAS_STATUS_EXECUTION_FAILED (13)"), e.getMessage());

            failNext.invokeExact(3);
            e = assertThrows(CublasException.class, cublas::createHandle);
            assertTrue(e.getMessage().startsWith("cublasCreate_v2 failed: CUBLAS_STATUS_ALLOC_FAILED (3)"), e.getMessage());

            failNext.invokeExact(99);
            e = assertThrows(CublasException.class, () -> cublas.setTf32(h, true));
            assertEquals("cublasSetMathMode failed: unknown cublasStatus_t (99)", e.getMessage());

            failNext.invokeExact(7);
            e = assertThrows(CublasException.class, () -> cublas.sgemmStridedBatched(h, false, false, 1, 1, 1, 1f,
                    x.address(), 1, 1, x.address(), 1, 1, 0f, x.address(), 1, 1, 2));
            assertEquals("cublasSgemmStridedBatched failed: CUBLAS_STATUS_INVALID_VALUE (7)", e.getMessage());
            cublas.sgemm(h, false, false, 2, 2, 1, 1f, x.address(), 2, x.address(), 1, 0f, x.address(), 2); // recovered
        }
    }

    @Test
    void badArgumentsAreRejectedBeforeTheCall() throws Throwable {
        try (Cublas cublas = Cublas.load(fake); Arena arena = Arena.ofConfined()) {
            long h = cublas.createHandle();
            long x = arena.allocate(JAVA_FLOAT, 64).address();
            long before = callCount();
            assertThrows(IllegalArgumentException.class, () -> cublas.sgemm(h, false, false, -1, 2, 2, 1f, x, 1, x, 2, 0f, x, 1));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cublas.sgemm(h, true, false, 4, 2, 3, 1f, x, 2, x, 3, 0f, x, 4));
            assertTrue(e.getMessage().contains("lda 2 < max(1, k = 3)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> cublas.sgemm(h, false, true, 4, 5, 3, 1f, x, 4, x, 3, 0f, x, 4));
            assertTrue(e.getMessage().contains("ldb 3 < max(1, n = 5)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> cublas.sgemm(h, false, false, 4, 5, 3, 1f, x, 4, x, 3, 0f, x, 3));
            assertTrue(e.getMessage().contains("ldc 3 < max(1, m = 4)"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> cublas.sgemm(h, false, false, 0, 0, 0, 1f, x, 0, x, 1, 0f, x, 1));
            e = assertThrows(IllegalArgumentException.class, () -> cublas.sgemm(h, false, false, 2, 2, 2, 1f, 0, 2, x, 2, 0f, x, 2));
            assertTrue(e.getMessage().contains("A is a null pointer"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> cublas.sgemmStridedBatched(h, false, false, 1, 1, 1, 1f,
                    x, 1, 1, x, 1, 1, 0f, x, 1, 1, -1));
            assertThrows(IllegalArgumentException.class, () -> cublas.sgemmStridedBatched(h, false, false, 1, 1, 1, 1f,
                    x, 1, -1, x, 1, 1, 0f, x, 1, 1, 1));
            e = assertThrows(IllegalArgumentException.class, () -> cublas.sgemm(h + 8, false, false, 1, 1, 1, 1f, x, 1, x, 1, 0f, x, 1));
            assertTrue(e.getMessage().contains("is not a live cuBLAS handle"), e.getMessage());
            assertEquals(before, callCount(), "a rejected call reached the library");
            // empty products are legal and reach cuBLAS
            cublas.sgemm(h, false, false, 0, 3, 2, 1f, 0, 1, x, 2, 0f, 0, 1);
            assertEquals(before + 1, callCount());
        }
    }

    @Test
    void handlesAreTrackedAndCloseReleasesTheRest() throws Throwable {
        int baseline = live();
        Cublas cublas = Cublas.load(fake);
        long h1 = cublas.createHandle(), h2 = cublas.createHandle();
        assertEquals(baseline + 2, live());
        cublas.destroyHandle(h1);
        assertEquals(baseline + 1, live());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cublas.destroyHandle(h1));
        assertTrue(e.getMessage().contains("already destroyed"), e.getMessage());
        cublas.close();
        assertEquals(baseline, live(), "close() left a handle alive");
        cublas.close(); // idempotent
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> cublas.setTf32(h2, true));
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
        assertThrows(IllegalStateException.class, cublas::createHandle);
    }

    // ---- loading -----------------------------------------------------------------------------

    @Test
    void aMissingLibraryListsEverythingTried() {
        String missing = dir.resolve("nowhere/libcublas.so.13").toString();
        CublasException e = assertThrows(CublasException.class, () -> Cublas.loadFirst(List.of(
                new String[] {"-Ddensify.cublas", missing},
                new String[] {"DENSIFY_CUBLAS", dir.toString()},
                new String[] {"dynamic linker search", "libdensify-no-such-cublas.so.99"})));
        String msg = e.getMessage();
        assertTrue(msg.contains(missing + " (-Ddensify.cublas): no such file"), msg);
        assertTrue(msg.contains(dir + " (DENSIFY_CUBLAS): is a directory"), msg);
        assertTrue(msg.contains("libdensify-no-such-cublas.so.99 (dynamic linker search): dlopen failed: "), msg);
        assertTrue(msg.contains("libdensify-no-such-cublas.so.99: cannot open shared object file"), msg); // dlerror's words
        assertTrue(msg.contains("-Ddensify.cublas=/path/to/libcublas.so.N"), msg);
        assertEquals(-1, e.status());
    }

    @Test
    void loadTriesThePropertyThenEverySoname() {
        String missing = dir.resolve("absent/libcublas.so").toString();
        String old = System.setProperty(Cublas.PROPERTY, missing);
        try (Cublas cublas = Cublas.load()) {
            // a machine with a real cuBLAS on its search path: it must be one of the sonames
            assertTrue(Cublas.SONAMES.contains(cublas.source()) || cublas.source().equals(System.getenv(Cublas.ENV)), cublas.source());
        } catch (CublasException e) {
            String msg = e.getMessage();
            assertTrue(msg.contains(missing + " (-Ddensify.cublas): no such file"), msg);
            for (String soname : Cublas.SONAMES) assertTrue(msg.contains("\n  " + soname + " (dynamic linker search): "), msg);
            assertTrue(msg.indexOf(missing) < msg.indexOf("libcublas.so.13") && msg.indexOf("libcublas.so.13") < msg.indexOf("libcublas.so.12"),
                    "candidates out of order: " + msg);
        } finally {
            if (old == null) System.clearProperty(Cublas.PROPERTY);
            else System.setProperty(Cublas.PROPERTY, old);
        }
    }

    @Test
    void aFileThatIsNotALibraryGivesTheLinkersReason() throws IOException {
        Path text = Files.writeString(dir.resolve("libcublas.so.13"), "not an ELF file\n");
        CublasException e = assertThrows(CublasException.class, () -> Cublas.load(text));
        assertTrue(e.getMessage().startsWith("cuBLAS could not be loaded from " + text + ": dlopen failed: "), e.getMessage());
        assertTrue(e.getMessage().contains("file too short"), e.getMessage()); // dlerror's words
        Path absent = dir.resolve("absent.so");
        e = assertThrows(CublasException.class, () -> Cublas.load(absent));
        assertEquals("cuBLAS could not be loaded from " + absent + ": no such file", e.getMessage());
    }

    @Test
    void aLibraryWithoutEverySymbolIsRefusedByName() throws Exception {
        Path partial = compile("libpartialcublas.so", "-DFAKE_OMIT_STRIDED");
        CublasException e = assertThrows(CublasException.class, () -> Cublas.load(partial));
        assertEquals("cuBLAS could not be loaded from " + partial
                + ": loads, but has no symbol cublasSgemmStridedBatched: not a cuBLAS library of CUDA 11 or later", e.getMessage());
        assertFalse(e.getMessage().contains("null"));
    }
}
