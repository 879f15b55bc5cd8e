package org.densify.core.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class GemmTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final Arena ARENA = Arena.ofShared();
    private static final Gemm ONE = new Gemm(new CpuThreads(1)), TWO = new Gemm(new CpuThreads(2)), THREE = new Gemm(new CpuThreads(3));

    @AfterAll
    static void close() {
        ARENA.close();
    }

    /** A multiply's operands, each a slice at an odd float offset of a larger segment. */
    private record Case(int M, int N, int K, boolean transA, boolean transB, boolean accumulate, boolean withBias,
                        float[] a, float[] b, float[] bias, float[] c0) {
        static Case random(int M, int N, int K, boolean transA, boolean transB, boolean accumulate, boolean withBias, long seed) {
            var r = new SplittableRandom(seed);
            return new Case(M, N, K, transA, transB, accumulate, withBias, values(r, M * K), values(r, K * N),
                    withBias ? values(r, N) : null, accumulate ? values(r, M * N) : null);
        }

        /** op(a) op(b) (+ bias) (+ c0) in double, summed in k order. */
        double[] reference() {
            double[] out = new double[M * N];
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int k = 0; k < K; k++) s += (double) opA(i, k) * opB(k, j);
                    if (bias != null) s += bias[j];
                    if (c0 != null) s += c0[i * N + j];
                    out[i * N + j] = s;
                }
            }
            return out;
        }

        /** The documented result: one float FMA chain per element from its initial value, in k order. */
        float[] fmaChain() {
            float[] out = new float[M * N];
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    float acc = c0 != null ? c0[i * N + j] + (bias != null ? bias[j] : 0) : bias != null ? bias[j] : 0;
                    for (int k = 0; k < K; k++) acc = Math.fma(opA(i, k), opB(k, j), acc);
                    out[i * N + j] = acc;
                }
            }
            return out;
        }

        float opA(int i, int k) {
            return transA ? a[k * M + i] : a[i * K + k];
        }

        float opB(int k, int j) {
            return transB ? b[j * K + k] : b[k * N + j];
        }

        /** Runs the multiply on fresh slices (c NaN-poisoned unless accumulating) and returns c. */
        float[] run(Gemm gemm, int offset) {
            MemorySegment cs = slice(accumulate ? c0 : nans(M * N), offset);
            gemm.multiply(cs, slice(a, offset + 1), slice(b, offset + 2), bias == null ? null : slice(bias, offset + 3),
                    M, N, K, transA, transB, accumulate);
            return cs.toArray(F);
        }

        @Override
        public String toString() {
            return "M=" + M + " N=" + N + " K=" + K + " transA=" + transA + " transB=" + transB
                    + " accumulate=" + accumulate + " bias=" + withBias;
        }
    }

    private static float[] values(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextDouble(-1, 1);
        return v;
    }

    private static float[] nans(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, Float.NaN);
        return v;
    }

    /** values copied to a slice starting {@code offset} floats into a larger segment (then a guard of NaNs). */
    private static MemorySegment slice(float[] values, int offset) {
        MemorySegment whole = ARENA.allocate((offset + values.length + 8L) * Float.BYTES, 64);
        whole.fill((byte) 0xff); // NaN everywhere around the slice
        MemorySegment s = whole.asSlice((long) offset * Float.BYTES, (long) values.length * Float.BYTES);
        MemorySegment.copy(values, 0, s, F, 0, values.length);
        return s;
    }

    private static double relativeError(float[] out, double[] ref) {
        double diff = 0, norm = 0;
        for (int i = 0; i < out.length; i++) {
            diff += (out[i] - ref[i]) * (out[i] - ref[i]);
            norm += ref[i] * ref[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    private static void check(Case t, Gemm gemm, int offset) {
        float[] out = t.run(gemm, offset);
        double err = relativeError(out, t.reference());
        assertTrue(err < 1e-5, t + ": relative error " + err);
        assertArrayEquals(t.fmaChain(), out, t + ": not the k-ordered FMA chain"); // exact: compares bits, NaN included
    }

    @Test
    void everyLayoutAccumulateAndBiasOnAwkwardSizes() {
        int[][] sizes = {{1, 1, 1}, {2, 7, 13}, {7, 13, 2}, {13, 17, 33}, {17, 33, 7}, {33, 2, 17}, {769, 13, 7},
                {7, 769, 17}, {13, 2, 769}, {1, 769, 33}, {33, 1, 769}};
        long seed = 1;
        for (int[] s : sizes) {
            for (int combo = 0; combo < 16; combo++) {
                Case t = Case.random(s[0], s[1], s[2], (combo & 1) != 0, (combo & 2) != 0, (combo & 4) != 0, (combo & 8) != 0, seed++);
                check(t, TWO, (int) (seed % 3) + 1);
            }
        }
    }

    @Test
    void fewRowsEveryLayoutAccumulateAndBias() {
        // M <= GemmSmallM.MAX_M with transB streams b unpacked: one and two vectors of rows, ragged
        // column tiles (N mod 6), and the packed path for the other layouts at the same sizes
        int[] rows = {1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33};
        int[][] nk = {{1, 1}, {7, 1}, {1, 7}, {13, 769}, {769, 7}, {50, 33}};
        long seed = 100;
        for (int M : rows) {
            for (int[] s : nk) {
                for (int combo = 0; combo < 16; combo++) {
                    Case t = Case.random(M, s[0], s[1], (combo & 1) != 0, (combo & 2) != 0, (combo & 4) != 0, (combo & 8) != 0, seed++);
                    check(t, (combo & 1) != 0 ? ONE : THREE, (int) (seed % 3) + 1);
                }
            }
        }
    }

    @Test
    void fewRowsOnAnLmHeadLikeShapeAreBitwiseTheSameForAnyThreadCount() {
        // enough multiply-adds to go parallel (over SERIAL_FMAS), N not a multiple of anything
        for (int combo = 0; combo < 4; combo++) {
            Case t = Case.random(16, 5003, 200, (combo & 1) != 0, true, combo == 2, combo >= 1, 90 + combo);
            float[] one = t.run(ONE, 0);
            assertArrayEquals(t.fmaChain(), one, t + ": not the k-ordered FMA chain");
            assertArrayEquals(one, t.run(TWO, 1), t + ": 2 threads differ from 1");
            assertArrayEquals(one, t.run(THREE, 2), t + ": 3 threads differ from 1");
        }
    }

    @Test
    void severalBlocksInEveryDirection() {
        // M over a row block (120), N over several column groups, K over three KC blocks (256)
        for (int combo = 0; combo < 4; combo++) {
            check(Case.random(131, 203, 600, (combo & 1) != 0, (combo & 2) != 0, combo == 3, combo == 1, 40 + combo), THREE, 3);
        }
    }

    @Test
    void rowSuperBlocksWhenPackedAExceedsItsBudget() {
        int K = 1100, M = Gemm.A_FLOATS / K + 300; // M * K over A_FLOATS: rows are done in two super-blocks
        check(Case.random(M, 3, K, false, true, false, true, 50), TWO, 1);
        check(Case.random(M, 19, K, true, false, true, false, 51), TWO, 2);
    }

    @Test
    void emptyKGivesBiasZeroOrUnchangedC() {
        for (int combo = 0; combo < 4; combo++) {
            boolean accumulate = (combo & 1) != 0, withBias = (combo & 2) != 0;
            Case t = Case.random(9, 21, 0, false, false, accumulate, withBias, 60 + combo);
            float[] out = t.run(TWO, 1);
            for (int i = 0; i < 9; i++) {
                for (int j = 0; j < 21; j++) {
                    float want = (accumulate ? t.c0()[i * 21 + j] : 0) + (withBias ? t.bias()[j] : 0);
                    assertEquals(want, out[i * 21 + j], t + " at " + i + "," + j);
                }
            }
        }
    }

    @Test
    void emptyMOrNLeavesCUntouched() {
        MemorySegment c = slice(new float[]{7f}, 1);
        ONE.multiply(c, slice(new float[4], 0), slice(new float[4], 0), null, 0, 1, 4, false, false, false);
        ONE.multiply(c, slice(new float[4], 0), slice(new float[4], 0), null, 1, 0, 4, false, false, false);
        assertEquals(7f, c.getAtIndex(F, 0));
    }

    @Test
    void bitwiseIdenticalForOneTwoAndThreeThreads() {
        for (int combo = 0; combo < 4; combo++) {
            Case t = Case.random(203, 517, 300, (combo & 1) != 0, (combo & 2) != 0, combo == 2, combo == 1, 70 + combo);
            float[] one = t.run(ONE, 0);
            assertArrayEquals(one, t.run(TWO, 1), t + ": 2 threads differ from 1");
            assertArrayEquals(one, t.run(THREE, 2), t + ": 3 threads differ from 1");
        }
    }

    @Test
    void rowsGetTheSameBitsWhateverTheBatch() {
        Case all = Case.random(64, 300, 300, false, true, false, true, 80);
        float[] full = all.run(TWO, 0);
        for (int rows : new int[]{1, 16, 32, 33, 37}) { // the first rows alone (up to 32: the unpacked path)
            Case part = new Case(rows, 300, 300, false, true, false, true,
                    java.util.Arrays.copyOf(all.a(), rows * 300), all.b(), all.bias(), null);
            assertArrayEquals(java.util.Arrays.copyOf(full, rows * 300), part.run(TWO, 1), "batch of " + rows);
        }
    }

    @Test
    void rejectsTooSmallSegments() {
        MemorySegment small = slice(new float[5], 0);
        assertThrows(IllegalArgumentException.class, () -> ONE.multiply(small, slice(new float[6], 0), slice(new float[6], 0),
                null, 2, 3, 2, false, false, false));
        assertThrows(IllegalArgumentException.class, () -> ONE.multiply(slice(new float[6], 0), slice(new float[6], 0),
                slice(new float[6], 0), slice(new float[2], 0), 2, 3, 2, false, false, false)); // bias needs N = 3
    }
}
