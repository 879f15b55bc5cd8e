package org.densify.core.model.llama;

import static org.densify.core.model.Dense.LINEAR;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.core.model.Batch;
import org.densify.core.model.DecoderModel;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.OutputHeads;
import org.densify.core.model.Heads;
import org.densify.core.model.ModelShape;
import org.densify.core.model.KvCache;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.LlamaFolder;
import org.densify.loaders.model.LlamaTensors;
import org.densify.loaders.model.LlamaWriter;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelFormatException;
import org.densify.loaders.model.ModelKind;

/**
 * The Llama family (Llama 2/3, SmolLM2, Qwen2/2.5, Qwen3) on a {@link Backend}, as Hugging Face runs
 * it (docs/design.md section 10): pre-RMSNorm blocks, grouped-query attention with rotary positions
 * (Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm), a SwiGLU MLP, a final RMSNorm, and an LM
 * head tied to the embedding or not; a classifier ({@code score.weight}) and TRL's value head on top.
 * Parameters, gradients and activations each live in one block of named slices, as for GPT-2.
 */
public final class LlamaModel extends DecoderModel<LlamaConfig> {
    /** Layers, hidden size, MLP width, query heads, key/value heads, head size, q and k/v projection widths. */
    final int L, d, F, H, KV, hd, qWidth, kvWidth;
    final boolean qkNorm;
    final float eps;

    private final Weights w;
    private Weights dw;
    /** [hd / 2] rotary inverse frequencies, computed once on the host (llama3 scaling included). */
    private final Tensor invFreq;
    /** [d] zeros: the position-embedding row the shared embedding op adds (Llama has no position embedding). */
    private final Tensor noPosition;

    private LlamaModel(Backend backend, LlamaConfig config, Heads heads) {
        super(backend, config, new ParameterLayout(ModelShape.of(config).parameterShapes(heads)), config.vocabSize(), config.hiddenSize(),
                config.maxPositionEmbeddings(), "max_position_embeddings", heads.classifier() ? config.numLabels() : 0);
        this.L = config.numLayers();
        this.d = config.hiddenSize();
        this.F = config.intermediateSize();
        this.H = config.numHeads();
        this.KV = config.numKeyValueHeads();
        this.hd = config.headDim();
        this.qWidth = config.queryWidth();
        this.kvWidth = config.keyValueWidth();
        this.qkNorm = config.hasQueryKeyNorm();
        this.eps = (float) config.rmsNormEps();
        this.w = new Weights(this, params);
        double[] f = config.inverseFrequencies();
        float[] f32 = new float[f.length];
        for (int i = 0; i < f.length; i++) f32[i] = (float) f[i];
        this.invFreq = backend.allocate(f.length);
        backend.write(invFreq, 0, f32);
        this.noPosition = backend.allocate(d);
    }

    @Override
    protected void gradientsAllocated(Tensor gradients) {
        dw = new Weights(this, gradients);
    }

    @Override
    protected void closeFamilyBuffers() {
        backend.free(invFreq);
        backend.free(noPosition);
    }

    // ---- construction ------------------------------------------------------------------------

    /** A model with every parameter 0; see {@link #initialize}. */
    public static LlamaModel create(Backend backend, LlamaConfig config, Heads heads) {
        return new LlamaModel(backend, config, heads);
    }

    /** Loads a folder with the heads it stores. */
    public static LlamaModel load(Backend backend, Path dir) throws IOException {
        try (LlamaFolder folder = LlamaFolder.open(dir)) {
            return load(backend, folder, Heads.of(folder.hasTensor(LlamaTensors.SCORE), folder.hasValueHead()), 0);
        }
    }

    /**
     * Loads a folder with the requested heads; a requested head the folder lacks starts fresh
     * (normal(0, initializer_range) weights, zero bias, from {@code seed}); an unrequested stored head is left out.
     */
    public static LlamaModel load(Backend backend, LlamaFolder folder, Heads heads, long seed) throws IOException {
        return load(backend, folder, folder.config(), heads, seed);
    }

    /**
     * Loads a folder's weights into a model of {@code config} (the folder's, with other labels or
     * pad token: what a classifier made from a language model is saved with); see {@link #load(Backend, LlamaFolder, Heads, long)}.
     */
    public static LlamaModel load(Backend backend, LlamaFolder folder, LlamaConfig config, Heads heads, long seed) throws IOException {
        if (heads.classifier() && config.numLabels() < 1) {
            throw new ModelFormatException(folder.dir() + "/config.json: a classifier head needs num_labels >= 1");
        }
        LlamaModel model = new LlamaModel(backend, config, heads);
        try {
            model.loadParameters(folder, LlamaTensors.VALUE_HEAD_BIAS, config.initializerRange(), seed);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Hugging Face's initialisation: matrices and embeddings normal(0, initializer_range), biases 0, RMSNorm weights 1. */
    @Override
    public void initialize(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        double std = config.initializerRange();
        for (ParameterLayout.Entry e : layout.entries()) {
            float[] values = new float[Math.toIntExact(e.length())];
            if (e.name().endsWith("norm.weight")) {
                Arrays.fill(values, 1f);
            } else if (e.isMatrix()) {
                for (int i = 0; i < values.length; i++) values[i] = (float) (random.nextGaussian() * std);
            }
            backend.write(params, e.offset(), values);
        }
    }

    /** Writes a Hugging Face folder of {@code kind} (a bare model keeps only the body). */
    @Override
    public void save(Path dir, ModelKind kind) throws IOException {
        LlamaWriter writer = new LlamaWriter(config, kind);
        Map<String, long[]> body = LlamaTensors.body(config);
        readParameters(name -> kind != ModelKind.BASE || body.containsKey(name), writer::put);
        writer.write(dir);
    }

    // ---- accessors ---------------------------------------------------------------------------

    @Override
    public ModelFamily family() {
        return config.family();
    }

    @Override
    public ModelShape shape() {
        return ModelShape.of(config);
    }

    @Override
    public boolean hasValueHead() {
        return layout.has(LlamaTensors.VALUE_HEAD_WEIGHT);
    }

    // ---- forward -----------------------------------------------------------------------------

    @Override
    public Outputs forward(Batch batch, ForwardOptions options) {
        checkTokens(batch.tokens(), batch.seqLengths());
        long pass = passes.next();
        int N = batch.tokenCount();
        LlamaActivations a = LlamaActivations.forBatch(this, acts, N, batch.size(), batch.attentionSize(H), options);
        embed(a, batch.tokens());
        trunk(a, batch.positions(), batch.seqLengths(), null, null, null);
        heads(a, batch.lastIndices());
        Tensor[] maps = new Tensor[L];
        for (int l = 0; l < L; l++) maps[l] = a.layer(l).att();
        Outputs.Views views = new Outputs.Views(a.logits, labels > 0 ? a.scores : null, hasValueHead() ? a.values : null, a.lastRow,
                maps, a.normed, w.score);
        return new Outputs(this, passes, pass, a, batch, options, views, H);
    }

    @Override
    public double languageModelLoss(Outputs out) {
        out.checkCurrent();
        LlamaActivations a = out.state(this, LlamaActivations.class);
        return meanNextTokenLoss(out, a.options, a.logits, a.losses);
    }

    @Override
    public void backward(Outputs out, float[] dvalues, float[][] dscores) {
        LlamaActivations a = out.state(this, LlamaActivations.class);
        out.checkCurrent();
        requireTraining(a.options);
        gradients();
        int N = out.tokenCount(), S = out.batch().size();
        LlamaActivations.Grads g = LlamaActivations.Grads.layOut(this, gradActs, N, S);

        // ---- heads -> dnormed [N, d]
        outputHeads().backward(headBuffers(a), headWeights(w), headWeights(dw), new OutputHeads.Scratch(g.dnormed, g.dlastNormed, g.dvalues, g.dscores),
                out.holdsLogitGradient(), dvalues, dscores, N, out.batch().lastIndices());

        // ---- final norm -> dres [N, d]
        backend.zero(g.dres);
        backend.rmsNormBackward(g.dres, dw.norm, g.dnormed, a.layer(L - 1).res2(), w.norm, a.normRstd, N, d);

        int[] lengths = out.batch().seqLengths(), positions = out.batch().positions();
        for (int l = L - 1; l >= 0; l--) {
            LlamaActivations.Layer x = a.layer(l);
            Weights.Layer p = w.layers[l], dp = dw.layers[l];
            Tensor residual = l == 0 ? a.embedded : a.layer(l - 1).res2();

            // MLP: res2 = res1 + down(silu(gate(ln2)) * up(ln2)), ln2 = rms(res1)
            LINEAR.backwardInput(backend, g.dhidden, g.dres, p.down(), N, F, d);
            LINEAR.backwardWeight(backend, dp.down(), g.dres, x.hidden(), N, F, d);
            backend.zero(g.dgate);
            backend.zero(g.dup);
            backend.swigluBackward(g.dgate, g.dup, g.dhidden, x.gate(), x.up(), (long) N * F);
            LINEAR.backwardInput(backend, g.dln, g.dgate, p.gate(), N, d, F);
            LINEAR.addBackwardInput(backend, g.dln, g.dup, p.up(), N, d, F);
            LINEAR.backwardWeight(backend, dp.gate(), g.dgate, x.ln2(), N, d, F);
            LINEAR.backwardWeight(backend, dp.up(), g.dup, x.ln2(), N, d, F);
            backend.rmsNormBackward(g.dres, dp.postNorm(), g.dln, x.res1(), p.postNorm(), x.rstd2(), N, d);

            // attention: res1 = residual + o(attn(rope(q), rope(k), v)), q/k/v = proj(rms(residual))
            LINEAR.backwardInput(backend, g.datty, g.dres, p.o(), N, qWidth, d);
            LINEAR.backwardWeight(backend, dp.o(), g.dres, x.atty(), N, qWidth, d);
            if (p.oBias() != null) backend.biasBackward(dp.oBias(), g.dres, N, d);
            backend.zero(g.dqRot);
            backend.zero(g.dkRot);
            backend.zero(g.dv);
            backend.groupedAttentionBackward(g.dqRot, g.dkRot, g.dv, g.datty, x.qRot(), x.kRot(), x.v(), x.att(), lengths, H, KV, hd);
            Tensor dq = qkNorm ? g.dqNormed : g.dq, dk = qkNorm ? g.dkNormed : g.dk;
            backend.zero(dq);
            backend.zero(dk);
            backend.ropeBackward(dq, g.dqRot, positions, invFreq, N, H, hd);
            backend.ropeBackward(dk, g.dkRot, positions, invFreq, N, KV, hd);
            if (qkNorm) {
                backend.zero(g.dq);
                backend.zero(g.dk);
                backend.rmsNormBackward(g.dq, dp.qNorm(), g.dqNormed, x.q(), p.qNorm(), x.qRstd(), N * H, hd);
                backend.rmsNormBackward(g.dk, dp.kNorm(), g.dkNormed, x.k(), p.kNorm(), x.kRstd(), N * KV, hd);
            }
            LINEAR.backwardInput(backend, g.dln, g.dq, p.q(), N, d, qWidth);
            LINEAR.addBackwardInput(backend, g.dln, g.dk, p.k(), N, d, kvWidth);
            LINEAR.addBackwardInput(backend, g.dln, g.dv, p.v(), N, d, kvWidth);
            LINEAR.backwardWeight(backend, dp.q(), g.dq, x.ln1(), N, d, qWidth);
            LINEAR.backwardWeight(backend, dp.k(), g.dk, x.ln1(), N, d, kvWidth);
            LINEAR.backwardWeight(backend, dp.v(), g.dv, x.ln1(), N, d, kvWidth);
            if (p.qBias() != null) {
                backend.biasBackward(dp.qBias(), g.dq, N, qWidth);
                backend.biasBackward(dp.kBias(), g.dk, N, kvWidth);
                backend.biasBackward(dp.vBias(), g.dv, N, kvWidth);
            }
            backend.rmsNormBackward(g.dres, dp.inNorm(), g.dln, residual, p.inNorm(), x.rstd1(), N, d);
        }
        backend.embeddingBackward(dw.embed, null, g.dres, out.batch().tokens(), new int[N], d);
        out.setLogitsHoldGradient(false);
    }

    @Override
    public KvCache newCache(int sequences, int capacity) {
        return new KvCache(backend, L, sequences, capacity, kvWidth);
    }

    @Override
    public Tensor decode(int[] tokens, int[] positions, int[] count, int advancing, KvCache cache, int[] past, Tensor lastRows) {
        passes.next();
        ForwardOptions options = new ForwardOptions(ForwardOptions.Logits.LAST, ForwardOptions.Capture.NONE, false);
        LlamaActivations a = LlamaActivations.forBatch(this, acts, tokens.length, advancing, 0, options);
        embed(a, tokens);
        trunk(a, positions, count, cache, past, lastRows);
        heads(a, OutputHeads.lastRowsOfAdvancing(count, advancing));
        return a.logits;
    }

    // ---- shared pieces -----------------------------------------------------------------------

    private void embed(LlamaActivations a, int[] tokens) {
        // The shared embedding op adds a position row; every row reads the zero row 0.
        backend.embeddingForward(a.embedded, tokens, new int[tokens.length], w.embed, noPosition, d);
    }

    /** The decoder layers and the final norm; with a cache, new keys/values are stored at {@code past[s] + i} and attention reads the cache. */
    private void trunk(LlamaActivations a, int[] positions, int[] seqLengths, KvCache cache, int[] past, Tensor cacheLastRow) {
        int N = a.rows;
        for (int l = 0; l < L; l++) {
            LlamaActivations.Layer x = a.layer(l);
            Weights.Layer p = w.layers[l];
            Tensor residual = l == 0 ? a.embedded : a.layer(l - 1).res2();

            backend.rmsNormForward(x.ln1(), x.rstd1(), residual, p.inNorm(), N, d, eps);
            // nn.Linear: y = x W^T + b, W [out, in]
            LINEAR.forward(backend, x.q(), x.ln1(), p.q(), p.qBias(), N, d, qWidth);
            LINEAR.forward(backend, x.k(), x.ln1(), p.k(), p.kBias(), N, d, kvWidth);
            LINEAR.forward(backend, x.v(), x.ln1(), p.v(), p.vBias(), N, d, kvWidth);
            if (qkNorm) {
                backend.rmsNormForward(x.qNormed(), x.qRstd(), x.q(), p.qNorm(), N * H, hd, eps);
                backend.rmsNormForward(x.kNormed(), x.kRstd(), x.k(), p.kNorm(), N * KV, hd, eps);
            }
            backend.ropeForward(x.qRot(), x.qNormed(), positions, invFreq, N, H, hd);
            backend.ropeForward(x.kRot(), x.kNormed(), positions, invFreq, N, KV, hd);
            if (cache == null) {
                backend.groupedAttentionForward(x.atty(), x.att(), l == L - 1 ? a.lastRow : null, x.qRot(), x.kRot(), x.v(),
                        seqLengths, H, KV, hd);
            } else {
                backend.storeRows(cache.keys(l), x.kRot(), past, seqLengths, cache.capacity(), kvWidth);
                backend.storeRows(cache.values(l), x.v(), past, seqLengths, cache.capacity(), kvWidth);
                backend.groupedAttentionCached(x.atty(), x.qRot(), cache.keys(l), cache.values(l), cache.capacity(), past, seqLengths,
                        H, KV, hd, l == L - 1 ? cacheLastRow : null);
            }
            LINEAR.forward(backend, a.proj, x.atty(), p.o(), p.oBias(), N, qWidth, d);
            backend.add(x.res1(), residual, a.proj, (long) N * d);
            backend.rmsNormForward(x.ln2(), x.rstd2(), x.res1(), p.postNorm(), N, d, eps);
            LINEAR.forward(backend, x.gate(), x.ln2(), p.gate(), null, N, d, F);
            LINEAR.forward(backend, x.up(), x.ln2(), p.up(), null, N, d, F);
            backend.swigluForward(x.hidden(), x.gate(), x.up(), (long) N * F);
            LINEAR.forward(backend, a.proj, x.hidden(), p.down(), null, N, F, d);
            backend.add(x.res2(), x.res1(), a.proj, (long) N * d);
        }
        backend.rmsNormForward(a.normed, a.normRstd, a.layer(L - 1).res2(), w.norm, N, d, eps);
    }

    /** The output heads over the final norm (shared by every family: {@link OutputHeads}). */
    private void heads(LlamaActivations a, int[] lastIndices) {
        outputHeads().forward(a.options.logits(), headBuffers(a), headWeights(w), a.rows, lastIndices);
    }

    private static OutputHeads.Buffers headBuffers(LlamaActivations a) {
        return new OutputHeads.Buffers(a.normed, a.lastNormed, a.logits, a.scores, a.values);
    }

    private static OutputHeads.Weights headWeights(Weights w) {
        return new OutputHeads.Weights(w.lmHead, w.score, w.vHeadWeight, w.vHeadBias);
    }

    /** Per-layer slices of a parameter-shaped block (parameters or gradients); absent optional tensors are null. */
    static final class Weights {
        final Tensor embed, norm, lmHead, score, vHeadWeight, vHeadBias;
        final Layer[] layers;

        record Layer(Tensor inNorm, Tensor q, Tensor qBias, Tensor k, Tensor kBias, Tensor v, Tensor vBias, Tensor o, Tensor oBias,
                     Tensor qNorm, Tensor kNorm, Tensor postNorm, Tensor gate, Tensor up, Tensor down) {}

        Weights(LlamaModel m, Tensor block) {
            ParameterLayout layout = m.layout;
            embed = slice(layout, block, "embed_tokens.weight");
            norm = slice(layout, block, "norm.weight");
            lmHead = layout.has(LlamaTensors.LM_HEAD) ? slice(layout, block, LlamaTensors.LM_HEAD) : embed;
            score = slice(layout, block, LlamaTensors.SCORE);
            vHeadWeight = slice(layout, block, LlamaTensors.VALUE_HEAD_WEIGHT);
            vHeadBias = slice(layout, block, LlamaTensors.VALUE_HEAD_BIAS);
            layers = new Layer[m.L];
            for (int l = 0; l < m.L; l++) {
                String a = "layers." + l + ".self_attn.", f = "layers." + l + ".mlp.";
                layers[l] = new Layer(slice(layout, block, "layers." + l + ".input_layernorm.weight"),
                        slice(layout, block, a + "q_proj.weight"), slice(layout, block, a + "q_proj.bias"),
                        slice(layout, block, a + "k_proj.weight"), slice(layout, block, a + "k_proj.bias"),
                        slice(layout, block, a + "v_proj.weight"), slice(layout, block, a + "v_proj.bias"),
                        slice(layout, block, a + "o_proj.weight"), slice(layout, block, a + "o_proj.bias"),
                        slice(layout, block, a + "q_norm.weight"), slice(layout, block, a + "k_norm.weight"),
                        slice(layout, block, "layers." + l + ".post_attention_layernorm.weight"),
                        slice(layout, block, f + "gate_proj.weight"), slice(layout, block, f + "up_proj.weight"),
                        slice(layout, block, f + "down_proj.weight"));
            }
        }

        /** The named slice, or null when the layout has no such tensor. */
        private static Tensor slice(ParameterLayout layout, Tensor block, String name) {
            if (!layout.has(name)) return null;
            ParameterLayout.Entry e = layout.get(name);
            return block.slice(e.offset(), e.length());
        }
    }
}
