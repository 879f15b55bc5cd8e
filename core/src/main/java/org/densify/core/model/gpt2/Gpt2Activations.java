package org.densify.core.model.gpt2;

import org.densify.core.model.Batch;
import org.densify.core.model.TensorArena;
import org.densify.core.model.ForwardOptions;

import org.densify.core.Tensor;

/**
 * The named slices of the activation arena for one forward pass over N rows of S sequences. A
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

    private Gpt2Activations(Gpt2Model m, TensorArena.Slices t, int N, int S, long attSize, ForwardOptions options) {
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
        encoded = t.take(N * C);
        Layer[] sets = new Layer[layerSets];
        for (int l = 0; l < layerSets; l++) {
            sets[l] = new Layer(t.take(N * C), t.take(N), t.take(N), t.take(3 * N * C), null,
                    t.take(N * C), t.take(N * C), t.take(N * C), t.take(N * C), t.take(N), t.take(N),
                    t.take(N * F), t.take(N * F), t.take(N * C), t.take(N * C));
        }
        layers = new Layer[m.L];
        for (int l = 0; l < m.L; l++) {
            Layer s = sets[keepLayers ? l : 0];
            Tensor att = keepAtt ? t.take(attSize) : null;
            layers[l] = new Layer(s.ln1, s.ln1Mean, s.ln1Rstd, s.qkv, att, s.atty, s.attProj, s.res2, s.ln2, s.ln2Mean,
                    s.ln2Rstd, s.fch, s.fchGelu, s.fcProj, s.res3);
        }
        lnf = t.take(N * C);
        lnfMean = t.take(N);
        lnfRstd = t.take(N);
        lastLnf = t.take(S * C);
        logits = t.take((long) logitRows * m.vocabSize());
        scores = t.take((long) S * Math.max(m.numLabels(), 1));
        values = t.take(N);
        Tensor row = t.take(N);
        lastRow = options.capture() == ForwardOptions.Capture.LAST_ROW ? row : null;
        losses = t.take(N);
    }

    /** Lays out the arena for a forward over {@code batch}. */
    static Gpt2Activations layOut(Gpt2Model m, TensorArena arena, Batch batch, ForwardOptions options) {
        long attSize = batch.attentionSize(m.NH);
        return arena.layOut(t -> new Gpt2Activations(m, t, batch.tokenCount(), batch.size(), attSize, options));
    }

    /** Lays out the arena for N new rows of S sequences read against a KV cache (no maps kept). */
    static Gpt2Activations forCache(Gpt2Model m, TensorArena arena, int N, int S, ForwardOptions options) {
        return arena.layOut(t -> new Gpt2Activations(m, t, N, S, 0, options));
    }

    Layer layer(int l) {
        return layers[l];
    }

    /** The slices of the activation gradients; one layer's worth, reused from the top layer down. */
    static final class Grads {
        final Tensor dlnf, dres, dln, dqkv, datty, dfch, dfchGelu, dvalues, dscores, dlastLnf;

        private Grads(Gpt2Model m, TensorArena.Slices t, long N, long S) {
            long C = m.C, F = m.F;
            dlnf = t.take(N * C);
            dres = t.take(N * C);
            dln = t.take(N * C);
            dqkv = t.take(3 * N * C);
            datty = t.take(N * C);
            dfch = t.take(N * F);
            dfchGelu = t.take(N * F);
            dvalues = t.take(N);
            dscores = t.take(S * Math.max(m.numLabels(), 1));
            dlastLnf = t.take(S * C);
        }

        static Grads layOut(Gpt2Model m, TensorArena arena, int N, int S) {
            return arena.layOut(t -> new Grads(m, t, N, S));
        }
    }
}
