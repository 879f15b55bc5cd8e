package org.densify.core.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicReference;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision matrix multiply on the Vector API.
 * {@code c[M, N] = (accumulate ? c : 0) + op(a) op(b) (+ bias[N])}, op(a) [M, K] stored [M, K] or
 * [K, M] (transA), op(b) [K, N] stored [K, N] or [N, K] (transB); all row-major, dense, native order.
 *
 * <p>Goto/BLIS layout: op(b) is packed in blocks of KC x NC and op(a) in blocks of MS x KC into
 * k-major micro-panels (transposes are handled there, so one micro-kernel serves all four cases),
 * and an MR x NR register-blocked kernel sweeps them. Each c element is one FMA chain over k = 0..K-1
 * that starts from its initial value ({@code c + bias}, {@code c}, {@code bias} or 0): the kernel
 * loads c, continues the chain and stores it back, and a float store/reload is exact. So every
 * result is bitwise that of {@code acc = Math.fma(a[i][k], b[k][j], acc)} in k order, whatever the
 * blocking, the thread count or the shape of the call (a row gets the same bits in a batch of 1 or 2048).
 */
public final class Gemm {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Register block: MR rows x NR = 2 vectors of columns, 12 accumulators (C2 spills past ~14). */
    static final int MR = 5, NR = 2 * L;
    /** Cache blocks: an A block of MC x KC lives in L2, a B micro-panel of KC x NR in L1. */
    static final int KC = 256, MC = 120, NC = 4096, MS = 1536;

    public static final java.util.Queue<String> LOG = new java.util.concurrent.ConcurrentLinkedQueue<>();
    public static boolean TRACE; static long T_START;
    public static long PACK_NS, COMPUTE_NS;
    private final CpuThreads threads;
    private final AtomicReference<float[]> spareA = new AtomicReference<>(), spareB = new AtomicReference<>();
    /** Edge tiles run through a full MR x NR scratch tile so the kernel never needs masks. */
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
        initialise(c, bias, M, N, accumulate);
        if (K == 0) return;

        float[] bp = take(spareB, Math.min(K, KC) * roundUp(Math.min(N, NC), NR));
        float[] ap = take(spareA, Math.min(K, KC) * roundUp(Math.min(M, MS), MR));
        for (int jc = 0; jc < N; jc += NC) {
            int nc = Math.min(NC, N - jc);
            int bPanels = (nc + NR - 1) / NR;
            for (int pc = 0; pc < K; pc += KC) {
                int kc = Math.min(KC, K - pc), j0 = jc, p0 = pc;
                for (int is = 0; is < M; is += MS) {
                    int ms = Math.min(MS, M - is), i0 = is, aPanels = (ms + MR - 1) / MR;
                    boolean packB = is == 0;
                    long T0 = System.nanoTime();
                    threads.forEach(aPanels + (packB ? bPanels : 0), t -> {
                        if (t < aPanels) packA(ap, a, M, K, transA, i0 + t * MR, Math.min(MR, ms - t * MR), p0, kc, t * kc * MR);
                        else packB(bp, b, N, K, transB, j0 + (t - aPanels) * NR, Math.min(NR, nc - (t - aPanels) * NR), p0, kc, (t - aPanels) * kc * NR);
                    });
                    long T1 = System.nanoTime();
                    computeBlock(c, ap, bp, N, i0, ms, j0, nc, kc);
                    PACK_NS += T1 - T0; COMPUTE_NS += System.nanoTime() - T1;
                }
            }
        }
        spareA.set(ap);
        spareB.set(bp);
    }

    /** c = bias or 0 (overwrite), or c += bias (accumulate): the start of every FMA chain. */
    private void initialise(MemorySegment c, MemorySegment bias, int M, int N, boolean accumulate) {
        if (accumulate && bias == null) return;
        long rowBytes = (long) N * Float.BYTES;
        threads.forEach(M, i -> {
            MemorySegment row = c.asSlice(i * rowBytes, rowBytes);
            if (!accumulate) {
                if (bias == null) row.fill((byte) 0);
                else row.copyFrom(bias.asSlice(0, rowBytes));
            } else {
                for (int j = 0; j < N; j++) row.setAtIndex(F, j, row.getAtIndex(F, j) + bias.getAtIndex(F, j));
            }
        });
    }

    /**
     * Tiles of the packed blocks: rows i0..i0+ms in MC-row blocks times groups of B micro-panels.
     * Within a tile the B micro-panel stays in L1 while the A block streams from L2.
     */
    private void computeBlock(MemorySegment c, float[] ap, float[] bp, int N, int i0, int ms, int j0, int nc, int kc) {
        int aPanels = (ms + MR - 1) / MR, bPanels = (nc + NR - 1) / NR;
        int panelsPerBlock = MC / MR, rowBlocks = (aPanels + panelsPerBlock - 1) / panelsPerBlock;
        int want = Math.max(1, 4 * threads.threads() / rowBlocks);
        int groups = Math.min(bPanels, want), perGroup = (bPanels + groups - 1) / groups;
        int groupCount = (bPanels + perGroup - 1) / perGroup;
        long ldc = (long) N * Float.BYTES;
        T_START = System.nanoTime();
        threads.forEach(rowBlocks * groupCount, t -> {
            long TS = System.nanoTime();
            int rb = t / groupCount, g = t % groupCount;
            int irFrom = rb * panelsPerBlock, irTo = Math.min(aPanels, irFrom + panelsPerBlock);
            int jrFrom = g * perGroup, jrTo = Math.min(bPanels, jrFrom + perGroup);
            for (int jr = jrFrom; jr < jrTo; jr++) {
                int j = jr * NR, cols = Math.min(NR, nc - j);
                for (int ir = irFrom; ir < irTo; ir++) {
                    int i = ir * MR, rows = Math.min(MR, ms - i);
                    long at = (long) (i0 + i) * ldc + (long) (j0 + j) * Float.BYTES;
                    if (rows == MR && cols == NR) {
                        kernel(ap, ir * kc * MR, bp, jr * kc * NR, kc, c, at, ldc);
                    } else {
                        MemorySegment tile = SCRATCH.get();
                        long tileLd = (long) NR * Float.BYTES;
                        tile.fill((byte) 0);
                        for (int r = 0; r < rows; r++) MemorySegment.copy(c, at + r * ldc, tile, r * tileLd, (long) cols * Float.BYTES);
                        kernel(ap, ir * kc * MR, bp, jr * kc * NR, kc, tile, 0, tileLd);
                        for (int r = 0; r < rows; r++) MemorySegment.copy(tile, r * tileLd, c, at + r * ldc, (long) cols * Float.BYTES);
                    }
                }
            }
            if (TRACE) LOG.add(String.format("task %d on %s: %.2f ms (start +%.2f)", t, Thread.currentThread().threadId(), (System.nanoTime() - TS) / 1e6, (TS - T_START) / 1e6));
        });
    }

    /**
     * c[MR, NR] tile at byte offset {@code at} (row stride ldc bytes) continues its FMA chains over
     * kc steps of the packed panels: ap holds MR floats per k, bp NR floats per k.
     */
    static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, MemorySegment c, long at, long ldc) {
        long h = (long) L * Float.BYTES;
        long at0 = at;
        long at1 = at + 1 * ldc;
        long at2 = at + 2 * ldc;
        long at3 = at + 3 * ldc;
        long at4 = at + 4 * ldc;
        FloatVector c00 = FloatVector.fromMemorySegment(S, c, at0, NATIVE), c01 = FloatVector.fromMemorySegment(S, c, at0 + h, NATIVE);
        FloatVector c10 = FloatVector.fromMemorySegment(S, c, at1, NATIVE), c11 = FloatVector.fromMemorySegment(S, c, at1 + h, NATIVE);
        FloatVector c20 = FloatVector.fromMemorySegment(S, c, at2, NATIVE), c21 = FloatVector.fromMemorySegment(S, c, at2 + h, NATIVE);
        FloatVector c30 = FloatVector.fromMemorySegment(S, c, at3, NATIVE), c31 = FloatVector.fromMemorySegment(S, c, at3 + h, NATIVE);
        FloatVector c40 = FloatVector.fromMemorySegment(S, c, at4, NATIVE), c41 = FloatVector.fromMemorySegment(S, c, at4 + h, NATIVE);
        for (int k = 0; k < kc; k++) {
            int ai = ao + k * MR, bi = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi), b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector x = FloatVector.broadcast(S, ap[ai + 0]);
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

    /** Like kernel, but reads op(a) straight from its segment: element (r, k) at aAt + r * rs + k * ks bytes. */
    static void kernelDirect(MemorySegment a, long aAt, long rs, long ks, float[] bp, int bo, int kc, MemorySegment c, long at, long ldc) {
        long h = (long) L * Float.BYTES;
        long at0 = at + 0 * ldc, a0 = aAt + 0 * rs;
        long at1 = at + 1 * ldc, a1 = aAt + 1 * rs;
        long at2 = at + 2 * ldc, a2 = aAt + 2 * rs;
        long at3 = at + 3 * ldc, a3 = aAt + 3 * rs;
        long at4 = at + 4 * ldc, a4 = aAt + 4 * rs;
        FloatVector c00 = FloatVector.fromMemorySegment(S, c, at0, NATIVE), c01 = FloatVector.fromMemorySegment(S, c, at0 + h, NATIVE);
        FloatVector c10 = FloatVector.fromMemorySegment(S, c, at1, NATIVE), c11 = FloatVector.fromMemorySegment(S, c, at1 + h, NATIVE);
        FloatVector c20 = FloatVector.fromMemorySegment(S, c, at2, NATIVE), c21 = FloatVector.fromMemorySegment(S, c, at2 + h, NATIVE);
        FloatVector c30 = FloatVector.fromMemorySegment(S, c, at3, NATIVE), c31 = FloatVector.fromMemorySegment(S, c, at3 + h, NATIVE);
        FloatVector c40 = FloatVector.fromMemorySegment(S, c, at4, NATIVE), c41 = FloatVector.fromMemorySegment(S, c, at4 + h, NATIVE);
        for (int k = 0; k < kc; k++) {
            long ak = k * ks; int bi = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi), b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector x = FloatVector.broadcast(S, a.get(F, a0 + ak));
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a.get(F, a1 + ak));
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a.get(F, a2 + ak));
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a.get(F, a3 + ak));
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a.get(F, a4 + ak));
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
        }
        c00.intoMemorySegment(c, at0, NATIVE); c01.intoMemorySegment(c, at0 + h, NATIVE);
        c10.intoMemorySegment(c, at1, NATIVE); c11.intoMemorySegment(c, at1 + h, NATIVE);
        c20.intoMemorySegment(c, at2, NATIVE); c21.intoMemorySegment(c, at2 + h, NATIVE);
        c30.intoMemorySegment(c, at3, NATIVE); c31.intoMemorySegment(c, at3 + h, NATIVE);
        c40.intoMemorySegment(c, at4, NATIVE); c41.intoMemorySegment(c, at4 + h, NATIVE);
    }

    /** A micro-panel: rows i..i+rows of op(a), k = p0..p0+kc, as dst[at + k * MR + r], zero-padded to MR rows. */
    private static void packA(float[] dst, MemorySegment a, int M, int K, boolean transA, int i, int rows, int p0, int kc, int at) {
        if (transA) { // stored [K, M]: each k holds the panel's rows side by side
            for (int k = 0; k < kc; k++) {
                long from = (long) (p0 + k) * M + i;
                int to = at + k * MR;
                for (int r = 0; r < rows; r++) dst[to + r] = a.getAtIndex(F, from + r);
                for (int r = rows; r < MR; r++) dst[to + r] = 0;
            }
        } else {
            for (int r = 0; r < MR; r++) {
                if (r >= rows) {
                    for (int k = 0; k < kc; k++) dst[at + k * MR + r] = 0;
                    continue;
                }
                long from = (long) (i + r) * K + p0;
                for (int k = 0; k < kc; k++) dst[at + k * MR + r] = a.getAtIndex(F, from + k);
            }
        }
    }

    /** B micro-panel: columns j..j+cols of op(b), k = p0..p0+kc, as dst[at + k * NR + col], zero-padded to NR. */
    private static void packB(float[] dst, MemorySegment b, int N, int K, boolean transB, int j, int cols, int p0, int kc, int at) {
        if (!transB) { // stored [K, N]: each k holds the panel's columns side by side
            for (int k = 0; k < kc; k++) {
                long from = ((long) (p0 + k) * N + j) * Float.BYTES;
                int to = at + k * NR;
                if (cols == NR) {
                    FloatVector.fromMemorySegment(S, b, from, NATIVE).intoArray(dst, to);
                    FloatVector.fromMemorySegment(S, b, from + (long) L * Float.BYTES, NATIVE).intoArray(dst, to + L);
                } else {
                    for (int col = 0; col < cols; col++) dst[to + col] = b.get(F, from + (long) col * Float.BYTES);
                    for (int col = cols; col < NR; col++) dst[to + col] = 0;
                }
            }
        } else {
            for (int col = 0; col < NR; col++) {
                if (col >= cols) {
                    for (int k = 0; k < kc; k++) dst[at + k * NR + col] = 0;
                    continue;
                }
                long from = (long) (j + col) * K + p0;
                for (int k = 0; k < kc; k++) dst[at + k * NR + col] = b.getAtIndex(F, from + k);
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
