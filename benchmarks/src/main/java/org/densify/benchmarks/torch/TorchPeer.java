package org.densify.benchmarks.torch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;

/**
 * What the PyTorch peers of every family ({@link TorchGpt2}, {@link TorchLlama}) share around their
 * own trunk: the parameters copied from a Densify {@link LanguageModel} into libtorch tensors, the
 * mean next-token loss, the backward by libtorch's autograd, AdamW as {@code torch.optim.AdamW}
 * (single-tensor form, which is what PyTorch runs on the CPU) after global gradient-norm clipping,
 * and sampling with a preallocated KV cache, drawing in Java with Densify's {@link Sampler}.
 *
 * <p>A family supplies the trunk (embedding to final norm, writing to and reading from the cache
 * through {@link #keysAndValues}) and the LM head.
 */
public abstract class TorchPeer implements AutoCloseable {
    protected final NDManager manager;
    private final int layers, cacheHeads, headSize, vocab, maxPositions;
    /** Linear weights Densify stores [in, out] (GPT-2's Conv1D), kept here transposed to {@code nn.Linear}'s [out, in]. */
    private final Predicate<String> storedTransposed;
    /** Parameters by Densify's (Hugging Face canonical) names, in Densify's layout order. */
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    /** Which parameters AdamW decays (matrices and embeddings), as Densify's {@code AdamW}. */
    private final Map<String, Boolean> decayed = new LinkedHashMap<>();
    private final Map<Integer, NDArray> masks = new HashMap<>();
    private final Map<String, NDArray[]> moments = new HashMap<>();
    private int adamSteps;
    private boolean haveGradients;

    /**
     * Copies every parameter of {@code model} (a language model without classifier or value head)
     * into libtorch tensors on {@code manager}; the cache holds {@code cacheHeads} key/value heads of
     * {@code headSize} per layer.
     */
    protected TorchPeer(NDManager manager, LanguageModel model, int layers, int cacheHeads, int headSize, Predicate<String> storedTransposed) {
        if (model.hasClassifier() || model.hasValueHead()) {
            throw new IllegalArgumentException("the PyTorch peer covers language models without classifier or value head");
        }
        this.manager = manager;
        this.layers = layers;
        this.cacheHeads = cacheHeads;
        this.headSize = headSize;
        this.vocab = model.vocabSize();
        this.maxPositions = model.maxSequenceLength();
        this.storedTransposed = storedTransposed;
        for (ParameterLayout.Entry e : model.layout().entries()) {
            float[] values = new float[Math.toIntExact(e.length())];
            model.backend().read(model.parameters(), e.offset(), values);
            long[] shape = e.shape();
            NDArray array;
            if (storedTransposed.test(e.name())) {
                int in = (int) shape[0], out = (int) shape[1];
                array = manager.create(transpose(values, in, out), new Shape(out, in));
            } else {
                array = manager.create(values, new Shape(shape));
            }
            NDScope.unregister(array);
            params.put(e.name(), array);
            decayed.put(e.name(), e.isMatrix());
        }
    }

    /** [rows, columns] row-major to [columns, rows]. */
    private static float[] transpose(float[] values, int rows, int columns) {
        float[] transposed = new float[values.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) transposed[c * rows + r] = values[r * columns + c];
        }
        return transposed;
    }

    /** A parameter's values as Densify lays them out. */
    float[] parameterValues(String name) {
        NDArray array = params.get(name);
        float[] values = array.toFloatArray();
        if (!storedTransposed.test(name)) return values;
        return transpose(values, (int) array.getShape().get(0), (int) array.getShape().get(1));
    }

    /** The parameter called {@code name}; throws when the model has none. */
    protected final NDArray p(String name) {
        NDArray array = params.get(name);
        if (array == null) throw new IllegalStateException("the model has no parameter " + name);
        return array;
    }

    /** The parameter called {@code name}, or null when the model has none (optional biases, untied heads). */
    protected final NDArray optional(String name) {
        return params.get(name);
    }

    // ---- what a family supplies ---------------------------------------------------------------

    /**
     * The final hidden states [B, T, C] of {@code tokens} [B, T] at positions {@code past ..
     * past + T - 1}; with a cache, each layer's keys and values go through {@link #keysAndValues}.
     */
    protected abstract NDArray trunk(NDArray tokens, int past, KvCache cache);

    /** Logits [..., V] of hidden states [..., C]. */
    protected abstract NDArray lmHead(NDArray hidden);

    // ---- shared pieces of a trunk -------------------------------------------------------------

    protected static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return JniUtils.linear((PtNDArray) x, (PtNDArray) weight, (PtNDArray) bias);
    }

    protected static NDArray embedding(NDArray tokens, NDArray table) {
        return JniUtils.embedding((PtNDArray) tokens, (PtNDArray) table, false);
    }

    /**
     * This layer's keys and values [B, heads, past + T, hs] for attention: {@code k} and {@code v}
     * [B, heads, T, hs] themselves without a cache (then {@code past} must be 0), else the cache's
     * positions {@code 0 .. past + T - 1} after writing them at {@code past}.
     */
    protected static NDArray[] keysAndValues(KvCache cache, int layer, int past, NDArray k, NDArray v) {
        if (cache == null) {
            if (past != 0) throw new IllegalArgumentException("positions after 0 need a KV cache");
            return new NDArray[] {k, v};
        }
        long T = k.getShape().get(2);
        NDIndex slots = new NDIndex(":, :, {}:{}", past, past + T);
        cache.keys[layer].set(slots, k);
        cache.values[layer].set(slots, v);
        NDIndex filled = new NDIndex(":, :, 0:{}", past + T);
        return new NDArray[] {cache.keys[layer].get(filled), cache.values[layer].get(filled)};
    }

    /**
     * The additive causal mask [T, T] (0 on and below the diagonal, -inf above) for {@code T} new
     * positions after {@code past}, or null for one new position (it sees every cached one).
     */
    protected final NDArray causalMask(int T, int past) {
        if (T == 1) return null;
        if (past != 0) throw new IllegalArgumentException("the peer extends a cache one token at a time");
        return masks.computeIfAbsent(T, n -> {
            float[] mask = new float[n * n];
            for (int i = 0; i < n; i++) {
                for (int j = i + 1; j < n; j++) mask[i * n + j] = Float.NEGATIVE_INFINITY;
            }
            NDArray m = manager.create(mask, new Shape(n, n));
            NDScope.unregister(m);
            return m;
        });
    }

    // ---- forward ------------------------------------------------------------------------------

    /** Token ids [B, T] as an int64 tensor (attached to the current scope). */
    public NDArray tokens(int[][] rows) {
        long[] flat = new long[rows.length * rows[0].length];
        for (int b = 0; b < rows.length; b++) {
            if (rows[b].length != rows[0].length) throw new IllegalArgumentException("the peer takes sequences of one length");
            for (int t = 0; t < rows[b].length; t++) flat[b * rows[0].length + t] = rows[b][t];
        }
        return manager.create(flat, new Shape(rows.length, rows[0].length));
    }

    /** Inference (no autograd): the final hidden states (after the final norm) [B, T, C] of {@code tokens} [B, T]. */
    public NDArray hidden(NDArray tokens) {
        JniUtils.setGradMode(false); // thread-local in libtorch, and on by default
        return trunk(tokens, 0, null);
    }

    /** Inference (no autograd): logits [B, T, V] of every position. */
    public NDArray logits(NDArray tokens) {
        JniUtils.setGradMode(false);
        return lmHead(trunk(tokens, 0, null));
    }

    /** Mean next-token cross-entropy over every predicted position (a scalar tensor), under the caller's grad mode. */
    private NDArray loss(NDArray tokens) {
        long T = tokens.getShape().get(1);
        NDArray logits = lmHead(trunk(tokens, 0, null));
        NDArray logProbs = logits.get(new NDIndex(":, 0:{}", T - 1)).logSoftmax(-1);
        NDArray targets = tokens.get(new NDIndex(":, 1:")).expandDims(-1);
        return logProbs.gather(targets, -1).mean().neg();
    }

    /** The mean next-token loss without autograd, as a number. */
    public double lossValue(int[][] tokens) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return loss(tokens(tokens)).getFloat();
        }
    }

    // ---- training -----------------------------------------------------------------------------

    /** Forward, loss and backward of {@code tokens} into fresh gradients (zeroed first); returns the loss. */
    public double forwardBackward(int[][] tokens) {
        for (NDArray array : params.values()) {
            if (!array.hasGradient()) array.setRequiresGradient(true);
        }
        zeroGradients();
        try (NDScope scope = new NDScope();
             GradientCollector collector = manager.getEngine().newGradientCollector()) {
            scope.suppressNotUsedWarning();
            NDArray loss = loss(tokens(tokens));
            collector.backward(loss);
            haveGradients = true;
            return loss.getFloat();
        } finally {
            JniUtils.setGradMode(false);
        }
    }

    private void zeroGradients() {
        if (!haveGradients) return; // libtorch allocates them in the first backward
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            for (NDArray array : params.values()) JniUtils.zeroGrad((PtNDArray) array);
        }
    }

    /**
     * One AdamW step as {@code torch.nn.utils.clip_grad_norm_(max_norm)} then {@code torch.optim.AdamW}
     * (eps added to sqrt(v)/sqrt(1 - beta2^t), decoupled decay lr * wd on matrices and embeddings only).
     *
     * @return the gradient norm before clipping
     */
    public double adamW(float lr, float beta1, float beta2, float epsilon, float weightDecay, float maxGradNorm) {
        JniUtils.setGradMode(false);
        adamSteps++;
        double bias1 = 1 - Math.pow(beta1, adamSteps), bias2Sqrt = Math.sqrt(1 - Math.pow(beta2, adamSteps));
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            List<NDArray> grads = new ArrayList<>(params.size());
            NDArray sumSquares = null;
            for (NDArray array : params.values()) {
                NDArray g = array.getGradient();
                grads.add(g);
                NDArray s = g.norm().square();
                sumSquares = sumSquares == null ? s : sumSquares.addi(s);
            }
            double norm = Math.sqrt(sumSquares.getFloat());
            if (!Double.isFinite(norm)) throw new IllegalStateException("the peer's gradient norm is " + norm);
            if (maxGradNorm > 0 && maxGradNorm / (norm + 1e-6) < 1) {
                for (NDArray g : grads) g.muli((float) (maxGradNorm / (norm + 1e-6)));
            }
            int i = 0;
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                NDArray param = e.getValue(), g = grads.get(i++);
                NDArray[] mv = moments.computeIfAbsent(e.getKey(), name -> {
                    NDArray m = manager.zeros(param.getShape()), v = manager.zeros(param.getShape());
                    NDScope.unregister(m, v);
                    return new NDArray[] {m, v};
                });
                // one scope per tensor, so that its temporaries are freed before the next tensor's
                try (NDScope tensorScope = new NDScope()) {
                    tensorScope.suppressNotUsedWarning();
                    if (decayed.get(e.getKey()) && weightDecay != 0) param.muli(1 - lr * weightDecay);
                    mv[0].muli(beta1).addi(g.mul(1 - beta1));
                    mv[1].muli(beta2).addi(g.square().muli(1 - beta2));
                    NDArray denominator = mv[1].sqrt().divi((float) bias2Sqrt).addi(epsilon);
                    param.subi(mv[0].div(denominator).muli((float) (lr / bias1)));
                }
            }
            return norm;
        }
    }

    // ---- sampling -----------------------------------------------------------------------------

    /** Per-layer key and value tensors [S, heads, capacity, hs], written in place as positions fill. */
    protected final class KvCache implements AutoCloseable {
        final NDArray[] keys = new NDArray[layers], values = new NDArray[layers];

        KvCache(int sequences, int capacity) {
            for (int l = 0; l < layers; l++) {
                keys[l] = manager.zeros(new Shape(sequences, cacheHeads, capacity, headSize));
                values[l] = manager.zeros(new Shape(sequences, cacheHeads, capacity, headSize));
                NDScope.unregister(keys[l], values[l]);
            }
        }

        @Override
        public void close() {
            for (int l = 0; l < layers; l++) {
                keys[l].close();
                values[l].close();
            }
        }
    }

    /**
     * Samples {@code newTokens} tokens after each prompt (all of one length) with a KV cache: one
     * prefill over the prompts, then one token per sequence per step, drawing with Densify's {@link
     * Sampler} from one generator in sequence order, as Densify's {@code Generator} does; so with the
     * same weights and seed both draw the same tokens unless a draw falls within rounding of a boundary.
     */
    public int[][] generate(int[][] prompts, int newTokens, Sampler sampler, long seed) {
        JniUtils.setGradMode(false);
        int S = prompts.length, P = prompts[0].length;
        if (P + newTokens > maxPositions) {
            throw new IllegalArgumentException(P + " + " + newTokens + " tokens exceed the model's " + maxPositions + " positions");
        }
        SplittableRandom random = new SplittableRandom(seed);
        int[][] out = new int[S][newTokens];
        try (KvCache cache = new KvCache(S, P + newTokens)) {
            int[][] input = prompts;
            int past = 0;
            for (int step = 0; step < newTokens; step++) {
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    long T = input[0].length;
                    NDArray last = trunk(tokens(input), past, cache).get(new NDIndex(":, {}", T - 1));
                    float[] logits = lmHead(last).toFloatArray();
                    past += (int) T;
                    int[][] next = new int[S][1];
                    for (int s = 0; s < S; s++) {
                        float[] row = new float[vocab];
                        System.arraycopy(logits, s * vocab, row, 0, vocab);
                        out[s][step] = sampler.draw(row, random).token();
                        next[s][0] = out[s][step];
                    }
                    input = next;
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        for (NDArray array : params.values()) array.close();
        for (NDArray m : masks.values()) m.close();
        for (NDArray[] mv : moments.values()) {
            mv[0].close();
            mv[1].close();
        }
    }
}
