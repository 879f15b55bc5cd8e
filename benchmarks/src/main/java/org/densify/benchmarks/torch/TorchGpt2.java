package org.densify.benchmarks.torch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.Gpt2Config;

/**
 * GPT-2 written with libtorch's tensor operations (through DJL), the PyTorch peer of {@link Gpt2Model}:
 * the same forward (pre-norm blocks, causal attention, gelu_new, tied LM head); the loss, backward,
 * AdamW and sampling are {@link TorchPeer}'s.
 *
 * <p>Weights are copied from a Densify model, the Conv1D matrices ([in, out]) transposed into
 * {@code nn.Linear}'s [out, in] so that every projection is one {@code torch::linear} (addmm), as
 * in nanoGPT. gelu_new is composed of elementwise ops: DJL's JNI exposes only the exact (erf) GELU.
 * Attention is the explicit softmax(q k^T / sqrt(hs) + mask) v: DJL does not expose
 * {@code scaled_dot_product_attention}. Both make the peer do a little more memory traffic than
 * PyTorch from Python would; the README says so next to the figures.
 */
public final class TorchGpt2 extends TorchPeer {
    private final int L, C, NH, HS;
    private final float eps;

    /** Copies the parameters of {@code model} (an LM with tied embeddings and no extra heads) into libtorch tensors on {@code manager}. */
    public TorchGpt2(NDManager manager, Gpt2Model model) {
        super(manager, model, model.config().nLayer(), model.config().nHead(), model.config().nEmbd() / model.config().nHead(),
                TorchGpt2::isConv1dWeight);
        Gpt2Config config = model.config();
        if (!config.tieWordEmbeddings()) {
            throw new IllegalArgumentException("the PyTorch peer covers GPT-2 language models with tied embeddings");
        }
        this.L = config.nLayer();
        this.C = config.nEmbd();
        this.NH = config.nHead();
        this.HS = C / NH;
        this.eps = (float) config.layerNormEpsilon();
    }

    private static boolean isConv1dWeight(String name) {
        return name.endsWith("attn.c_attn.weight") || name.endsWith("attn.c_proj.weight")
                || name.endsWith("mlp.c_fc.weight") || name.endsWith("mlp.c_proj.weight");
    }

    @Override
    protected NDArray lmHead(NDArray hidden) {
        return linear(hidden, p("wte.weight"), null);
    }

    @Override
    protected NDArray trunk(NDArray tokens, int past, KvCache cache) {
        long B = tokens.getShape().get(0), T = tokens.getShape().get(1);
        NDArray x = embedding(tokens, p("wte.weight"));
        x = x.add(p("wpe.weight").get(new NDIndex("{}:{}", past, past + T)));
        NDArray mask = causalMask((int) T, past);
        for (int l = 0; l < L; l++) {
            String h = "h." + l + ".";
            NDArray a = layerNorm(x, h + "ln_1");
            x = x.add(attention(a, h, l, B, T, past, cache, mask));
            NDArray m = layerNorm(x, h + "ln_2");
            NDArray f = geluNew(linear(m, p(h + "mlp.c_fc.weight"), p(h + "mlp.c_fc.bias")));
            x = x.add(linear(f, p(h + "mlp.c_proj.weight"), p(h + "mlp.c_proj.bias")));
        }
        return layerNorm(x, "ln_f");
    }

    private NDArray attention(NDArray a, String h, int layer, long B, long T, int past, KvCache cache, NDArray mask) {
        NDList qkv = linear(a, p(h + "attn.c_attn.weight"), p(h + "attn.c_attn.bias")).split(3, 2);
        NDArray q = splitHeads(qkv.get(0), B, T);
        NDArray[] kv = keysAndValues(cache, layer, past, splitHeads(qkv.get(1), B, T), splitHeads(qkv.get(2), B, T));
        NDArray att = q.matMul(kv[0].transpose(0, 1, 3, 2)).mul(1.0 / Math.sqrt(HS));
        if (mask != null) att = att.add(mask);
        NDArray y = att.softmax(-1).matMul(kv[1]).transpose(0, 2, 1, 3).reshape(B, T, C);
        return linear(y, p(h + "attn.c_proj.weight"), p(h + "attn.c_proj.bias"));
    }

    private NDArray splitHeads(NDArray x, long B, long T) {
        return x.reshape(B, T, NH, HS).transpose(0, 2, 1, 3);
    }

    private NDArray layerNorm(NDArray x, String prefix) {
        return JniUtils.layerNorm((PtNDArray) x, new Shape(C), (PtNDArray) p(prefix + ".weight"), (PtNDArray) p(prefix + ".bias"), eps);
    }

    /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's gelu_new. */
    private static NDArray geluNew(NDArray x) {
        NDArray inner = x.pow(3).mul(0.044715f).add(x).mul((float) Math.sqrt(2 / Math.PI));
        return x.mul(0.5f).mul(inner.tanh().add(1f));
    }
}
