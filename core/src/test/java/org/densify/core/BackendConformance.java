package org.densify.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.densify.core.cpu.ScalarBackend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * What every {@link Backend} must do: each op on seeded random inputs of awkward sizes, compared
 * with {@link ScalarBackend} (the reference), and the argument checks every backend shares. A
 * backend's test extends this class and supplies {@link #backend()}; adding an op to
 * {@link Backend} means adding its case to {@link #all()}.
 *
 * <p>A case draws its inputs from a seed of its own (its name), so every backend sees the same
 * data, and returns its outputs. Outputs an op overwrites start as NaN, so an element it forgets
 * fails the comparison; gradients start at random values and are compared as increments, so a
 * backward that overwrites instead of adding fails too. State a backward reads from its forward
 * (mean, rstd, attention probabilities) is computed by the reference, so all backends get the same.
 *
 * <p>This class ships in core's test jar: the CUDA backend's tests in kernels extend it too.
 */
public abstract class BackendConformance {
    /** Relative error allowed for forward ops and for backward ops (longer sums, gradients as increments). */
    public static final double FORWARD = 1e-5, BACKWARD = 1e-4;
    private static final int[] LENGTHS = {1, 7, 13, 17, 769, 2 * (1 << 14) + 123}; // the last spans several chunks
    private static final int[] COLUMNS = {1, 7, 13, 17, 769};
    private static final int[] ROWS = {1, 3, 37};
    /** ROWS and a count large enough for a GPU reduction to need several blocks. */
    private static final int[] MANY_ROWS = {1, 3, 37, 300};
    private static final int[][] SEQUENCES = {{1}, {5, 1, 13}, {64, 7}};
    private static final int[] HEADS = {1, 3, 4};
    private static final int[] HEAD_SIZES = {5, 13, 64};
    /** {past..., count..., capacity}: a first token, mixed prefill and decode, long decode, a sequence
     *  with no new rows, and a prefill longer than one tile after a past. */
    private static final int[][][] CACHE_CONFIGS = {
            {{0}, {1}, {4}}, {{5, 0, 12}, {1, 3, 1}, {16}}, {{63, 100}, {1, 1}, {130}}, {{3, 7}, {4, 0}, {16}}, {{9}, {40}, {50}}};
    /** {H, KV}: plain multi-head attention (one head and two), GQA 3:1, 4:1, 2:1 and 3:1 with two key/value heads. */
    private static final int[][] GROUPS = {{1, 1}, {2, 2}, {3, 1}, {4, 1}, {4, 2}, {6, 2}, {8, 2}};

    private static final ScalarBackend REFERENCE = new ScalarBackend();

    /** The backend under test; called by every test, so create it once. */
    protected abstract Backend backend();

    /** The op cases this backend runs: all of them. */
    protected List<Case> cases() {
        return all();
    }

    @TestFactory
    public Stream<DynamicTest> everyOpMatchesTheScalarBackend() {
        Backend backend = backend();
        return cases().stream().map(c -> dynamicTest(c.name(), () -> {
            double[][] ref = c.run(REFERENCE), got = c.run(backend);
            assertEquals(ref.length, got.length);
            for (int i = 0; i < ref.length; i++) {
                double err = relativeError(got[i], ref[i]);
                boolean within = c.tolerance() == 0 ? err == 0 : err < c.tolerance(); // a tolerance of 0 asks for exact copies
                assertTrue(within, c.name() + ", output " + i + ": relative error " + err + ", allowed " + c.tolerance());
            }
        }));
    }

    @Test
    public void outOfRangeIdsAndTargetsAreRejectedWithTheirValue() {
        for (Backend b : new Backend[] {REFERENCE, backend()}) {
            try (Env e = new Env(b, 1)) {
                int C = 3, V = 5, maxT = 4;
                Tensor wte = e.random(V * C, 1), wpe = e.random(maxT * C, 1), out = e.nan(2 * C);
                var badToken = assertThrows(IllegalArgumentException.class,
                        () -> b.embeddingForward(out, new int[] {0, 5}, new int[] {0, 1}, wte, wpe, C));
                assertTrue(badToken.getMessage().contains("5"), badToken.getMessage());
                var negative = assertThrows(IllegalArgumentException.class,
                        () -> b.embeddingBackward(wte, wpe, out, new int[] {-3, 1}, new int[] {0, 1}, C));
                assertTrue(negative.getMessage().contains("-3"), negative.getMessage());
                var badPosition = assertThrows(IllegalArgumentException.class,
                        () -> b.embeddingForward(out, new int[] {0, 1}, new int[] {0, 4}, wte, wpe, C));
                assertTrue(badPosition.getMessage().contains("4"), badPosition.getMessage());
                var badTarget = assertThrows(IllegalArgumentException.class,
                        () -> b.crossEntropy(e.nan(2), null, e.random(2 * V, 1), new int[] {1, 17}, 1f, 2, V));
                assertTrue(badTarget.getMessage().contains("17"), badTarget.getMessage());
            }
        }
    }

    @Test
    public void groupedAttentionRejectsUnevenGroups() {
        try (Env e = new Env(backend(), 1)) {
            Tensor t = e.random(4 * 3 * 2, 1);
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class,
                    () -> e.b.groupedAttentionForward(t, null, null, t, t, t, new int[] {2}, 3, 2, 2));
            assertTrue(x.getMessage().contains("H = 3") && x.getMessage().contains("KV = 2"), x.getMessage());
        }
    }

    // ---- the cases ---------------------------------------------------------------------------

    /** One op on inputs drawn from a seed of its own, so every backend sees the same data; {@link #run} returns the outputs. */
    public record Case(String name, double tolerance, Function<Env, double[][]> body) {
        public double[][] run(Backend backend) {
            try (Env env = new Env(backend, name.hashCode())) {
                return body.apply(env);
            }
        }
    }

    /** Every op's cases, grouped by op family as {@link Backend} lists them. */
    public static List<Case> all() {
        List<Case> cases = new ArrayList<>();
        memory(cases);
        elementwise(cases);
        embedding(cases);
        layerNorm(cases);
        cases.addAll(matmulCases(FORWARD));
        gelu(cases);
        attention(cases);
        attentionCached(cases);
        storeKeysValues(cases);
        crossEntropy(cases);
        tokenLogProbs(cases);
        adamW(cases);
        rmsNorm(cases);
        rope(cases);
        swiglu(cases);
        storeRows(cases);
        groupedAttention(cases);
        groupedAttentionCached(cases);
        return cases;
    }

    private static void memory(List<Case> cases) {
        cases.add(new Case("write, slice, copy, zero, read", 0, e -> {
            Tensor a = e.random(1000, 1), b = e.nan(1000);
            e.b.copy(b.slice(100, 800), a.slice(3, 800), 700);
            e.b.zero(b.slice(0, 100));
            e.b.zero(b.slice(800, 200));
            e.b.write(b, 950, new float[] {1, 2, 3});
            float[] part = new float[5];
            e.b.read(b, 98, part);
            double[] head = new double[5];
            for (int i = 0; i < 5; i++) head[i] = part[i];
            return new double[][] {head, e.read(b)};
        }));
    }

    private static void elementwise(List<Case> cases) {
        for (int n : LENGTHS) {
            cases.add(new Case("add n=" + n, FORWARD, e -> {
                Tensor a = e.random(n, 1), b = e.random(n, 1), out = e.nan(n);
                e.b.add(out, a, b, n);
                e.b.add(a, a, b, n); // out aliasing a
                return new double[][] {e.read(out), e.read(a)};
            }));
            cases.add(new Case("accumulate n=" + n, FORWARD, e -> {
                Tensor dst = e.random(n, 1), src = e.random(n, 1);
                e.b.accumulate(dst, src, n);
                return new double[][] {e.read(dst)};
            }));
            cases.add(new Case("scale n=" + n, FORWARD, e -> {
                Tensor x = e.random(n, 1);
                e.b.scale(x, 0.37f, n);
                return new double[][] {e.read(x)};
            }));
            cases.add(new Case("sumOfSquares n=" + n, FORWARD, e -> new double[][] {{e.b.sumOfSquares(e.random(n, 1), n)}}));
        }
        for (int M : MANY_ROWS) {
            for (int N : COLUMNS) {
                cases.add(new Case("biasBackward M=" + M + " N=" + N, BACKWARD, e -> {
                    Tensor dbias = e.gradient(N), dout = e.random((long) M * N, 1);
                    e.b.biasBackward(dbias, dout, M, N);
                    return new double[][] {e.increment(dbias)};
                }));
            }
        }
    }

    private static void embedding(List<Case> cases) {
        int V = 11, maxT = 9;
        for (int N : ROWS) {
            for (int C : COLUMNS) {
                cases.add(new Case("embeddingForward N=" + N + " C=" + C, FORWARD, e -> {
                    int[] tokens = e.ints(N, V), positions = e.ints(N, maxT);
                    Tensor out = e.nan(N * C);
                    e.b.embeddingForward(out, tokens, positions, e.random(V * C, 1), e.random(maxT * C, 1), C);
                    return new double[][] {e.read(out)};
                }));
                cases.add(new Case("embeddingBackward N=" + N + " C=" + C, BACKWARD, e -> {
                    int[] tokens = e.ints(N, V), positions = e.ints(N, maxT);
                    Tensor dwte = e.gradient(V * C), dwpe = e.gradient(maxT * C), dwteOnly = e.gradient(V * C);
                    Tensor dout = e.random((long) N * C, 1);
                    e.b.embeddingBackward(dwte, dwpe, dout, tokens, positions, C);
                    e.b.embeddingBackward(dwteOnly, null, dout, tokens, positions, C);
                    return new double[][] {e.increment(dwte), e.increment(dwpe), e.increment(dwteOnly)};
                }));
            }
        }
    }

    private static void layerNorm(List<Case> cases) {
        for (int N : MANY_ROWS) {
            for (int C : COLUMNS) {
                cases.add(new Case("layerNormForward N=" + N + " C=" + C, FORWARD, e -> {
                    Tensor in = e.random((long) N * C, 2, 3), weight = e.random(C, 1), bias = e.random(C, 1);
                    Tensor out = e.nan(N * C), mean = e.nan(N), rstd = e.nan(N), outOnly = e.nan(N * C);
                    e.b.layerNormForward(out, mean, rstd, in, weight, bias, N, C, 1e-5f);
                    e.b.layerNormForward(outOnly, null, null, in, weight, bias, N, C, 1e-5f);
                    return new double[][] {e.read(out), e.read(mean), e.read(rstd), e.read(outOnly)};
                }));
                cases.add(new Case("layerNormBackward N=" + N + " C=" + C, BACKWARD, e -> {
                    Tensor in = e.random((long) N * C, 2, 3), weight = e.random(C, 1), bias = e.random(C, 1);
                    Env ref = e.reference();
                    Tensor mean = ref.nan(N), rstd = ref.nan(N);
                    ref.b.layerNormForward(ref.nan(N * C), mean, rstd, ref.copyOf(e, in), ref.copyOf(e, weight), ref.copyOf(e, bias),
                            N, C, 1e-5f);
                    Tensor din = e.gradient(N * C), dweight = e.gradient(C), dbias = e.gradient(C);
                    e.b.layerNormBackward(din, dweight, dbias, e.random((long) N * C, 1), in, weight, e.copyOf(ref, mean),
                            e.copyOf(ref, rstd), N, C);
                    return new double[][] {e.increment(din), e.increment(dweight), e.increment(dbias)};
                }));
            }
        }
    }

    /** matmul in every combination of transposes, accumulation and bias, including K = 0, within {@code tolerance}. */
    public static List<Case> matmulCases(double tolerance) {
        List<Case> cases = new ArrayList<>();
        int[][] sizes = {{1, 1, 1}, {3, 7, 13}, {17, 13, 37}, {37, 17, 769}, {5, 4, 0}};
        for (int[] mnk : sizes) {
            for (int flags = 0; flags < 16; flags++) {
                int M = mnk[0], N = mnk[1], K = mnk[2];
                boolean transA = (flags & 1) != 0, transB = (flags & 2) != 0, accumulate = (flags & 4) != 0, hasBias = (flags & 8) != 0;
                String name = "matmul M=" + M + " N=" + N + " K=" + K + (transA ? " transA" : "") + (transB ? " transB" : "")
                        + (accumulate ? " accumulate" : "") + (hasBias ? " bias" : "");
                cases.add(new Case(name, tolerance, e -> {
                    Tensor a = e.random(Math.max(1, (long) M * K), 1), b = e.random(Math.max(1, (long) K * N), 1);
                    Tensor bias = hasBias ? e.random(N, 1) : null;
                    Tensor c = accumulate ? e.random((long) M * N, 1) : e.nan(M * N);
                    e.b.matmul(c, a, b, bias, M, N, K, transA, transB, accumulate);
                    return new double[][] {e.read(c)};
                }));
            }
        }
        return cases;
    }

    private static void gelu(List<Case> cases) {
        for (int n : LENGTHS) {
            cases.add(new Case("geluForward n=" + n, FORWARD, e -> {
                Tensor in = e.random(n, 6), out = e.nan(n);
                e.b.geluForward(out, in, n);
                return new double[][] {e.read(out)};
            }));
            cases.add(new Case("geluBackward n=" + n, BACKWARD, e -> {
                Tensor din = e.gradient(n);
                e.b.geluBackward(din, e.random(n, 6), e.random(n, 1), n);
                return new double[][] {e.increment(din)};
            }));
        }
    }

    private static void attention(List<Case> cases) {
        for (int[] seqLengths : SEQUENCES) {
            for (int NH : HEADS) {
                for (int hs : HEAD_SIZES) {
                    int C = NH * hs, N = Arrays.stream(seqLengths).sum();
                    int attLength = NH * Arrays.stream(seqLengths).map(t -> t * t).sum();
                    String shape = " T=" + Arrays.toString(seqLengths) + " NH=" + NH + " hs=" + hs;
                    cases.add(new Case("attentionForward" + shape, FORWARD, e -> {
                        Tensor qkv = e.random(3L * N * C, 2);
                        Tensor out = e.nan(N * C), att = e.nan(attLength), lastRow = e.nan(N), outOnly = e.nan(N * C);
                        Tensor rowOnly = e.nan(N), outWithRow = e.nan(N * C);
                        e.b.attentionForward(out, att, lastRow, qkv, seqLengths, NH, C);
                        e.b.attentionForward(outOnly, null, null, qkv, seqLengths, NH, C);
                        e.b.attentionForward(outWithRow, null, rowOnly, qkv, seqLengths, NH, C);
                        return new double[][] {e.read(out), e.read(att), e.read(lastRow), e.read(outOnly), e.read(rowOnly),
                                e.read(outWithRow)};
                    }));
                    cases.add(new Case("attentionBackward" + shape, BACKWARD, e -> {
                        Tensor qkv = e.random(3L * N * C, 2);
                        Env ref = e.reference();
                        Tensor att = ref.nan(attLength);
                        ref.b.attentionForward(ref.nan(N * C), att, null, ref.copyOf(e, qkv), seqLengths, NH, C);
                        Tensor dqkv = e.gradient(3 * N * C);
                        e.b.attentionBackward(dqkv, e.random((long) N * C, 1), qkv, e.copyOf(ref, att), seqLengths, NH, C);
                        return new double[][] {e.increment(dqkv)};
                    }));
                }
            }
        }
    }

    private static void attentionCached(List<Case> cases) {
        for (int[][] config : CACHE_CONFIGS) {
            for (int NH : HEADS) {
                for (int hs : new int[] {5, 64}) {
                    int[] past = config[0], count = config[1];
                    int capacity = config[2][0], numSeq = past.length, C = NH * hs, N = Arrays.stream(count).sum();
                    int qStride = hs == 5 ? C : 3 * C;
                    String name = "attentionCached past=" + Arrays.toString(past) + " count=" + Arrays.toString(count)
                            + " NH=" + NH + " hs=" + hs;
                    cases.add(new Case(name, FORWARD, e -> {
                        Tensor q = e.random((long) N * qStride, 2);
                        Tensor k = e.random((long) numSeq * capacity * C, 2), v = e.random((long) numSeq * capacity * C, 1);
                        Tensor out = e.nan(N * C), lastRow = e.filled(numSeq * capacity, 7f), outOnly = e.nan(N * C);
                        e.b.attentionCached(out, q, qStride, k, v, capacity, past, count, NH, C, lastRow);
                        e.b.attentionCached(outOnly, q, qStride, k, v, capacity, past, count, NH, C, null);
                        return new double[][] {e.read(out), e.read(lastRow), e.read(outOnly)};
                    }));
                }
            }
        }
    }

    private static void storeKeysValues(List<Case> cases) {
        int[][][] configs = {{{0}, {1}, {4}}, {{5, 0, 12}, {1, 3, 1}, {16}}, {{3, 7}, {4, 0}, {16}}, {{9}, {40}, {50}}};
        for (int[][] config : configs) {
            for (int C : new int[] {5, 64}) {
                int[] past = config[0], count = config[1];
                int capacity = config[2][0], numSeq = past.length, N = Arrays.stream(count).sum();
                String name = "storeKeysValues past=" + Arrays.toString(past) + " count=" + Arrays.toString(count) + " C=" + C;
                cases.add(new Case(name, FORWARD, e -> {
                    Tensor qkv = e.random((long) N * 3 * C, 2);
                    // positions not written keep their values: start from known, distinct contents
                    Tensor k = e.filled(numSeq * capacity * C, 3f), v = e.filled(numSeq * capacity * C, -3f);
                    e.b.storeKeysValues(k, v, qkv, past, count, capacity, C);
                    return new double[][] {e.read(k), e.read(v)};
                }));
            }
        }
    }

    private static List<int[]> lossShapes() {
        List<int[]> shapes = new ArrayList<>();
        for (int N : ROWS) for (int V : COLUMNS) shapes.add(new int[] {N, V});
        shapes.add(new int[] {2, 50257});
        return shapes;
    }

    private static void crossEntropy(List<Case> cases) {
        for (int[] shape : lossShapes()) {
            int N = shape[0], V = shape[1];
            cases.add(new Case("crossEntropy N=" + N + " V=" + V, FORWARD, e -> {
                int[] targets = e.ints(N, V);
                if (N > 1) targets[1] = -1;
                Tensor logits = e.random((long) N * V, 4);
                Tensor losses = e.nan(N), dlogits = e.nan(N * V), lossesOnly = e.nan(N), aliasedLosses = e.nan(N);
                e.b.crossEntropy(losses, dlogits, logits, targets, 0.25f, N, V);
                e.b.crossEntropy(lossesOnly, null, logits, targets, 0.25f, N, V);
                e.b.crossEntropy(aliasedLosses, logits, logits, targets, 0.25f, N, V); // dlogits written over logits
                return new double[][] {e.read(losses), e.read(dlogits), e.read(lossesOnly), e.read(aliasedLosses), e.read(logits)};
            }));
        }
    }

    private static void tokenLogProbs(List<Case> cases) {
        for (int[] shape : lossShapes()) {
            int N = shape[0], V = shape[1];
            cases.add(new Case("tokenLogProbs N=" + N + " V=" + V, FORWARD, e -> {
                int[] targets = e.ints(N, V);
                if (N > 1) targets[1] = -1;
                float[] weights = new float[N];
                for (int i = 0; i < N; i++) weights[i] = (float) Math.sin(i + 1.5);
                Tensor logits = e.random((long) N * V, 4);
                Tensor logProbs = e.nan(N), entropies = e.nan(N), logProbsOnly = e.nan(N), dlogits = e.nan(N * V);
                e.b.tokenLogProbs(logProbs, entropies, logits, targets, N, V);
                e.b.tokenLogProbs(logProbsOnly, null, logits, targets, N, V);
                e.b.tokenLogProbsBackward(dlogits, logits, targets, weights, N, V);
                e.b.tokenLogProbsBackward(logits, logits, targets, weights, N, V); // written over the logits
                return new double[][] {e.read(logProbs), e.read(entropies), e.read(logProbsOnly), e.read(dlogits), e.read(logits)};
            }));
        }
    }

    private static void adamW(List<Case> cases) {
        for (int n : LENGTHS) {
            cases.add(new Case("adamW n=" + n, FORWARD, e -> {
                // small parameters and a large lr, so the comparison measures the update, not the parameter's rounding
                Tensor params = e.random(n, 0.01), grads = e.random(n, 1), m = e.random(n, 0.1), v = e.random(n, 0.1, 0.1);
                e.b.adamW(params, grads, m, v, n, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, 0.5f);
                return new double[][] {e.read(params), e.read(m), e.read(v)};
            }));
        }
    }

    private static void rmsNorm(List<Case> cases) {
        for (int N : MANY_ROWS) {
            for (int C : COLUMNS) {
                cases.add(new Case("rmsNormForward N=" + N + " C=" + C, FORWARD, e -> {
                    Tensor in = e.random((long) N * C, 2, 1), weight = e.random(C, 1);
                    Tensor out = e.nan(N * C), rstd = e.nan(N), outOnly = e.nan(N * C);
                    e.b.rmsNormForward(out, rstd, in, weight, N, C, 1e-6f);
                    e.b.rmsNormForward(outOnly, null, in, weight, N, C, 1e-6f);
                    return new double[][] {e.read(out), e.read(rstd), e.read(outOnly)};
                }));
                // One column: x / sqrt(x^2 + eps) is flat but for eps, so its gradient would vanish under
                // the float resolution of the starting gradient; a large eps keeps it measurable.
                float eps = C == 1 ? 0.5f : 1e-6f;
                cases.add(new Case("rmsNormBackward N=" + N + " C=" + C, BACKWARD, e -> {
                    Tensor in = e.random((long) N * C, 2, 1), weight = e.random(C, 1);
                    Env ref = e.reference();
                    Tensor rstd = ref.nan(N);
                    ref.b.rmsNormForward(ref.nan(N * C), rstd, ref.copyOf(e, in), ref.copyOf(e, weight), N, C, eps);
                    Tensor din = e.gradient(N * C), dweight = e.gradient(C), dinOnly = e.gradient(N * C);
                    Tensor dout = e.random((long) N * C, 1), savedRstd = e.copyOf(ref, rstd);
                    e.b.rmsNormBackward(din, dweight, dout, in, weight, savedRstd, N, C);
                    e.b.rmsNormBackward(dinOnly, null, dout, in, weight, savedRstd, N, C);
                    return new double[][] {e.increment(din), e.increment(dweight), e.increment(dinOnly)};
                }));
            }
        }
    }

    private static void rope(List<Case> cases) {
        for (int N : ROWS) {
            for (int heads : HEADS) {
                for (int hd : new int[] {2, 6, 26, 64}) {
                    String shape = " N=" + N + " heads=" + heads + " hd=" + hd;
                    cases.add(new Case("ropeForward" + shape, FORWARD, e -> {
                        int[] positions = e.ints(N, 5000);
                        Tensor invFreq = e.random(hd / 2, 0.5, 0.5), in = e.random((long) N * heads * hd, 2);
                        Tensor out = e.nan(N * heads * hd);
                        e.b.ropeForward(out, in, positions, invFreq, N, heads, hd);
                        e.b.ropeForward(in, in, positions, invFreq, N, heads, hd); // in place
                        return new double[][] {e.read(out), e.read(in)};
                    }));
                    cases.add(new Case("ropeBackward" + shape, BACKWARD, e -> {
                        int[] positions = e.ints(N, 5000);
                        Tensor invFreq = e.random(hd / 2, 0.5, 0.5), din = e.gradient(N * heads * hd);
                        e.b.ropeBackward(din, e.random((long) N * heads * hd, 2), positions, invFreq, N, heads, hd);
                        return new double[][] {e.increment(din)};
                    }));
                }
            }
        }
    }

    private static void swiglu(List<Case> cases) {
        for (int n : LENGTHS) {
            cases.add(new Case("swigluForward n=" + n, FORWARD, e -> {
                Tensor gate = e.random(n, 8), up = e.random(n, 2), out = e.nan(n);
                e.b.swigluForward(out, gate, up, n);
                return new double[][] {e.read(out)};
            }));
            cases.add(new Case("swigluBackward n=" + n, BACKWARD, e -> {
                Tensor dgate = e.gradient(n), dup = e.gradient(n);
                e.b.swigluBackward(dgate, dup, e.random(n, 1), e.random(n, 8), e.random(n, 2), n);
                return new double[][] {e.increment(dgate), e.increment(dup)};
            }));
        }
    }

    private static void storeRows(List<Case> cases) {
        int[][][] configs = {{{0}, {1}, {4}}, {{5, 0, 12}, {1, 3, 1}, {16}}, {{3, 7}, {4, 0}, {16}}};
        for (int[][] config : configs) {
            for (int width : new int[] {6, 128}) {
                int[] past = config[0], count = config[1];
                int capacity = config[2][0], numSeq = past.length, N = Arrays.stream(count).sum();
                String name = "storeRows past=" + Arrays.toString(past) + " count=" + Arrays.toString(count) + " width=" + width;
                cases.add(new Case(name, FORWARD, e -> {
                    Tensor rows = e.random((long) N * width, 2), cache = e.filled(numSeq * capacity * width, 3f);
                    e.b.storeRows(cache, rows, past, count, capacity, width);
                    return new double[][] {e.read(cache)};
                }));
            }
        }
    }

    private static void groupedAttention(List<Case> cases) {
        for (int[] seqLengths : SEQUENCES) {
            for (int[] group : GROUPS) {
                for (int hd : new int[] {5, 6, 13, 64}) groupedAttention(cases, seqLengths, group[0], group[1], hd);
            }
        }
        // Qwen3's head size: more than 48 KiB of shared memory per block on a GPU
        groupedAttention(cases, SEQUENCES[1], 4, 1, 128);
    }

    private static void groupedAttention(List<Case> cases, int[] seqLengths, int H, int KV, int hd) {
        int N = Arrays.stream(seqLengths).sum(), qWidth = H * hd, kvWidth = KV * hd;
        int attLength = H * Arrays.stream(seqLengths).map(t -> t * t).sum();
        String shape = " T=" + Arrays.toString(seqLengths) + " H=" + H + " KV=" + KV + " hd=" + hd;
        cases.add(new Case("groupedAttentionForward" + shape, FORWARD, e -> {
            Tensor q = e.random((long) N * qWidth, 2), k = e.random((long) N * kvWidth, 2), v = e.random((long) N * kvWidth, 1);
            Tensor out = e.nan(N * qWidth), att = e.nan(attLength), lastRow = e.nan(N), outOnly = e.nan(N * qWidth);
            Tensor rowOnly = e.nan(N), outWithRow = e.nan(N * qWidth);
            e.b.groupedAttentionForward(out, att, lastRow, q, k, v, seqLengths, H, KV, hd);
            e.b.groupedAttentionForward(outOnly, null, null, q, k, v, seqLengths, H, KV, hd);
            e.b.groupedAttentionForward(outWithRow, null, rowOnly, q, k, v, seqLengths, H, KV, hd);
            return new double[][] {e.read(out), e.read(att), e.read(lastRow), e.read(outOnly), e.read(rowOnly), e.read(outWithRow)};
        }));
        cases.add(new Case("groupedAttentionBackward" + shape, BACKWARD, e -> {
            Tensor q = e.random((long) N * qWidth, 2), k = e.random((long) N * kvWidth, 2), v = e.random((long) N * kvWidth, 1);
            Env ref = e.reference();
            Tensor att = ref.nan(attLength);
            ref.b.groupedAttentionForward(ref.nan(N * qWidth), att, null, ref.copyOf(e, q), ref.copyOf(e, k), ref.copyOf(e, v),
                    seqLengths, H, KV, hd);
            Tensor dq = e.gradient(N * qWidth), dk = e.gradient(N * kvWidth), dv = e.gradient(N * kvWidth);
            e.b.groupedAttentionBackward(dq, dk, dv, e.random((long) N * qWidth, 1), q, k, v, e.copyOf(ref, att), seqLengths, H, KV, hd);
            return new double[][] {e.increment(dq), e.increment(dk), e.increment(dv)};
        }));
    }

    private static void groupedAttentionCached(List<Case> cases) {
        for (int[][] config : CACHE_CONFIGS) {
            for (int[] group : new int[][] {{1, 1}, {3, 1}, {4, 2}, {6, 2}, {8, 2}}) {
                for (int hd : new int[] {6, 64}) {
                    int[] past = config[0], count = config[1];
                    int H = group[0], KV = group[1], capacity = config[2][0], numSeq = past.length, N = Arrays.stream(count).sum();
                    int qWidth = H * hd;
                    long cacheLength = (long) numSeq * capacity * KV * hd;
                    String name = "groupedAttentionCached past=" + Arrays.toString(past) + " count=" + Arrays.toString(count)
                            + " H=" + H + " KV=" + KV + " hd=" + hd;
                    cases.add(new Case(name, FORWARD, e -> {
                        Tensor q = e.random((long) N * qWidth, 2), k = e.random(cacheLength, 2), v = e.random(cacheLength, 1);
                        Tensor out = e.nan(N * qWidth), lastRow = e.filled(numSeq * capacity, 7f), outOnly = e.nan(N * qWidth);
                        e.b.groupedAttentionCached(out, q, k, v, capacity, past, count, H, KV, hd, lastRow);
                        e.b.groupedAttentionCached(outOnly, q, k, v, capacity, past, count, H, KV, hd, null);
                        return new double[][] {e.read(out), e.read(lastRow), e.read(outOnly)};
                    }));
                }
            }
        }
    }

    // ---- comparing and holding tensors -------------------------------------------------------

    /** ||got - ref|| / ||ref|| (plain ||got - ref|| when ref is 0); NaN anywhere gives NaN, which fails. */
    public static double relativeError(double[] got, double[] ref) {
        assertEquals(ref.length, got.length);
        double diff = 0, norm = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = got[i] - ref[i];
            diff += d * d;
            norm += ref[i] * ref[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    public static double relativeError(float[] got, float[] ref) {
        double[] a = new double[got.length], b = new double[ref.length];
        for (int i = 0; i < a.length; i++) a[i] = got[i];
        for (int i = 0; i < b.length; i++) b[i] = ref[i];
        return relativeError(a, b);
    }

    /**
     * Tensors of one case on one backend ({@link #b}), freed at the end; every tensor remembers the
     * values it was written with, so {@link #increment} gives what an op added to a gradient.
     */
    public static final class Env implements AutoCloseable {
        /** The backend the case runs on. */
        public final Backend b;
        private final SplittableRandom random;
        private final List<Tensor> owned = new ArrayList<>();
        private final Map<Tensor, float[]> initial = new HashMap<>();
        private Env reference;

        public Env(Backend b, long seed) {
            this.b = b;
            this.random = new SplittableRandom(seed);
        }

        public Tensor of(float[] values) {
            Tensor t = b.allocate(values.length);
            owned.add(t);
            b.write(t, 0, values);
            initial.put(t, values.clone());
            return t;
        }

        /** Uniform in [center - halfWidth, center + halfWidth). */
        public Tensor random(long n, double halfWidth, double center) {
            float[] x = new float[Math.toIntExact(n)];
            for (int i = 0; i < x.length; i++) x[i] = (float) (center + random.nextDouble(-halfWidth, halfWidth));
            return of(x);
        }

        public Tensor random(long n, double halfWidth) {
            return random(n, halfWidth, 0);
        }

        public Tensor filled(int n, float value) {
            float[] x = new float[n];
            Arrays.fill(x, value);
            return of(x);
        }

        public Tensor nan(int n) {
            return filled(n, Float.NaN);
        }

        /** Random starting values; {@link #increment} later gives what the op added. */
        public Tensor gradient(int n) {
            return random(n, 1);
        }

        public int[] ints(int n, int bound) {
            return random.ints(n, 0, bound).toArray();
        }

        /**
         * Tensors on the scalar backend, freed with this one's: where a backward reads what its
         * forward saved, the reference computes it, so every backend under test gets the same.
         */
        public Env reference() {
            if (reference == null) reference = new Env(REFERENCE, 0);
            return reference;
        }

        /** A new tensor here holding {@code t}'s present values on {@code from}'s backend. */
        public Tensor copyOf(Env from, Tensor t) {
            float[] x = new float[Math.toIntExact(t.length())];
            from.b.read(t, 0, x);
            return of(x);
        }

        public double[] read(Tensor t) {
            float[] x = new float[Math.toIntExact(t.length())];
            b.read(t, 0, x);
            double[] wide = new double[x.length];
            for (int i = 0; i < x.length; i++) wide[i] = x[i];
            return wide;
        }

        public double[] increment(Tensor t) {
            double[] now = read(t);
            float[] start = initial.get(t);
            for (int i = 0; i < now.length; i++) now[i] -= start[i];
            return now;
        }

        @Override
        public void close() {
            owned.forEach(b::free);
            if (reference != null) reference.close();
        }
    }
}
