package org.densify.core.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Checks the reference itself: hand-computed values for small cases, central-difference gradient
 * checks for every backward, accumulation, and the cached attention path against the full one.
 */
class ScalarBackendTest {
    private static final double GRADIENT_TOLERANCE = 1e-2;
    private final ScalarBackend b = new ScalarBackend();
    private final SplittableRandom random = new SplittableRandom(42);
    private final List<CpuTensor> owned = new ArrayList<>();

    @AfterEach
    void free() {
        owned.forEach(b::free);
    }

    // ---- hand-computed values -----------------------------------------------------------------

    @Test
    void elementwiseOps() {
        CpuTensor x = tensor(1, -2, 3), y = tensor(0.5f, 0.25f, -1), out = tensor(new float[3]);
        b.add(out, x, y, 3);
        assertArrayEquals(new float[] {1.5f, -1.75f, 2}, read(out));
        b.accumulate(out, x, 2); // only the first two
        assertArrayEquals(new float[] {2.5f, -3.75f, 2}, read(out));
        b.scale(out, 2, 3);
        assertArrayEquals(new float[] {5, -7.5f, 4}, read(out));
        assertEquals(14.0, b.sumOfSquares(x, 3));
    }

    @Test
    void geluNewMatchesTheFormula() {
        float[] points = {-6, -3, -1, -0.5f, 0, 0.25f, 1, 2.5f, 8};
        CpuTensor in = tensor(points), out = tensor(new float[points.length]);
        b.geluForward(out, in, points.length);
        for (int i = 0; i < points.length; i++) {
            double x = points[i];
            double expected = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            assertEquals(expected, out.get(i), 1e-7 * Math.max(1, Math.abs(expected)), "gelu_new(" + x + ")");
        }
        assertEquals(0.8411920071, out.get(6), 1e-7); // gelu_new(1), as torch computes it
    }

    @Test
    void layerNormOfAKnownRow() {
        CpuTensor in = tensor(1, 2, 3, 4, 10, 10, 10, 10), weight = tensor(1, 2, 0.5f, -1), bias = tensor(0, 0.1f, 0.2f, 0.3f);
        CpuTensor out = tensor(new float[8]), mean = tensor(new float[2]), rstd = tensor(new float[2]);
        b.layerNormForward(out, mean, rstd, in, weight, bias, 2, 4, 1e-5f);
        double r = 1 / Math.sqrt(1.25 + 1e-5); // mean 2.5, biased variance 1.25
        float[] expected = {(float) (-1.5 * r), (float) (-0.5 * r * 2 + 0.1), (float) (0.5 * r * 0.5 + 0.2), (float) (1.5 * r * -1 + 0.3),
                0, 0.1f, 0.2f, 0.3f}; // a constant row normalises to 0, leaving the bias
        assertArrayEquals(expected, read(out), 1e-6f);
        assertArrayEquals(new float[] {2.5f, 10}, read(mean));
        assertArrayEquals(new float[] {(float) r, (float) (1 / Math.sqrt(1e-5))}, read(rstd), 1e-3f);
    }

    @Test
    void crossEntropyOfAKnownRow() {
        CpuTensor logits = tensor(1, 2, 3, 5, 5, 5), losses = tensor(new float[2]), dlogits = tensor(new float[6]);
        b.crossEntropy(losses, dlogits, logits, new int[] {2, -1}, 0.5f, 2, 3);
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertArrayEquals(new float[] {(float) (Math.log(z) - 3), 0}, read(losses), 1e-6f);
        float[] expected = {(float) (Math.exp(1) / z * 0.5), (float) (Math.exp(2) / z * 0.5), (float) ((Math.exp(3) / z - 1) * 0.5), 0, 0, 0};
        assertArrayEquals(expected, read(dlogits), 1e-7f);

        b.crossEntropy(losses, logits, logits, new int[] {2, -1}, 0.5f, 2, 3); // gradient written over the logits
        assertArrayEquals(expected, read(logits), 1e-7f);
        assertEquals((float) (Math.log(z) - 3), losses.get(0), 1e-6f);
    }

    @Test
    void attentionOfOneHeadOverTwoTokens() {
        // C = 2, one head: rows are q (2), k (2), v (2)
        CpuTensor qkv = tensor(1, 0, 2, 1, 3, -1,
                0.5f, 1, -1, 1, 1, 2);
        CpuTensor out = tensor(new float[4]), att = tensor(new float[4]), lastRow = tensor(new float[2]);
        b.attentionForward(out, att, lastRow, qkv, new int[] {2}, 1, 2);
        double s0 = (0.5 * 2 + 1 * 1) / Math.sqrt(2), s1 = (0.5 * -1 + 1 * 1) / Math.sqrt(2);
        double p0 = Math.exp(s0) / (Math.exp(s0) + Math.exp(s1)), p1 = 1 - p0;
        assertArrayEquals(new float[] {1, 0, (float) p0, (float) p1}, read(att), 1e-7f);
        assertArrayEquals(new float[] {3, -1, (float) (p0 * 3 + p1 * 1), (float) (p0 * -1 + p1 * 2)}, read(out), 1e-6f);
        assertArrayEquals(new float[] {(float) p0, (float) p1}, read(lastRow), 1e-7f);
    }

    @Test
    void adamWMatchesTorchOverTwoSteps() {
        float lr = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f, gradScale = 2;
        float[] p0 = {1, -0.5f, 0}, g1 = {0.5f, 0.25f, -1}, g2 = {-0.1f, 0.3f, 0};
        CpuTensor p = tensor(p0), grads = tensor(g1), m = tensor(new float[3]), v = tensor(new float[3]);
        b.adamW(p, grads, m, v, 3, lr, b1, b2, eps, wd, 1, gradScale);
        b.write(grads, 0, g2);
        b.adamW(p, grads, m, v, 3, lr, b1, b2, eps, wd, 2, gradScale);
        for (int i = 0; i < 3; i++) {
            // torch.optim.AdamW, written out in double
            double param = p0[i], mi = 0, vi = 0;
            double[] gs = {g1[i] * (double) gradScale, g2[i] * (double) gradScale};
            for (int step = 1; step <= 2; step++) {
                double g = gs[step - 1];
                param *= 1 - (double) lr * wd;
                mi = b1 * mi + (1 - (double) b1) * g;
                vi = b2 * vi + (1 - (double) b2) * g * g;
                double denom = Math.sqrt(vi) / Math.sqrt(1 - Math.pow(b2, step)) + eps;
                param -= lr / (1 - Math.pow(b1, step)) * mi / denom;
            }
            assertEquals(param, p.get(i), 1e-6, "param " + i);
            assertEquals(mi, m.get(i), 1e-7, "m " + i);
            assertEquals(vi, v.get(i), 1e-7, "v " + i);
        }
        // one step by hand: g = 0.5 * 2 = 1, so m / (1 - b1) = 1 and v / (1 - b2) = 1
        CpuTensor p1 = tensor(1), g = tensor(0.5f), m1 = tensor(0), v1 = tensor(0);
        b.adamW(p1, g, m1, v1, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 1, 2);
        assertEquals(1 * (1 - 0.1 * 0.1) - 0.1 * 1 / (1 + 1e-8), p1.get(0), 1e-7);
    }

    @Test
    void embeddingAddsTokenAndPositionRows() {
        CpuTensor wte = tensor(1, 2, 10, 20, 100, 200), wpe = tensor(0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f), out = tensor(new float[6]);
        int[] tokens = {2, 0, 2}, positions = {0, 1, 2};
        b.embeddingForward(out, tokens, positions, wte, wpe, 2);
        assertArrayEquals(new float[] {100.1f, 200.2f, 1.3f, 2.4f, 100.5f, 200.6f}, read(out));
        CpuTensor dwte = tensor(new float[6]), dwpe = tensor(new float[6]);
        b.embeddingBackward(dwte, dwpe, tensor(1, 2, 3, 4, 5, 6), tokens, positions, 2);
        assertArrayEquals(new float[] {3, 4, 0, 0, 6, 8}, read(dwte)); // token 2 twice
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, read(dwpe));
    }

    // ---- gradient checks (central differences in double on float32 data) ----------------------

    @Test
    void layerNormBackwardMatchesFiniteDifferences() {
        int N = 3, C = 5;
        CpuTensor in = random(N * C, 2), weight = random(C, 1), bias = random(C, 1), dout = random(N * C, 1);
        CpuTensor out = tensor(new float[N * C]), mean = tensor(new float[N]), rstd = tensor(new float[N]);
        DoubleSupplier loss = () -> {
            b.layerNormForward(out, mean, rstd, in, weight, bias, N, C, 1e-5f);
            return dot(out, dout);
        };
        loss.getAsDouble();
        CpuTensor din = tensor(new float[N * C]), dweight = tensor(new float[C]), dbias = tensor(new float[C]);
        Runnable backward = () -> b.layerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd, N, C);
        backward.run();
        assertGradient(numericGradient(in, loss), din, "din");
        assertGradient(numericGradient(weight, loss), dweight, "dweight");
        assertGradient(numericGradient(bias, loss), dbias, "dbias");
        loss.getAsDouble(); // restore mean and rstd of the unperturbed input
        assertAccumulates(backward, din, dweight, dbias);
    }

    @Test
    void geluBackwardMatchesFiniteDifferences() {
        int n = 9;
        CpuTensor in = random(n, 4), dout = random(n, 1), out = tensor(new float[n]), din = tensor(new float[n]);
        DoubleSupplier loss = () -> {
            b.geluForward(out, in, n);
            return dot(out, dout);
        };
        Runnable backward = () -> b.geluBackward(din, in, dout, n);
        backward.run();
        assertGradient(numericGradient(in, loss), din, "din");
        assertAccumulates(backward, din);
    }

    @Test
    void attentionBackwardMatchesFiniteDifferences() {
        int[] seqLengths = {4, 3};
        int NH = 2, C = 6, N = 7;
        CpuTensor qkv = random(3 * N * C, 1.5), dout = random(N * C, 1);
        CpuTensor out = tensor(new float[N * C]), att = tensor(new float[NH * (16 + 9)]);
        DoubleSupplier loss = () -> {
            b.attentionForward(out, att, null, qkv, seqLengths, NH, C);
            return dot(out, dout);
        };
        loss.getAsDouble();
        CpuTensor dqkv = tensor(new float[3 * N * C]);
        Runnable backward = () -> b.attentionBackward(dqkv, dout, qkv, att, seqLengths, NH, C);
        backward.run();
        assertGradient(numericGradient(qkv, loss), dqkv, "dqkv");
        loss.getAsDouble();
        assertAccumulates(backward, dqkv);
    }

    @Test
    void crossEntropyGradientMatchesFiniteDifferences() {
        int N = 3, V = 6;
        float gradScale = 0.7f;
        int[] targets = {4, -1, 0};
        CpuTensor logits = random(N * V, 3), losses = tensor(new float[N]), dlogits = tensor(new float[N * V]);
        DoubleSupplier loss = () -> {
            b.crossEntropy(losses, null, logits, targets, gradScale, N, V);
            double sum = 0;
            for (int i = 0; i < N; i++) sum += losses.get(i);
            return sum * gradScale;
        };
        b.crossEntropy(losses, dlogits, logits, targets, gradScale, N, V);
        assertGradient(numericGradient(logits, loss), dlogits, "dlogits");
        for (int j = 0; j < V; j++) assertEquals(0f, dlogits.get(V + j), "row without target");
    }

    @Test
    void storeKeysValuesPutsEachNewRowAtItsPosition() {
        int C = 2, capacity = 4;
        // two sequences: s0 has 2 cached positions and 1 new row, s1 none cached and 2 new rows
        CpuTensor qkv = tensor(0, 0, 1, 2, 3, 4,   0, 0, 5, 6, 7, 8,   0, 0, 9, 10, 11, 12);
        CpuTensor k = tensor(new float[2 * capacity * C]), v = tensor(new float[2 * capacity * C]);
        b.storeKeysValues(k, v, qkv, new int[] {2, 0}, new int[] {1, 2}, capacity, C);
        assertArrayEquals(new float[] {0, 0, 0, 0, 1, 2, 0, 0,   5, 6, 9, 10, 0, 0, 0, 0}, read(k));
        assertArrayEquals(new float[] {0, 0, 0, 0, 3, 4, 0, 0,   7, 8, 11, 12, 0, 0, 0, 0}, read(v));
        assertThrows(IllegalArgumentException.class, () -> b.storeKeysValues(k, v, qkv, new int[] {3, 0}, new int[] {2, 1}, capacity, C),
                "a row past the cache's capacity");
    }

    @Test
    void tokenLogProbsOfAKnownRow() {
        CpuTensor logits = tensor(1, 2, 3, 5, 5, 5), logProbs = tensor(new float[2]), entropies = tensor(new float[2]);
        b.tokenLogProbs(logProbs, entropies, logits, new int[] {0, -1}, 2, 3);
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3), entropy = 0;
        for (int j = 1; j <= 3; j++) entropy -= Math.exp(j) / z * (j - Math.log(z));
        assertArrayEquals(new float[] {(float) (1 - Math.log(z)), 0}, read(logProbs), 1e-6f);
        assertArrayEquals(new float[] {(float) entropy, 0}, read(entropies), 1e-6f);
        CpuTensor uniform = tensor(2, 2, 2, 2);
        b.tokenLogProbs(null, entropies, uniform, new int[] {3}, 1, 4);
        assertEquals(Math.log(4), entropies.get(0), 1e-6, "the uniform distribution's entropy is log V");
    }

    @Test
    void tokenLogProbsGradientMatchesFiniteDifferences() {
        int N = 3, V = 6;
        int[] targets = {4, -1, 0};
        float[] weights = {0.7f, 2f, -1.3f};
        CpuTensor logits = random(N * V, 3), logProbs = tensor(new float[N]), dlogits = tensor(new float[N * V]);
        DoubleSupplier objective = () -> {
            b.tokenLogProbs(logProbs, null, logits, targets, N, V);
            double sum = 0;
            for (int i = 0; i < N; i++) sum += weights[i] * logProbs.get(i);
            return sum;
        };
        b.tokenLogProbsBackward(dlogits, logits, targets, weights, N, V);
        assertGradient(numericGradient(logits, objective), dlogits, "dlogits");
        for (int j = 0; j < V; j++) assertEquals(0f, dlogits.get(V + j), "row without target");
        float[] expected = read(dlogits);
        b.tokenLogProbsBackward(logits, logits, targets, weights, N, V); // in place
        assertArrayEquals(expected, read(logits), 0f);
    }

    @Test
    void embeddingBackwardMatchesFiniteDifferences() {
        int C = 3, V = 4, maxT = 5;
        int[] tokens = {1, 3, 1, 0}, positions = {0, 1, 2, 0};
        CpuTensor wte = random(V * C, 1), wpe = random(maxT * C, 1), dout = random(tokens.length * C, 1);
        CpuTensor out = tensor(new float[tokens.length * C]);
        DoubleSupplier loss = () -> {
            b.embeddingForward(out, tokens, positions, wte, wpe, C);
            return dot(out, dout);
        };
        CpuTensor dwte = tensor(new float[V * C]), dwpe = tensor(new float[maxT * C]);
        Runnable backward = () -> b.embeddingBackward(dwte, dwpe, dout, tokens, positions, C);
        backward.run();
        assertGradient(numericGradient(wte, loss), dwte, "dwte");
        assertGradient(numericGradient(wpe, loss), dwpe, "dwpe");
        assertAccumulates(backward, dwte, dwpe);
    }

    /** y [M, N] = x [M, K] w [K, N] + bias: dx = dy w^T, dw = x^T dy, dbias = column sums of dy, as GPT-2's backward calls them. */
    @Test
    void matmulAndBiasBackwardMatchFiniteDifferences() {
        int M = 3, N = 4, K = 5;
        CpuTensor x = random(M * K, 1), w = random(K * N, 1), bias = random(N, 1), dy = random(M * N, 1);
        CpuTensor y = tensor(new float[M * N]);
        DoubleSupplier loss = () -> {
            b.matmul(y, x, w, bias, M, N, K, false, false, false);
            return dot(y, dy);
        };
        CpuTensor dx = tensor(new float[M * K]), dw = tensor(new float[K * N]), dbias = tensor(new float[N]);
        Runnable backward = () -> {
            b.matmul(dx, dy, w, null, M, K, N, false, true, true);
            b.matmul(dw, x, dy, null, K, N, M, true, false, true);
            b.biasBackward(dbias, dy, M, N);
        };
        backward.run();
        assertGradient(numericGradient(x, loss), dx, "dx");
        assertGradient(numericGradient(w, loss), dw, "dw");
        assertGradient(numericGradient(bias, loss), dbias, "dbias");
        assertAccumulates(backward, dx, dw, dbias);
    }

    @Test
    void matmulTransposesAndOverwrites() {
        // a [2, 3], b [3, 2]; stored transposed they hold the same matrices
        CpuTensor a = tensor(1, 2, 3, 4, 5, 6), aT = tensor(1, 4, 2, 5, 3, 6), bm = tensor(1, 0, 0, 1, 1, 1), bT = tensor(1, 0, 1, 0, 1, 1);
        float[] expected = {4, 5, 10, 11};
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                CpuTensor c = tensor(9, 9, 9, 9);
                b.matmul(c, transA ? aT : a, transB ? bT : bm, null, 2, 2, 3, transA, transB, false);
                assertArrayEquals(expected, read(c), "transA " + transA + " transB " + transB);
            }
        }
        CpuTensor c = tensor(1, 1, 1, 1);
        b.matmul(c, a, bm, tensor(10, 20), 2, 2, 3, false, false, true);
        assertArrayEquals(new float[] {15, 26, 21, 32}, read(c));
    }

    // ---- attention: capture and the cached path ----------------------------------------------

    @Test
    void lastRowIsTheHeadMeanOfTheLastAttentionRow() {
        int[] seqLengths = {4, 1, 3};
        int NH = 3, C = 6, N = 8, attLength = NH * (16 + 1 + 9);
        CpuTensor qkv = random(3 * N * C, 2), out = tensor(new float[N * C]), att = tensor(new float[attLength]);
        CpuTensor lastRow = tensor(new float[N]);
        b.attentionForward(out, att, lastRow, qkv, seqLengths, NH, C);
        long start = 0, attStart = 0;
        for (int T : seqLengths) {
            for (int j = 0; j < T; j++) {
                double mean = 0;
                for (int h = 0; h < NH; h++) mean += att.get(attStart + ((long) h * T + T - 1) * T + j) / NH;
                assertEquals(mean, lastRow.get(start + j), 1e-6);
            }
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    double rowSum = 0;
                    for (int j = 0; j < T; j++) {
                        float p = att.get(attStart + ((long) h * T + t) * T + j);
                        if (j > t) assertEquals(0f, p, "above the diagonal");
                        rowSum += p;
                    }
                    assertEquals(1, rowSum, 1e-6);
                }
            }
            start += T;
            attStart += (long) NH * T * T;
        }
    }

    @Test
    void cachedAttentionMatchesTheFullForward() {
        int[] seqLengths = {5, 3};
        int NH = 2, C = 6, N = 8, capacity = 7, numSeq = 2;
        int[] starts = {0, 5};
        CpuTensor qkv = random(3 * N * C, 2), out = tensor(new float[N * C]), att = tensor(new float[NH * (25 + 9)]);
        CpuTensor lastRow = tensor(new float[N]);
        b.attentionForward(out, att, lastRow, qkv, seqLengths, NH, C);
        float[] expectedOut = read(out), expectedLast = read(lastRow);

        // the cache holds each sequence's k and v rows at positions 0..T-1
        CpuTensor kCache = tensor(new float[numSeq * capacity * C]), vCache = tensor(new float[numSeq * capacity * C]);
        for (int s = 0; s < numSeq; s++) {
            for (int p = 0; p < seqLengths[s]; p++) {
                for (int c = 0; c < C; c++) {
                    long row = (long) (starts[s] + p) * 3 * C;
                    kCache.set(((long) s * capacity + p) * C + c, qkv.get(row + C + c));
                    vCache.set(((long) s * capacity + p) * C + c, qkv.get(row + 2 * C + c));
                }
            }
        }

        // prefill: every row at once, q read from qkv with stride 3C
        CpuTensor cachedOut = tensor(new float[N * C]), cachedLast = filled(numSeq * capacity, -7);
        b.attentionCached(cachedOut, qkv, 3 * C, kCache, vCache, capacity, new int[] {0, 0}, seqLengths, NH, C, cachedLast);
        assertArrayEquals(expectedOut, read(cachedOut), 1e-6f);
        assertLastRows(expectedLast, cachedLast, seqLengths, starts, capacity);

        // decode: one token at a time, finished sequences with count 0, q packed with stride C
        CpuTensor stepLast = filled(numSeq * capacity, -7);
        for (int t = 0; t < 5; t++) {
            int[] past = new int[numSeq], count = new int[numSeq];
            float[] q = new float[numSeq * C];
            int rows = 0;
            for (int s = 0; s < numSeq; s++) {
                past[s] = Math.min(t, seqLengths[s]);
                if (t >= seqLengths[s]) continue;
                count[s] = 1;
                for (int c = 0; c < C; c++) q[rows * C + c] = qkv.get((long) (starts[s] + t) * 3 * C + c);
                rows++;
            }
            CpuTensor stepOut = tensor(new float[rows * C]);
            b.attentionCached(stepOut, tensor(q), C, kCache, vCache, capacity, past, count, NH, C, stepLast);
            for (int s = 0, row = 0; s < numSeq; s++) {
                if (count[s] == 0) continue;
                float[] expectedRow = Arrays.copyOfRange(expectedOut, (starts[s] + t) * C, (starts[s] + t + 1) * C);
                assertArrayEquals(expectedRow, Arrays.copyOfRange(read(stepOut), row * C, (row + 1) * C), 1e-6f, "seq " + s + " token " + t);
                row++;
            }
        }
        assertLastRows(expectedLast, stepLast, seqLengths, starts, capacity);
    }

    /** Cached lastRow [numSeq, capacity] holds the forward's per-sequence lastRow, and -7 after it. */
    private static void assertLastRows(float[] expected, CpuTensor cached, int[] seqLengths, int[] starts, int capacity) {
        for (int s = 0; s < seqLengths.length; s++) {
            for (int j = 0; j < capacity; j++) {
                float want = j < seqLengths[s] ? expected[starts[s] + j] : -7;
                assertEquals(want, cached.get((long) s * capacity + j), 1e-6f, "sequence " + s + " position " + j);
            }
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** d loss / d t[i] by central differences, each perturbation rounded to float and divided by what it really was. */
    private static double[] numericGradient(CpuTensor t, DoubleSupplier loss) {
        double[] grad = new double[(int) t.length()];
        for (int i = 0; i < grad.length; i++) {
            float x = t.get(i), h = 1e-2f * Math.max(1, Math.abs(x));
            float up = x + h, down = x - h;
            t.set(i, up);
            double lossUp = loss.getAsDouble();
            t.set(i, down);
            double lossDown = loss.getAsDouble();
            t.set(i, x);
            grad[i] = (lossUp - lossDown) / ((double) up - down);
        }
        return grad;
    }

    private static void assertGradient(double[] numeric, CpuTensor analytic, String name) {
        double diff = 0, norm = 0;
        for (int i = 0; i < numeric.length; i++) {
            double d = analytic.get(i) - numeric[i];
            diff += d * d;
            norm += numeric[i] * numeric[i];
        }
        assertTrue(norm > 0, name + ": numeric gradient is zero");
        double err = Math.sqrt(diff / norm);
        assertTrue(err < GRADIENT_TOLERANCE, name + ": relative error " + err + " against finite differences");
    }

    /** A second backward adds the same again: every gradient doubles. */
    private static void assertAccumulates(Runnable backward, CpuTensor... grads) {
        float[][] once = new float[grads.length][];
        for (int g = 0; g < grads.length; g++) once[g] = read(grads[g]);
        backward.run();
        for (int g = 0; g < grads.length; g++) {
            float[] twice = read(grads[g]);
            for (int i = 0; i < twice.length; i++) {
                assertEquals(2 * once[g][i], twice[i], 1e-6f * Math.max(1, Math.abs(once[g][i])), "gradient " + g + "[" + i + "]");
            }
        }
    }

    private static double dot(CpuTensor a, CpuTensor b) {
        double sum = 0;
        for (long i = 0; i < a.length(); i++) sum += (double) a.get(i) * b.get(i);
        return sum;
    }

    private CpuTensor tensor(float... values) {
        CpuTensor t = b.allocate(values.length);
        owned.add(t);
        b.write(t, 0, values);
        return t;
    }

    private CpuTensor filled(int n, float value) {
        float[] x = new float[n];
        Arrays.fill(x, value);
        return tensor(x);
    }

    private CpuTensor random(int n, double halfWidth) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) random.nextDouble(-halfWidth, halfWidth);
        return tensor(x);
    }

    private static float[] read(CpuTensor c) {
        float[] x = new float[(int) c.length()];
        for (int i = 0; i < x.length; i++) x[i] = c.get(i);
        return x;
    }
}
