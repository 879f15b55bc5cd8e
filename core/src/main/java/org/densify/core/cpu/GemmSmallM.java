package org.densify.core.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Gemm} with b stored [N, K] (transB) for few rows (M <= {@link #MAX_M}, e.g. the LM head of
 * a KV-cache generation step): b is streamed straight from memory, never packed (the packed path's
 * transposing copy of b cost more than the multiply), so each of its elements is read once from
 * DRAM and used for all M rows. Only op(a) (at most 32 x K) is copied, k-major: at[k * mp + i].
 *
 * <p>Same results as the packed path, bit for bit: c is first set to its initial value, then every
 * element continues one FMA chain over k in order, {@code acc = fma(opA[i][k], opB[k][j], acc)}.
 * b's rows are op(b)'s columns, so vectors run over rows i of c: each k broadcasts b[j][k] of six
 * columns against one or two vectors of op(a)^T[k].
 * Tasks are blocks of columns; each covers all rows and all of K, so the thread count never
 * changes a result.
 */
final class GemmSmallM {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    static final int MAX_M = 32;
    /** Columns per register tile. */
    private static final int T_COLS = 6;
    /** Register tiles go through this scratch, [T_COLS][TS]: a column of c is a row here. */
    private static final int TS = (MAX_M + 2 * L - 1) / (2 * L) * (2 * L);
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[T_COLS * TS]);

    private GemmSmallM() {
    }

    static void multiply(CpuThreads threads, MemorySegment c, MemorySegment a, MemorySegment b, MemorySegment bias,
                         int M, int N, int K, boolean transA, boolean accumulate) {
        int mp = (M + L - 1) / L * L;
        float[] at = new float[K * mp]; // op(a)^T, rows padded with zeros to whole vectors
        for (int i = 0; i < M; i++) {
            for (int k = 0; k < K; k++) at[k * mp + i] = transA ? a.getAtIndex(F, (long) k * M + i) : a.getAtIndex(F, (long) i * K + k);
        }
        int unit = T_COLS, units = (N + unit - 1) / unit;
        int perTask = Math.clamp(units / (8L * threads.threads()), 1, 64), tasks = (units + perTask - 1) / perTask;
        java.util.function.IntConsumer task = t -> {
            int j0 = t * perTask * unit, j1 = Math.min(N, j0 + perTask * unit);
            Gemm.initialise(c, bias, accumulate, N, 0, M, j0, j1 - j0);
            for (int j = j0; j < j1; j += T_COLS) transB(c, at, mp, b, M, N, K, j, Math.min(T_COLS, j1 - j));
        };
        if ((long) M * N * K < Gemm.SERIAL_FMAS) for (int t = 0; t < tasks; t++) task.accept(t);
        else threads.forEach(tasks, task);
    }

    /** c[0..M, j..j+n] for n <= T_COLS columns; columns past n repeat the last one and are not stored. */
    private static void transB(MemorySegment c, float[] at, int mp, MemorySegment b, int M, int N, int K, int j, int n) {
        float[] tile = TILE.get();
        long ldb = (long) K * Float.BYTES;
        long r0 = j * ldb, r1 = (j + Math.min(1, n - 1)) * ldb, r2 = (j + Math.min(2, n - 1)) * ldb;
        long r3 = (j + Math.min(3, n - 1)) * ldb, r4 = (j + Math.min(4, n - 1)) * ldb, r5 = (j + Math.min(5, n - 1)) * ldb;
        for (int col = 0; col < n; col++) for (int i = 0; i < M; i++) tile[col * TS + i] = c.getAtIndex(F, (long) i * N + j + col);
        for (int i0 = 0; i0 < M; i0 += 2 * L) {
            if (M - i0 > L) transBTwo(tile, i0, at, mp, b, K, r0, r1, r2, r3, r4, r5);
            else transBOne(tile, i0, at, mp, b, K, r0, r1, r2, r3, r4, r5);
        }
        for (int col = 0; col < n; col++) for (int i = 0; i < M; i++) c.setAtIndex(F, (long) i * N + j + col, tile[col * TS + i]);
    }

    /** Rows i0..i0+2L of the six columns at b offsets r0..r5: twelve accumulators. */
    private static void transBTwo(float[] t, int i0, float[] at, int mp, MemorySegment b, int K,
                                  long r0, long r1, long r2, long r3, long r4, long r5) {
        int m = TS;
        FloatVector c00 = FloatVector.fromArray(S, t, i0), c01 = FloatVector.fromArray(S, t, i0 + L);
        FloatVector c10 = FloatVector.fromArray(S, t, m + i0), c11 = FloatVector.fromArray(S, t, m + i0 + L);
        FloatVector c20 = FloatVector.fromArray(S, t, 2 * m + i0), c21 = FloatVector.fromArray(S, t, 2 * m + i0 + L);
        FloatVector c30 = FloatVector.fromArray(S, t, 3 * m + i0), c31 = FloatVector.fromArray(S, t, 3 * m + i0 + L);
        FloatVector c40 = FloatVector.fromArray(S, t, 4 * m + i0), c41 = FloatVector.fromArray(S, t, 4 * m + i0 + L);
        FloatVector c50 = FloatVector.fromArray(S, t, 5 * m + i0), c51 = FloatVector.fromArray(S, t, 5 * m + i0 + L);
        for (int k = 0; k < K; k++) {
            long kb = (long) k * Float.BYTES;
            FloatVector a0 = FloatVector.fromArray(S, at, k * mp + i0), a1 = FloatVector.fromArray(S, at, k * mp + i0 + L);
            FloatVector x = FloatVector.broadcast(S, b.get(F, r0 + kb));
            c00 = a0.fma(x, c00); c01 = a1.fma(x, c01);
            x = FloatVector.broadcast(S, b.get(F, r1 + kb));
            c10 = a0.fma(x, c10); c11 = a1.fma(x, c11);
            x = FloatVector.broadcast(S, b.get(F, r2 + kb));
            c20 = a0.fma(x, c20); c21 = a1.fma(x, c21);
            x = FloatVector.broadcast(S, b.get(F, r3 + kb));
            c30 = a0.fma(x, c30); c31 = a1.fma(x, c31);
            x = FloatVector.broadcast(S, b.get(F, r4 + kb));
            c40 = a0.fma(x, c40); c41 = a1.fma(x, c41);
            x = FloatVector.broadcast(S, b.get(F, r5 + kb));
            c50 = a0.fma(x, c50); c51 = a1.fma(x, c51);
        }
        c00.intoArray(t, i0); c01.intoArray(t, i0 + L);
        c10.intoArray(t, m + i0); c11.intoArray(t, m + i0 + L);
        c20.intoArray(t, 2 * m + i0); c21.intoArray(t, 2 * m + i0 + L);
        c30.intoArray(t, 3 * m + i0); c31.intoArray(t, 3 * m + i0 + L);
        c40.intoArray(t, 4 * m + i0); c41.intoArray(t, 4 * m + i0 + L);
        c50.intoArray(t, 5 * m + i0); c51.intoArray(t, 5 * m + i0 + L);
    }

    /** Rows i0..i0+L of the six columns: six accumulators. */
    private static void transBOne(float[] t, int i0, float[] at, int mp, MemorySegment b, int K,
                                  long r0, long r1, long r2, long r3, long r4, long r5) {
        int m = TS;
        FloatVector c0 = FloatVector.fromArray(S, t, i0), c1 = FloatVector.fromArray(S, t, m + i0);
        FloatVector c2 = FloatVector.fromArray(S, t, 2 * m + i0), c3 = FloatVector.fromArray(S, t, 3 * m + i0);
        FloatVector c4 = FloatVector.fromArray(S, t, 4 * m + i0), c5 = FloatVector.fromArray(S, t, 5 * m + i0);
        for (int k = 0; k < K; k++) {
            long kb = (long) k * Float.BYTES;
            FloatVector a0 = FloatVector.fromArray(S, at, k * mp + i0);
            c0 = a0.fma(FloatVector.broadcast(S, b.get(F, r0 + kb)), c0);
            c1 = a0.fma(FloatVector.broadcast(S, b.get(F, r1 + kb)), c1);
            c2 = a0.fma(FloatVector.broadcast(S, b.get(F, r2 + kb)), c2);
            c3 = a0.fma(FloatVector.broadcast(S, b.get(F, r3 + kb)), c3);
            c4 = a0.fma(FloatVector.broadcast(S, b.get(F, r4 + kb)), c4);
            c5 = a0.fma(FloatVector.broadcast(S, b.get(F, r5 + kb)), c5);
        }
        c0.intoArray(t, i0); c1.intoArray(t, m + i0); c2.intoArray(t, 2 * m + i0);
        c3.intoArray(t, 3 * m + i0); c4.intoArray(t, 4 * m + i0); c5.intoArray(t, 5 * m + i0);
    }
}
