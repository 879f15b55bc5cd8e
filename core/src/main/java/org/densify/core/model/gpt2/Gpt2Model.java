package org.densify.core.model.gpt2;

import static org.densify.core.model.Dense.CONV1D;

import org.densify.core.model.Heads;
import org.densify.core.model.Batch;
import org.densify.core.model.DecoderModel;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.KvCache;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.ModelShape;
import org.densify.core.model.OutputHeads;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.Gpt2Tensors;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelFormatException;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.model.ModelWriter;

/**
 * GPT-2 on a {@link Backend}: parameters and gradients each in one block laid out by {@link
 * ParameterLayout}, activations in one block re-laid for every pass, forward over ragged batches,
 * the LM / classifier / value heads, attention capture, and the backward of all of it.
 *
 * <p>One family behind {@link LanguageModel}. A forward pass returns {@link Outputs}, a view of the
 * model's activation block that stays valid until the next forward. {@link #backward} differentiates the most recent training forward.
 * Dropout is not applied (every pass is deterministic). Not thread-safe: one pass at a time.
 */
public final class Gpt2Model extends DecoderModel<Gpt2Config> {

    /** Layers, embedding width, heads, MLP width. */
    final int L, C, NH, F;
    final float eps;

    final Weights w;
    private Weights dw;

    private Gpt2Model(Backend backend, Gpt2Config config, Heads heads) {
        super(backend, config, new ParameterLayout(ModelShape.of(config).parameterShapes(heads)), config.vocabSize(), config.nEmbd(),
                config.nPositions(), "n_positions", heads.classifier() ? config.numLabels() : 0);
        this.L = config.nLayer();
        this.C = config.nEmbd();
        this.NH = config.nHead();
        this.F = config.innerDim();
        this.eps = (float) config.layerNormEpsilon();
        this.w = new Weights(layout, params, L);
    }

    @Override
    protected void gradientsAllocated(Tensor gradients) {
        dw = new Weights(layout, gradients, L);
    }

    // ---- construction ------------------------------------------------------------------------

    /** A model with every parameter 0; see {@link #initialize}. */
    public static Gpt2Model create(Backend backend, Gpt2Config config, Heads heads) {
        return new Gpt2Model(backend, config, heads);
    }

    /** Loads a Hugging Face folder with the heads it stores. */
    public static Gpt2Model load(Backend backend, Path dir) throws IOException {
        try (ModelFolder folder = ModelFolder.open(dir)) {
            Heads heads = Heads.of(folder.hasTensor(Gpt2Tensors.SCORE), folder.hasValueHead());
            return load(backend, folder, heads, 0);
        }
    }

    /**
     * Loads a folder with the requested heads. A requested head the folder lacks starts fresh
     * (weights normal with the config's initializer_range, bias 0, from {@code seed}); a stored head
     * that is not requested is left out.
     */
    public static Gpt2Model load(Backend backend, ModelFolder folder, Heads heads, long seed) throws IOException {
        return load(backend, folder, folder.config(), heads, seed);
    }

    /**
     * As {@link #load(Backend, ModelFolder, Heads, long)} with a config of the caller's that differs
     * from the folder's only in what the stored tensors do not fix (labels, pad token, names): e.g. a
     * classifier built on a language model's trunk.
     */
    public static Gpt2Model load(Backend backend, ModelFolder folder, Gpt2Config config, Heads heads, long seed) throws IOException {
        if (heads.classifier() && config.numLabels() < 1) {
            throw new ModelFormatException(folder.dir() + "/config.json: a classifier head needs num_labels >= 1");
        }
        Gpt2Model model = new Gpt2Model(backend, config, heads);
        try {
            model.loadParameters(folder, Gpt2Tensors.VALUE_HEAD_BIAS, config.initializerRange(), seed);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * GPT-2's initialisation: matrices and embeddings normal(0, initializer_range), residual
     * projections ({@code c_proj}) scaled by 1/sqrt(2 n_layer), biases 0, layer-norm weights 1.
     * Deterministic in {@code seed}.
     */
    @Override
    public void initialize(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        double std = config.initializerRange();
        for (ParameterLayout.Entry e : layout.entries()) {
            float[] values = new float[Math.toIntExact(e.length())];
            if (e.name().endsWith("ln_1.weight") || e.name().endsWith("ln_2.weight") || e.name().equals("ln_f.weight")) {
                Arrays.fill(values, 1f);
            } else if (e.isMatrix()) {
                double s = e.name().endsWith("c_proj.weight") ? std / Math.sqrt(2.0 * L) : std;
                for (int i = 0; i < values.length; i++) values[i] = (float) (random.nextGaussian() * s);
            }
            backend.write(params, e.offset(), values);
        }
    }

    /**
     * Writes the model as a Hugging Face folder of {@code kind} (config.json + model.safetensors),
     * atomically file by file. The classifier and value heads are written when the model has them.
     */
    @Override
    public void save(Path dir, ModelKind kind) throws IOException {
        Gpt2Config out = config.toBuilder().kind(kind).build();
        ModelWriter writer = new ModelWriter(out);
        var body = Gpt2Tensors.body(config);
        readParameters(name -> kind != ModelKind.BASE || body.containsKey(name), writer::put);
        writer.write(dir);
    }

    // ---- accessors ---------------------------------------------------------------------------

    @Override
    public ModelFamily family() {
        return ModelFamily.GPT2;
    }

    @Override
    public ModelShape shape() {
        return ModelShape.of(config);
    }

    @Override
    public boolean hasValueHead() {
        return layout.has(Gpt2Tensors.VALUE_HEAD_WEIGHT);
    }

    // ---- forward -----------------------------------------------------------------------------

    /** Runs the model on {@code batch}; the result views the activation block until the next forward. */
    @Override
    public Outputs forward(Batch batch, ForwardOptions options) {
        checkTokens(batch.tokens(), batch.seqLengths());
        long pass = passes.next();
        Gpt2Activations a = Gpt2Activations.layOut(this, acts, batch, options);
        backend.embeddingForward(a.encoded, batch.tokens(), batch.positions(), w.wte, w.wpe, C);
        trunk(a, batch.seqLengths(), null, null, null);
        heads(a, batch.lastIndices());
        Tensor[] maps = new Tensor[L];
        for (int l = 0; l < L; l++) maps[l] = a.layer(l).att();
        Outputs.Views views = new Outputs.Views(a.logits, labels > 0 ? a.scores : null, hasValueHead() ? a.values : null, a.lastRow,
                maps, a.lnf, w.score);
        return new Outputs(this, passes, pass, a, batch, options, views, NH);
    }

    /**
     * The next-token cross-entropy of the last forward (which must have all logits), averaged over
     * every predicted position of every sequence. After a training forward the logits buffer is
     * overwritten with the gradient of this mean, ready for {@link #backward}.
     *
     * @return the mean loss, summed in double in token order
     */
    @Override
    public double languageModelLoss(Outputs out) {
        out.checkCurrent();
        Gpt2Activations a = out.state(this, Gpt2Activations.class);
        return meanNextTokenLoss(out, a.options, a.logits, a.losses);
    }

    /**
     * Backpropagates into the gradient block (accumulating) from the gradients of the head outputs
     * of the last training forward: the logits buffer when it holds dLoss/dlogits (see {@link
     * #languageModelLoss}, or written there by the caller and flagged with {@link
     * Outputs#logitsHoldGradient}), {@code dvalues} [N] for the value head, {@code dscores} [S][labels]
     * for the classifier head (either may be null).
     */
    @Override
    public void backward(Outputs out, float[] dvalues, float[][] dscores) {
        Gpt2Activations a = out.state(this, Gpt2Activations.class);
        out.checkCurrent();
        requireTraining(a.options);
        gradients();
        int N = out.tokenCount();
        int S = out.batch().size();
        Gpt2Activations.Grads g = Gpt2Activations.Grads.layOut(this, gradActs, N, S);

        // ---- heads -> dlnf [N, C]
        outputHeads().backward(headBuffers(a), headWeights(w), headWeights(dw), new OutputHeads.Scratch(g.dlnf, g.dlastLnf, g.dvalues, g.dscores),
                out.holdsLogitGradient(), dvalues, dscores, N, out.batch().lastIndices());

        // ---- final layer norm -> dres [N, C]
        backend.zero(g.dres);
        Gpt2Activations.Layer top = a.layer(L - 1);
        backend.layerNormBackward(g.dres, dw.lnfWeight, dw.lnfBias, g.dlnf, top.res3(), w.lnfWeight, a.lnfMean, a.lnfRstd, N, C);

        int[] lengths = out.batch().seqLengths();
        for (int l = L - 1; l >= 0; l--) {
            Gpt2Activations.Layer x = a.layer(l);
            Weights.Layer p = w.layers[l];
            Weights.Layer d = dw.layers[l];
            Tensor residual = l == 0 ? a.encoded : a.layer(l - 1).res3();

            // MLP: res3 = res2 + c_proj(gelu(c_fc(ln_2(res2))))
            CONV1D.backwardInput(backend, g.dfchGelu, g.dres, p.fcProjW(), N, F, C);
            CONV1D.backwardWeight(backend, d.fcProjW(), g.dres, x.fchGelu(), N, F, C);
            backend.biasBackward(d.fcProjB(), g.dres, N, C);
            backend.zero(g.dfch);
            backend.geluBackward(g.dfch, x.fch(), g.dfchGelu, (long) N * F);
            CONV1D.backwardInput(backend, g.dln, g.dfch, p.fcW(), N, C, F);
            CONV1D.backwardWeight(backend, d.fcW(), g.dfch, x.ln2(), N, C, F);
            backend.biasBackward(d.fcB(), g.dfch, N, F);
            backend.layerNormBackward(g.dres, d.ln2W(), d.ln2B(), g.dln, x.res2(), p.ln2W(), x.ln2Mean(), x.ln2Rstd(), N, C);

            // attention: res2 = residual + c_proj(attn(c_attn(ln_1(residual))))
            CONV1D.backwardInput(backend, g.datty, g.dres, p.attProjW(), N, C, C);
            CONV1D.backwardWeight(backend, d.attProjW(), g.dres, x.atty(), N, C, C);
            backend.biasBackward(d.attProjB(), g.dres, N, C);
            backend.zero(g.dqkv);
            backend.attentionBackward(g.dqkv, g.datty, x.qkv(), x.att(), lengths, NH, C);
            CONV1D.backwardInput(backend, g.dln, g.dqkv, p.qkvW(), N, C, 3 * C);
            CONV1D.backwardWeight(backend, d.qkvW(), g.dqkv, x.ln1(), N, C, 3 * C);
            backend.biasBackward(d.qkvB(), g.dqkv, N, 3 * C);
            backend.layerNormBackward(g.dres, d.ln1W(), d.ln1B(), g.dln, residual, p.ln1W(), x.ln1Mean(), x.ln1Rstd(), N, C);
        }
        backend.embeddingBackward(dw.wte, dw.wpe, g.dres, out.batch().tokens(), out.batch().positions(), C);
        out.setLogitsHoldGradient(false);
    }

    @Override
    public KvCache newCache(int sequences, int capacity) {
        return new KvCache(backend, L, sequences, capacity, C);
    }

    @Override
    public Tensor decode(int[] tokens, int[] positions, int[] count, int advancing, KvCache cache, int[] past, Tensor lastRows) {
        passes.next();
        ForwardOptions options = new ForwardOptions(ForwardOptions.Logits.LAST, ForwardOptions.Capture.NONE, false);
        Gpt2Activations a = Gpt2Activations.forCache(this, acts, tokens.length, advancing, options);
        backend.embeddingForward(a.encoded, tokens, positions, w.wte, w.wpe, C);
        trunk(a, count, cache, past, lastRows);
        heads(a, OutputHeads.lastRowsOfAdvancing(count, advancing));
        return a.logits;
    }

    // ---- shared pieces -----------------------------------------------------------------------

    /**
     * The transformer blocks over the rows of {@code a}. With a cache, keys and values of the new
     * rows are stored at {@code past[s] + i} and attention reads the cache.
     */
    void trunk(Gpt2Activations a, int[] seqLengths, KvCache cache, int[] past, Tensor cacheLastRow) {
        int N = a.rows;
        for (int l = 0; l < L; l++) {
            Gpt2Activations.Layer x = a.layer(l);
            Weights.Layer p = w.layers[l];
            Tensor residual = l == 0 ? a.encoded : a.layer(l - 1).res3();
            boolean lastLayer = l == L - 1;

            backend.layerNormForward(x.ln1(), x.ln1Mean(), x.ln1Rstd(), residual, p.ln1W(), p.ln1B(), N, C, eps);
            CONV1D.forward(backend, x.qkv(), x.ln1(), p.qkvW(), p.qkvB(), N, C, 3 * C);
            if (cache == null) {
                backend.attentionForward(x.atty(), x.att(), lastLayer ? a.lastRow : null, x.qkv(), seqLengths, NH, C);
            } else {
                cache.storeFromQkv(l, x.qkv(), past, seqLengths);
                backend.attentionCached(x.atty(), x.qkv(), 3 * C, cache.keys(l), cache.values(l), cache.capacity(),
                        past, seqLengths, NH, C, lastLayer ? cacheLastRow : null);
            }
            CONV1D.forward(backend, x.attProj(), x.atty(), p.attProjW(), p.attProjB(), N, C, C);
            backend.add(x.res2(), residual, x.attProj(), (long) N * C);
            backend.layerNormForward(x.ln2(), x.ln2Mean(), x.ln2Rstd(), x.res2(), p.ln2W(), p.ln2B(), N, C, eps);
            CONV1D.forward(backend, x.fch(), x.ln2(), p.fcW(), p.fcB(), N, C, F);
            backend.geluForward(x.fchGelu(), x.fch(), (long) N * F);
            CONV1D.forward(backend, x.fcProj(), x.fchGelu(), p.fcProjW(), p.fcProjB(), N, F, C);
            backend.add(x.res3(), x.res2(), x.fcProj(), (long) N * C);
        }
        backend.layerNormForward(a.lnf, a.lnfMean, a.lnfRstd, a.layer(L - 1).res3(), w.lnfWeight, w.lnfBias, N, C, eps);
    }

    /** The output heads over the final norm (shared by every family: {@link OutputHeads}). */
    void heads(Gpt2Activations a, int[] lastIndices) {
        outputHeads().forward(a.options.logits(), headBuffers(a), headWeights(w), a.rows, lastIndices);
    }

    private static OutputHeads.Buffers headBuffers(Gpt2Activations a) {
        return new OutputHeads.Buffers(a.lnf, a.lastLnf, a.logits, a.scores, a.values);
    }

    private static OutputHeads.Weights headWeights(Weights w) {
        return new OutputHeads.Weights(w.lmHead, w.score, w.vHeadWeight, w.vHeadBias);
    }

    /** Per-layer parameter slices of a parameter-shaped block (parameters or gradients). */
    static final class Weights {
        final Tensor wte, wpe, lnfWeight, lnfBias, lmHead, score, vHeadWeight, vHeadBias;
        final Layer[] layers;

        record Layer(Tensor ln1W, Tensor ln1B, Tensor qkvW, Tensor qkvB, Tensor attProjW, Tensor attProjB,
                     Tensor ln2W, Tensor ln2B, Tensor fcW, Tensor fcB, Tensor fcProjW, Tensor fcProjB) {}

        Weights(ParameterLayout layout, Tensor block, int L) {
            wte = slice(layout, block, "wte.weight");
            wpe = slice(layout, block, "wpe.weight");
            lnfWeight = slice(layout, block, "ln_f.weight");
            lnfBias = slice(layout, block, "ln_f.bias");
            lmHead = layout.has(Gpt2Tensors.LM_HEAD) ? slice(layout, block, Gpt2Tensors.LM_HEAD) : wte;
            score = layout.has(Gpt2Tensors.SCORE) ? slice(layout, block, Gpt2Tensors.SCORE) : null;
            vHeadWeight = layout.has(Gpt2Tensors.VALUE_HEAD_WEIGHT) ? slice(layout, block, Gpt2Tensors.VALUE_HEAD_WEIGHT) : null;
            vHeadBias = layout.has(Gpt2Tensors.VALUE_HEAD_BIAS) ? slice(layout, block, Gpt2Tensors.VALUE_HEAD_BIAS) : null;
            layers = new Layer[L];
            for (int l = 0; l < L; l++) {
                String h = "h." + l + ".";
                layers[l] = new Layer(slice(layout, block, h + "ln_1.weight"), slice(layout, block, h + "ln_1.bias"),
                        slice(layout, block, h + "attn.c_attn.weight"), slice(layout, block, h + "attn.c_attn.bias"),
                        slice(layout, block, h + "attn.c_proj.weight"), slice(layout, block, h + "attn.c_proj.bias"),
                        slice(layout, block, h + "ln_2.weight"), slice(layout, block, h + "ln_2.bias"),
                        slice(layout, block, h + "mlp.c_fc.weight"), slice(layout, block, h + "mlp.c_fc.bias"),
                        slice(layout, block, h + "mlp.c_proj.weight"), slice(layout, block, h + "mlp.c_proj.bias"));
            }
        }

        private static Tensor slice(ParameterLayout layout, Tensor block, String name) {
            ParameterLayout.Entry e = layout.get(name);
            return block.slice(e.offset(), e.length());
        }
    }
}
