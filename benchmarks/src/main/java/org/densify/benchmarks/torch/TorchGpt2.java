package org.densify.benchmarks.torch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
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
import org.densify.core.model.Gpt2Model;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.Gpt2Config;

/**
 * GPT-2 written with libtorch's tensor operations (through DJL), the PyTorch peer of {@link Gpt2Model}:
 * the same forward (pre-norm blocks, causal attention, gelu_new, tied LM head), the mean next-token
 * loss, the backward by libtorch's autograd, AdamW as {@code torch.optim.AdamW} (single-tensor form,
 * which is what PyTorch runs on the CPU) with global gradient-norm clipping, and sampling with a
 * preallocated KV cache.
 *
 * <p>Weights are copied from a Densify model, the Conv1D matrices ([in, out]) transposed into
 * {@code nn.Linear}'s [out, in] so that every projection is one {@code torch::linear} (addmm), as
 * in nanoGPT. gelu_new is composed of elementwise ops: DJL's JNI exposes only the exact (erf) GELU.
 * Attention is the explicit softmax(q k^T / sqrt(hs) + mask) v: DJL does not expose
 * {@code scaled_dot_product_attention}. Both make the peer do a little more memory traffic than
 * PyTorch from Python would; the README says so next to the figures.
 */
public final class TorchGpt2 implements AutoCloseable {
    private final NDManager manager;
    private final int L, C, NH, HS, V, maxT;
    private final float eps;
    /** Parameters by Densify's (Hugging Face) names; the linear weights stored [out, in]. */
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    /** Which parameters AdamW decays (matrices and embeddings), as Densify's {@code AdamW}. */
    private final Map<String, Boolean> decayed = new LinkedHashMap<>();
    private final Map<Integer, NDArray> masks = new HashMap<>();
    private final Map<String, NDArray[]> moments = new HashMap<>();
    private int adamSteps;
    private boolean haveGradients;

    /** Copies the parameters of {@code model} (an LM with tied embeddings and no extra heads) into libtorch tensors on {@code manager}. */
    public TorchGpt2(NDManager manager, Gpt2Model model) {
        Gpt2Config config = model.config();
        if (model.hasClassifier() || model.hasValueHead() || !config.tieWordEmbeddings()) {
            throw new IllegalArgumentException("the PyTorch peer covers GPT-2 language models with tied embeddings and no extra heads");
        }
        this.manager = manager;
        this.L = config.nLayer();
        this.C = config.nEmbd();
        this.NH = config.nHead();
        this.HS = C / NH;
        this.V = config.vocabSize();
        this.maxT = config.nPositions();
        this.eps = (float) config.layerNormEpsilon();
        for (ParameterLayout.Entry e : model.layout().entries()) {
            float[] values = new float[Math.toIntExact(e.length())];
            model.backend().read(model.parameters(), e.offset(), values);
            long[] shape = e.shape();
            NDArray array;
            if (isConv1dWeight(e.name())) {
                int in = (int) shape[0], out = (int) shape[1];
                float[] transposed = new float[values.length];
                for (int i = 0; i < in; i++) {
                    for (int o = 0; o < out; o++) transposed[o * in + i] = values[i * out + o];
                }
                array = manager.create(transposed, new Shape(out, in));
            } else {
                array = manager.create(values, new Shape(shape));
            }
            NDScope.unregister(array);
            params.put(e.name(), array);
            decayed.put(e.name(), e.isMatrix());
        }
    }

    private static boolean isConv1dWeight(String name) {
        return name.endsWith("attn.c_attn.weight") || name.endsWith("attn.c_proj.weight")
                || name.endsWith("mlp.c_fc.weight") || name.endsWith("mlp.c_proj.weight");
    }

    /** A parameter's values as Densify lays them out (linear weights back in [in, out]). */
    float[] parameterValues(String name) {
        NDArray array = params.get(name);
        float[] values = array.toFloatArray();
        if (!isConv1dWeight(name)) return values;
        int out = (int) array.getShape().get(0), in = (int) array.getShape().get(1);
        float[] conv1d = new float[values.length];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) conv1d[i * out + o] = values[o * in + i];
        }
        return conv1d;
    }

    private NDArray p(String name) {
        return params.get(name);
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

    /** Inference (no autograd): the final hidden states (after ln_f) [B, T, C] of {@code tokens} [B, T]. */
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

    /** {@link #loss} without autograd, as a number. */
    public double lossValue(int[][] tokens) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return loss(tokens(tokens)).getFloat();
        }
    }

    private NDArray lmHead(NDArray hidden) {
        return linear(hidden, p("wte.weight"), null);
    }

    private NDArray trunk(NDArray tokens, int past, KvCache cache) {
        long B = tokens.getShape().get(0), T = tokens.getShape().get(1);
        NDArray x = JniUtils.embedding((PtNDArray) tokens, (PtNDArray) p("wte.weight"), false);
        x = x.add(p("wpe.weight").get(new NDIndex("{}:{}", past, past + T)));
        for (int l = 0; l < L; l++) {
            String h = "h." + l + ".";
            NDArray a = layerNorm(x, h + "ln_1");
            x = x.add(attention(a, h, l, B, T, past, cache));
            NDArray m = layerNorm(x, h + "ln_2");
            NDArray f = geluNew(linear(m, p(h + "mlp.c_fc.weight"), p(h + "mlp.c_fc.bias")));
            x = x.add(linear(f, p(h + "mlp.c_proj.weight"), p(h + "mlp.c_proj.bias")));
        }
        return layerNorm(x, "ln_f");
    }

    private NDArray attention(NDArray a, String h, int layer, long B, long T, int past, KvCache cache) {
        NDList qkv = linear(a, p(h + "attn.c_attn.weight"), p(h + "attn.c_attn.bias")).split(3, 2);
        NDArray q = splitHeads(qkv.get(0), B, T), k = splitHeads(qkv.get(1), B, T), v = splitHeads(qkv.get(2), B, T);
        if (cache != null) {
            NDIndex slots = new NDIndex(":, :, {}:{}", past, past + T);
            cache.keys[layer].set(slots, k);
            cache.values[layer].set(slots, v);
            NDIndex filled = new NDIndex(":, :, 0:{}", past + T);
            k = cache.keys[layer].get(filled);
            v = cache.values[layer].get(filled);
        } else if (past != 0) {
            throw new IllegalArgumentException("positions after 0 need a KV cache");
        }
        NDArray att = q.matMul(k.transpose(0, 1, 3, 2)).mul(1.0 / Math.sqrt(HS));
        if (T > 1) {
            if (past != 0) throw new IllegalArgumentException("the peer extends a cache one token at a time");
            att = att.add(causalMask((int) T));
        }
        NDArray y = att.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(B, T, C);
        return linear(y, p(h + "attn.c_proj.weight"), p(h + "attn.c_proj.bias"));
    }

    private NDArray splitHeads(NDArray x, long B, long T) {
        return x.reshape(B, T, NH, HS).transpose(0, 2, 1, 3);
    }

    /** [T, T], 0 on and below the diagonal, -inf above; one per length, kept with the parameters. */
    private NDArray causalMask(int T) {
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

    private NDArray layerNorm(NDArray x, String prefix) {
        return JniUtils.layerNorm((PtNDArray) x, new Shape(C), (PtNDArray) p(prefix + ".weight"), (PtNDArray) p(prefix + ".bias"), eps);
    }

    private static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return JniUtils.linear((PtNDArray) x, (PtNDArray) weight, (PtNDArray) bias);
    }

    /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's gelu_new. */
    private static NDArray geluNew(NDArray x) {
        NDArray inner = x.pow(3).mul(0.044715f).add(x).mul((float) Math.sqrt(2 / Math.PI));
        return x.mul(0.5f).mul(inner.tanh().add(1f));
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

    /** Per-layer key and value tensors [S, NH, capacity, HS], written in place as positions fill. */
    private final class KvCache implements AutoCloseable {
        final NDArray[] keys = new NDArray[L], values = new NDArray[L];

        KvCache(int sequences, int capacity) {
            for (int l = 0; l < L; l++) {
                keys[l] = manager.zeros(new Shape(sequences, NH, capacity, HS));
                values[l] = manager.zeros(new Shape(sequences, NH, capacity, HS));
                NDScope.unregister(keys[l], values[l]);
            }
        }

        @Override
        public void close() {
            for (int l = 0; l < L; l++) {
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
        if (P + newTokens > maxT) throw new IllegalArgumentException(P + " + " + newTokens + " tokens exceed n_positions " + maxT);
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
                        float[] row = new float[V];
                        System.arraycopy(logits, s * V, row, 0, V);
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
