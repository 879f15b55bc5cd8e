package org.densify.core.model.gpt2;

import org.densify.core.model.Batch;
import org.densify.core.model.Block;
import org.densify.core.model.ForwardOptions;

import org.densify.core.Tensor;

/**
 * The named slices of the activation block for one forward pass over N rows of S sequences. A
 * training pass keeps every layer's slices for the backward; an inference pass reuses one layer's
 * slices for all layers (the residual stream is overwritten in place), unless every layer's
 * attention maps are captured.
 */
final class Gpt2Activations {
    final ForwardOptions options;
    final int rows;
    final Tensor encoded;    // [N, C] token + position embeddings
    private final Layer[] layers;
    final Tensor lnf;        // [N, C]
    final Tensor lnfMean;    // [N]
    final Tensor lnfRstd;    // [N]
    final Tensor lastLnf;    // [S, C] lnf at each sequence's last row
    final Tensor logits;     // [N, V] (ALL), [S, V] (LAST), or empty
    final Tensor scores;     // [S, labels]
    final Tensor values;     // [N]
    final Tensor lastRow;    // [N] head-averaged last query row of the last layer, or null
    final Tensor losses;     // [N]

    record Layer(Tensor ln1, Tensor ln1Mean, Tensor ln1Rstd, // [N, C], [N], [N]
                 Tensor qkv,                                 // [N, 3C]
                 Tensor att,                                 // [NH * sum T_s^2] or null
                 Tensor atty,                                // [N, C] attention output, heads side by side
                 Tensor attProj,                             // [N, C]
                 Tensor res2,                                // [N, C] residual after attention
                 Tensor ln2, Tensor ln2Mean, Tensor ln2Rstd, // [N, C], [N], [N]
                 Tensor fch, Tensor fchGelu,                 // [N, F]
                 Tensor fcProj,                              // [N, C]
                 Tensor res3) {}                             // [N, C] residual after the MLP

    private Gpt2Activations(Gpt2Model m, Block block, int N, int S, long attSize, ForwardOptions options) {
        this.options = options;
        this.rows = N;
        boolean keepLayers = options.training();
        boolean keepAtt = options.training() || options.capture() == ForwardOptions.Capture.ALL_LAYERS;
        int logitRows = switch (options.logits()) {
            case ALL -> N;
            case LAST -> S;
            case NONE -> 0;
        };
        long C = m.C, F = m.F;
        int layerSets = keepLayers ? m.L : 1;
        long perLayer = Block.align(N * C) * 7 + Block.align(N) * 4 + Block.align(3 * N * C) + Block.align(N * F) * 2;
        long total = Block.align(N * C) * 2 + Block.align(N) * 5 + Block.align(S * C) + Block.align((long) logitRows * m.V)
                + Block.align((long) S * Math.max(m.labels, 1)) + perLayer * layerSets
                + (keepAtt ? Block.align(attSize) * m.L : 0);
        block.reserve(total);

        encoded = block.take(N * C);
        Layer[] sets = new Layer[layerSets];
        for (int l = 0; l < layerSets; l++) {
            sets[l] = new Layer(block.take(N * C), block.take(N), block.take(N), block.take(3 * N * C), null,
                    block.take(N * C), block.take(N * C), block.take(N * C), block.take(N * C), block.take(N), block.take(N),
                    block.take(N * F), block.take(N * F), block.take(N * C), block.take(N * C));
        }
        layers = new Layer[m.L];
        for (int l = 0; l < m.L; l++) {
            Layer s = sets[keepLayers ? l : 0];
            Tensor att = keepAtt ? block.take(attSize) : null;
            layers[l] = new Layer(s.ln1, s.ln1Mean, s.ln1Rstd, s.qkv, att, s.atty, s.attProj, s.res2, s.ln2, s.ln2Mean,
                    s.ln2Rstd, s.fch, s.fchGelu, s.fcProj, s.res3);
        }
        lnf = block.take(N * C);
        lnfMean = block.take(N);
        lnfRstd = block.take(N);
        lastLnf = block.take(S * C);
        logits = block.take((long) logitRows * m.V);
        scores = block.take((long) S * Math.max(m.labels, 1));
        values = block.take(N);
        Tensor row = block.take(N);
        lastRow = options.capture() == ForwardOptions.Capture.LAST_ROW ? row : null;
        losses = block.take(N);
    }

    /** Lays out the block for a forward over {@code batch}. */
    static Gpt2Activations layOut(Gpt2Model m, Block block, Batch batch, ForwardOptions options) {
        return new Gpt2Activations(m, block, batch.tokenCount(), batch.size(), batch.attentionSize(m.NH), options);
    }

    /** Lays out the block for N new rows of S sequences read against a KV cache (no maps kept). */
    static Gpt2Activations forCache(Gpt2Model m, Block block, int N, int S, ForwardOptions options) {
        return new Gpt2Activations(m, block, N, S, 0, options);
    }

    Layer layer(int l) {
        return layers[l];
    }

    /** The slices of the activation-gradient block; one layer's worth, reused from the top layer down. */
    static final class Grads {
        final Tensor dlnf, dres, dln, dqkv, datty, dfch, dfchGelu, dvalues, dscores, dlastLnf;

        Grads(Gpt2Model m, Block block, int N, int S) {
            long C = m.C, F = m.F;
            block.reserve(Block.align(N * C) * 4 + Block.align(3 * N * C) + Block.align(N * F) * 2 + Block.align(N)
                    + Block.align((long) S * Math.max(m.labels, 1)) + Block.align(S * C));
            dlnf = block.take(N * C);
            dres = block.take(N * C);
            dln = block.take(N * C);
            dqkv = block.take(3 * N * C);
            datty = block.take(N * C);
            dfch = block.take(N * F);
            dfchGelu = block.take(N * F);
            dvalues = block.take(N);
            dscores = block.take((long) S * Math.max(m.labels, 1));
            dlastLnf = block.take(S * C);
        }
    }
}
