package org.densify.benchmarks.torch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import org.densify.core.model.llama.LlamaModel;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.LlamaTensors;

/**
 * The Llama family (Llama 2/3, SmolLM2, Qwen2/2.5, Qwen3) written with libtorch's tensor operations
 * (through DJL), the PyTorch peer of {@link LlamaModel}, as Hugging Face's modeling code runs it in
 * eager mode (docs/design.md section 10): pre-RMSNorm blocks, grouped-query attention with rotary
 * positions ({@code rotate_half}, rope_theta and llama3 scaling through the config's inverse
 * frequencies), Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm, a SwiGLU MLP, a final RMSNorm
 * and a tied or untied LM head; the loss, backward, AdamW and sampling are {@link TorchPeer}'s.
 *
 * <p>Weights are copied from a Densify model as they are ({@code nn.Linear}'s [out, in] on both
 * sides). DJL's JNI has no fused RMSNorm or SiLU, so both are composed of elementwise ops (RMSNorm
 * as Hugging Face's {@code LlamaRMSNorm} composes it; SiLU as x sigmoid(x)), and attention is the
 * explicit softmax(q k^T / sqrt(hd) + mask) v, each group of H/KV query heads multiplying its shared
 * key/value head by broadcasting (no copy of the keys and values per query head).
 */
public final class TorchLlama extends TorchPeer {
    private final int L, H, KV, hd;
    private final float eps;
    private final boolean qkNorm;
    private final String headName;
    /** cos and sin of every position's rotary angles, [max positions, hd] (each half the same), computed as Densify computes them. */
    private final NDArray cos, sin;

    /** Copies the parameters of {@code model} (a language model without classifier or value head) into libtorch tensors on {@code manager}. */
    public TorchLlama(NDManager manager, LlamaModel model) {
        super(manager, model, model.config().numLayers(), model.config().numKeyValueHeads(), model.config().headDim(), name -> false);
        LlamaConfig config = model.config();
        this.L = config.numLayers();
        this.H = config.numHeads();
        this.KV = config.numKeyValueHeads();
        this.hd = config.headDim();
        this.eps = (float) config.rmsNormEps();
        this.qkNorm = config.hasQueryKeyNorm();
        this.headName = config.tieWordEmbeddings() ? "embed_tokens.weight" : LlamaTensors.LM_HEAD;
        // Densify rotates with angle = position * (float) inv_freq in double, then cos and sin rounded to float.
        double[] inverse = config.inverseFrequencies();
        int positions = model.maxSequenceLength(), half = hd / 2;
        float[] cosines = new float[positions * hd], sines = new float[positions * hd];
        for (int t = 0; t < positions; t++) {
            for (int i = 0; i < half; i++) {
                double angle = t * (double) (float) inverse[i];
                cosines[t * hd + i] = cosines[t * hd + half + i] = (float) Math.cos(angle);
                sines[t * hd + i] = sines[t * hd + half + i] = (float) Math.sin(angle);
            }
        }
        this.cos = manager.create(cosines, new Shape(positions, hd));
        this.sin = manager.create(sines, new Shape(positions, hd));
        NDScope.unregister(cos, sin);
    }

    @Override
    protected NDArray lmHead(NDArray hidden) {
        return linear(hidden, p(headName), null);
    }

    @Override
    protected NDArray trunk(NDArray tokens, int past, KvCache cache) {
        long B = tokens.getShape().get(0), T = tokens.getShape().get(1);
        NDIndex positions = new NDIndex("{}:{}", past, past + T);
        NDArray cosT = cos.get(positions), sinT = sin.get(positions);
        NDArray mask = causalMask((int) T, past);
        NDArray x = embedding(tokens, p("embed_tokens.weight"));
        for (int l = 0; l < L; l++) {
            String layer = "layers." + l + ".", mlp = layer + "mlp.";
            NDArray h = rmsNorm(x, p(layer + "input_layernorm.weight"));
            x = x.add(attention(h, layer + "self_attn.", l, B, T, past, cache, cosT, sinT, mask));
            h = rmsNorm(x, p(layer + "post_attention_layernorm.weight"));
            NDArray gate = linear(h, p(mlp + "gate_proj.weight"), null);
            NDArray up = linear(h, p(mlp + "up_proj.weight"), null);
            x = x.add(linear(gate.mul(JniUtils.sigmoid((PtNDArray) gate)).mul(up), p(mlp + "down_proj.weight"), null));
        }
        return rmsNorm(x, p("norm.weight"));
    }

    private NDArray attention(NDArray h, String a, int layer, long B, long T, int past, KvCache cache, NDArray cosT, NDArray sinT,
                              NDArray mask) {
        NDArray q = linear(h, p(a + "q_proj.weight"), optional(a + "q_proj.bias")).reshape(B, T, H, hd);
        NDArray k = linear(h, p(a + "k_proj.weight"), optional(a + "k_proj.bias")).reshape(B, T, KV, hd);
        NDArray v = linear(h, p(a + "v_proj.weight"), optional(a + "v_proj.bias")).reshape(B, T, KV, hd);
        if (qkNorm) {
            q = rmsNorm(q, p(a + "q_norm.weight"));
            k = rmsNorm(k, p(a + "k_norm.weight"));
        }
        q = rotate(q.transpose(0, 2, 1, 3), cosT, sinT); // [B, H, T, hd]
        k = rotate(k.transpose(0, 2, 1, 3), cosT, sinT); // [B, KV, T, hd]
        NDArray[] kv = keysAndValues(cache, layer, past, k, v.transpose(0, 2, 1, 3)); // [B, KV, S, hd]
        // query head j reads key/value head j / (H / KV): [B, KV, H / KV, T, hd] against [B, KV, 1, S, hd]
        NDArray grouped = q.reshape(B, KV, H / KV, T, hd);
        NDArray scores = grouped.matMul(kv[0].expandDims(2).transpose(0, 1, 2, 4, 3)).mul(1.0 / Math.sqrt(hd));
        if (mask != null) scores = scores.add(mask);
        NDArray y = scores.softmax(-1).matMul(kv[1].expandDims(2)).reshape(B, H, T, hd).transpose(0, 2, 1, 3).reshape(B, T, H * hd);
        return linear(y, p(a + "o_proj.weight"), optional(a + "o_proj.bias"));
    }

    /** x / sqrt(mean(x^2) + eps) * w over the last axis, as {@code LlamaRMSNorm}. */
    private NDArray rmsNorm(NDArray x, NDArray weight) {
        return x.mul(x.square().mean(new int[] {-1}, true).add(eps).pow(-0.5f)).mul(weight);
    }

    /** x cos + rotate_half(x) sin, rotate_half([a, b]) = [-b, a] over the two halves of each head; x [B, heads, T, hd]. */
    private static NDArray rotate(NDArray x, NDArray cosT, NDArray sinT) {
        NDList halves = x.split(2, 3);
        NDArray rotated = NDArrays.concat(new NDList(halves.get(1).neg(), halves.get(0)), 3);
        return x.mul(cosT).add(rotated.mul(sinT));
    }

    @Override
    public void close() {
        super.close();
        cos.close();
        sin.close();
    }
}
