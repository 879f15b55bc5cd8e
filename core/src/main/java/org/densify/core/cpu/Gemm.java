package org.densify.core.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision matrix multiply on the Vector API.
 * {@code c[M, N] = (accumulate ? c : 0) + op(a) op(b) (+ bias[N])}, op(a) [M, K] stored [M, K] or
 * [K, M] (transA), op(b) [K, N] stored [K, N] or [N, K] (transB); all row-major, dense, native order.
 *
 * <p>Goto/BLIS scheme: op(a) and op(b) are copied in KC-deep blocks into k-major micro-panels
 * (the transposes are handled there, so one MR x NR register-blocked micro-kernel serves all four
 * cases). Work is split by column groups of c: each task packs its own slice of op(b), KC rows at a
 * time, and shares the packed op(a), which the first task to need a block packs. A task covers all
 * rows and all of K for its columns, so one parallel call does the whole multiply (waking the pool's
 * workers costs tens of microseconds to milliseconds on small VMs, so it is paid once) and a worker
 * that wakes late just takes fewer groups.
 *
 * <p>Every c element is one FMA chain over k = 0..K-1 starting from its initial value ({@code c},
 * {@code c + bias}, {@code bias} or 0): the kernel loads the tile, continues the chains and stores it
 * back, and a float store/reload is exact. So each result is bitwise that of
 * {@code acc = Math.fma(opA[i][k], opB[k][j], acc)} in k order, whatever the blocking, the thread
 * count or the other rows and columns of the call (a row gets the same bits in a batch of 1 or 2048).
 *
 * <p>transB with at most {@link GemmSmallM#MAX_M} rows skips packing and streams b
 * ({@link GemmSmallM}), with the same FMA chains and so the same bits.
 */
public final class Gemm {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Micro-tile: MR rows x NR = two vectors of columns. */
    static final int MR = 5, NR = 2 * L;
    /** KC-deep blocks; a block of MC rows of packed op(a) (MC x KC x 4 = 120 KiB) stays in L2. */
    static final int KC = 256, MC = 24 * MR;
    /** Packed op(a) is held for at most this many floats at once (rows are done in super-blocks). */
    static final int A_FLOATS = 1 << 22;
    /** Column groups are 2..MAX_GROUP_PANELS micro-panels wide (a 256 x 192 op(b) slice is 192 KiB). */
    static final int MAX_GROUP_PANELS = 12;

    /** Below this many multiply-adds (about 0.1 ms on one core) waking the pool costs more than it saves. */
    static final long SERIAL_FMAS = 1 << 22;

    private final CpuThreads threads;
    private final AtomicReference<float[]> spareA = new AtomicReference<>();
    /** Each worker's packed op(b) slice, KC x group width. */
    private static final ThreadLocal<float[]> PACKED_B = ThreadLocal.withInitial(() -> new float[KC * MAX_GROUP_PANELS * NR]);
    /** Edge tiles go through a full MR x NR scratch tile, so the kernel needs no masks. */
    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate((long) MR * NR * Float.BYTES, 64));

    public Gemm(CpuThreads threads) {
        this.threads = threads;
    }

    public void multiply(MemorySegment c, MemorySegment a, MemorySegment b, MemorySegment bias,
                         int M, int N, int K, boolean transA, boolean transB, boolean accumulate) {
        if (M < 0 || N < 0 || K < 0) throw new IllegalArgumentException("negative size " + M + "x" + N + "x" + K);
        if (M == 0 || N == 0) return;
        checkSize("c", c, (long) M * N);
        checkSize("a", a, (long) M * K);
        checkSize("b", b, (long) K * N);
        if (bias != null) checkSize("bias", bias, N);
        if (transB && M <= GemmSmallM.MAX_M && K > 0) {
            GemmSmallM.multiply(threads, c, a, b, bias, M, N, K, transA, accumulate);
            return;
        }

        int kBlocks = (K + KC - 1) / KC;
        int superRows = (long) M * K <= A_FLOATS ? M : Math.max(MC, A_FLOATS / K / MC * MC);
        int panels = (N + NR - 1) / NR;
        int groupPanels = Math.clamp((panels + 4L * threads.threads() - 1) / (4L * threads.threads()), 2, MAX_GROUP_PANELS);
        int groups = (panels + groupPanels - 1) / groupPanels;
        long packedA = K == 0 ? 0 : (long) roundUp(Math.min(M, superRows), MR) * K;
        if (packedA > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("K = " + K + " is too deep to pack");
        float[] ap = take(spareA, (int) packedA);
        for (int is = 0; is < M; is += superRows) {
            var job = new Job(c, a, b, bias, M, N, K, transA, transB, accumulate, ap, is, Math.min(superRows, M - is), kBlocks, groupPanels);
            if ((long) M * N * K < SERIAL_FMAS) for (int g = 0; g < groups; g++) job.columnGroup(g);
            else threads.forEach(groups, job::columnGroup);
        }
        spareA.set(ap);
    }

    /** One row super-block of a multiply: rows i0..i0+rows, all columns, all of K. */
    private record Job(MemorySegment c, MemorySegment a, MemorySegment b, MemorySegment bias, int M, int N, int K,
                       boolean transA, boolean transB, boolean accumulate, float[] ap, int i0, int rows,
                       int kBlocks, int groupPanels, AtomicIntegerArray aState) {
        Job(MemorySegment c, MemorySegment a, MemorySegment b, MemorySegment bias, int M, int N, int K,
            boolean transA, boolean transB, boolean accumulate, float[] ap, int i0, int rows, int kBlocks, int groupPanels) {
            this(c, a, b, bias, M, N, K, transA, transB, accumulate, ap, i0, rows, kBlocks, groupPanels,
                    new AtomicIntegerArray(kBlocks * ((rows + MC - 1) / MC)));
        }

        private static final int UNPACKED = 0, PACKING = 1, PACKED = 2, FAILED = 3;

        /** c[i0.. i0+rows, columns of group g]: initial values, then every KC block of op(a) op(b). */
        void columnGroup(int g) {
            int j0 = g * groupPanels * NR, cols = Math.min(groupPanels * NR, N - j0), panels = (cols + NR - 1) / NR;
            long ldc = (long) N * Float.BYTES;
            initialise(c, bias, accumulate, N, i0, rows, j0, cols);
            float[] bp = PACKED_B.get();
            int rowBlocks = (rows + MC - 1) / MC;
            for (int kb = 0; kb < kBlocks; kb++) {
                int p0 = kb * KC, kc = Math.min(KC, K - p0);
                for (int jr = 0; jr < panels; jr++) packB(bp, jr * kc * NR, j0 + jr * NR, Math.min(NR, cols - jr * NR), p0, kc);
                for (int rb = 0; rb < rowBlocks; rb++) {
                    int blockRow = rb * MC, blockRows = Math.min(MC, rows - blockRow);
                    int aBase = ensurePacked(rb, kb, blockRow, blockRows, p0, kc);
                    for (int jr = 0; jr < panels; jr++) {
                        int tileCols = Math.min(NR, cols - jr * NR);
                        for (int ir = 0; ir * MR < blockRows; ir++) {
                            int tileRows = Math.min(MR, blockRows - ir * MR);
                            long at = (long) (i0 + blockRow + ir * MR) * ldc + (long) (j0 + jr * NR) * Float.BYTES;
                            tile(aBase + ir * kc * MR, jr * kc * NR, bp, kc, at, ldc, tileRows, tileCols);
                        }
                    }
                }
            }
        }

        /** Offset in ap of packed block (rb, kb), packing it first if no task has yet; waits while another packs it. */
        private int ensurePacked(int rb, int kb, int blockRow, int blockRows, int p0, int kc) {
            int paddedRows = roundUp(rows, MR), base = p0 * paddedRows + blockRow * kc, slot = kb * ((rows + MC - 1) / MC) + rb;
            if (aState.get(slot) == PACKED) return base;
            if (aState.compareAndSet(slot, UNPACKED, PACKING)) {
                int state = FAILED;
                try {
                    for (int ir = 0; ir * MR < blockRows; ir++) {
                        packA(base + ir * kc * MR, i0 + blockRow + ir * MR, Math.min(MR, blockRows - ir * MR), p0, kc);
                    }
                    state = PACKED;
                } finally {
                    aState.set(slot, state);
                }
            } else {
                int state;
                while ((state = aState.get(slot)) == PACKING) Thread.onSpinWait(); // the packer is running, not queued
                if (state == FAILED) throw new IllegalStateException("packing op(a) failed in another task");
            }
            return base;
        }

        private void tile(int ao, int bo, float[] bp, int kc, long at, long ldc, int tileRows, int tileCols) {
            if (tileRows == MR && tileCols == NR) {
                kernel(ap, ao, bp, bo, kc, c, at, ldc);
                return;
            }
            MemorySegment t = SCRATCH.get();
            long tileLd = (long) NR * Float.BYTES, bytes = (long) tileCols * Float.BYTES;
            for (int r = 0; r < tileRows; r++) MemorySegment.copy(c, at + r * ldc, t, r * tileLd, bytes);
            kernel(ap, ao, bp, bo, kc, t, 0, tileLd);
            for (int r = 0; r < tileRows; r++) MemorySegment.copy(t, r * tileLd, c, at + r * ldc, bytes);
        }

        /** op(a) rows i..i+n, k = p0..p0+kc, into ap[at + k * MR + r], zero-padded to MR rows. */
        private void packA(int at, int i, int n, int p0, int kc) {
            if (transA) { // stored [K, M]: the panel's rows lie side by side at each k
                for (int k = 0; k < kc; k++) {
                    long from = (long) (p0 + k) * M + i;
                    int to = at + k * MR;
                    for (int r = 0; r < n; r++) ap[to + r] = a.getAtIndex(F, from + r);
                    for (int r = n; r < MR; r++) ap[to + r] = 0;
                }
            } else {
                for (int r = 0; r < MR; r++) {
                    long from = (long) (i + r) * K + p0;
                    if (r < n) for (int k = 0; k < kc; k++) ap[at + k * MR + r] = a.getAtIndex(F, from + k);
                    else for (int k = 0; k < kc; k++) ap[at + k * MR + r] = 0;
                }
            }
        }

        /** op(b) columns j..j+n, k = p0..p0+kc, into bp[at + k * NR + col], zero-padded to NR columns. */
        private void packB(float[] bp, int at, int j, int n, int p0, int kc) {
            if (!transB) { // stored [K, N]: the panel's columns lie side by side at each k
                for (int k = 0; k < kc; k++) {
                    long from = ((long) (p0 + k) * N + j) * Float.BYTES;
                    int to = at + k * NR;
                    if (n == NR) {
                        FloatVector.fromMemorySegment(S, b, from, NATIVE).intoArray(bp, to);
                        FloatVector.fromMemorySegment(S, b, from + (long) L * Float.BYTES, NATIVE).intoArray(bp, to + L);
                    } else {
                        for (int col = 0; col < n; col++) bp[to + col] = b.get(F, from + 4L * col);
                        for (int col = n; col < NR; col++) bp[to + col] = 0;
                    }
                }
            } else {
                for (int col = 0; col < NR; col++) {
                    long from = (long) (j + col) * K + p0;
                    if (col < n) for (int k = 0; k < kc; k++) bp[at + k * NR + col] = b.getAtIndex(F, from + k);
                    else for (int k = 0; k < kc; k++) bp[at + k * NR + col] = 0;
                }
            }
        }
    }

    /**
     * Continues the FMA chains of the c[MR, NR] tile at byte offset {@code at} (row stride ldc bytes)
     * over kc steps of packed panels: ap holds MR floats per k from ao, bp NR floats per k from bo.
     * Five rows x two vectors: ten accumulators, two B vectors and a broadcast fit the 16 AVX2
     * registers; six rows made C2 spill an accumulator to the stack, which halved the speed.
     */
    static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, MemorySegment c, long at, long ldc) {
        long h = (long) L * Float.BYTES;
        long at0 = at, at1 = at + 1 * ldc, at2 = at + 2 * ldc, at3 = at + 3 * ldc, at4 = at + 4 * ldc;
        FloatVector c00 = FloatVector.fromMemorySegment(S, c, at0, NATIVE), c01 = FloatVector.fromMemorySegment(S, c, at0 + h, NATIVE);
        FloatVector c10 = FloatVector.fromMemorySegment(S, c, at1, NATIVE), c11 = FloatVector.fromMemorySegment(S, c, at1 + h, NATIVE);
        FloatVector c20 = FloatVector.fromMemorySegment(S, c, at2, NATIVE), c21 = FloatVector.fromMemorySegment(S, c, at2 + h, NATIVE);
        FloatVector c30 = FloatVector.fromMemorySegment(S, c, at3, NATIVE), c31 = FloatVector.fromMemorySegment(S, c, at3 + h, NATIVE);
        FloatVector c40 = FloatVector.fromMemorySegment(S, c, at4, NATIVE), c41 = FloatVector.fromMemorySegment(S, c, at4 + h, NATIVE);
        for (int step = 0; step < kc; step++) {
            int ai = ao + step * MR, bi = bo + step * NR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi), b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector x = FloatVector.broadcast(S, ap[ai]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
        }
        c00.intoMemorySegment(c, at0, NATIVE); c01.intoMemorySegment(c, at0 + h, NATIVE);
        c10.intoMemorySegment(c, at1, NATIVE); c11.intoMemorySegment(c, at1 + h, NATIVE);
        c20.intoMemorySegment(c, at2, NATIVE); c21.intoMemorySegment(c, at2 + h, NATIVE);
        c30.intoMemorySegment(c, at3, NATIVE); c31.intoMemorySegment(c, at3 + h, NATIVE);
        c40.intoMemorySegment(c, at4, NATIVE); c41.intoMemorySegment(c, at4 + h, NATIVE);
    }

    /** The chains' start in c[i0..i0+rows, j0..j0+cols]: c = bias or 0 (overwrite), or c += bias (accumulate). */
    static void initialise(MemorySegment c, MemorySegment bias, boolean accumulate, int N, int i0, int rows, int j0, int cols) {
        if (accumulate && bias == null) return;
        long ldc = (long) N * Float.BYTES, bytes = (long) cols * Float.BYTES, from = (long) j0 * Float.BYTES;
        for (int i = i0; i < i0 + rows; i++) {
            long row = i * ldc + from;
            if (!accumulate) {
                if (bias == null) c.asSlice(row, bytes).fill((byte) 0);
                else MemorySegment.copy(bias, from, c, row, bytes);
            } else {
                for (int j = 0; j < cols; j++) c.set(F, row + 4L * j, c.get(F, row + 4L * j) + bias.getAtIndex(F, j0 + j));
            }
        }
    }

    private static float[] take(AtomicReference<float[]> spare, int length) {
        float[] buffer = spare.getAndSet(null);
        return buffer != null && buffer.length >= length ? buffer : new float[length];
    }

    private static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }

    private static void checkSize(String name, MemorySegment s, long floats) {
        if (s.byteSize() < floats * Float.BYTES) {
            throw new IllegalArgumentException(name + " holds " + s.byteSize() / Float.BYTES + " floats, needs " + floats);
        }
    }
}
