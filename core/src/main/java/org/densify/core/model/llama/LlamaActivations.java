package org.densify.core.model.llama;

import org.densify.core.Tensor;
import org.densify.core.model.TensorArena;
import org.densify.core.model.ForwardOptions;

/**
 * The named slices of the activation arena of one Llama-family pass over N rows of S sequences. A
 * training pass keeps every layer's slices for the backward; an inference pass reuses one set for
 * all layers (the residual stream is overwritten in place), except the attention maps when every
 * layer's are captured. The {@code take} calls of {@link Layout} are the one table of sizes.
 */
final class LlamaActivations {
    final ForwardOptions options;
    final int rows;
    final Tensor embedded;   // [N, d]
    final Tensor proj;       // [N, d] o_proj / down_proj output before the residual add (not kept)
    private final Layer[] layers;
    final Tensor normed;     // [N, d] final RMSNorm output
    final Tensor normRstd;   // [N]
    final Tensor lastNormed; // [S, d]
    final Tensor logits;     // [N, V], [S, V] or empty
    final Tensor scores;     // [S, labels]
    final Tensor values;     // [N]
    final Tensor lastRow;    // [N] or null
    final Tensor losses;     // [N]

    record Layer(Tensor ln1, Tensor rstd1,             // [N, d], [N]
                 Tensor q, Tensor k, Tensor v,         // [N, H hd], [N, KV hd], [N, KV hd] projections (+ bias)
                 Tensor qNormed, Tensor qRstd,         // Qwen3: [N, H hd], [N H]; else q and null
                 Tensor kNormed, Tensor kRstd,         // Qwen3: [N, KV hd], [N KV]; else k and null
                 Tensor qRot, Tensor kRot,             // rotated q and k
                 Tensor att,                           // [H sum T_s^2] or null
                 Tensor atty,                          // [N, H hd]
                 Tensor res1,                          // [N, d] residual after attention
                 Tensor ln2, Tensor rstd2,             // [N, d], [N]
                 Tensor gate, Tensor up, Tensor hidden, // [N, F] each; hidden = silu(gate) * up
                 Tensor res2) {}                       // [N, d] residual after the MLP

    private LlamaActivations(Layout l, int N, ForwardOptions options) {
        this.options = options;
        this.rows = N;
        embedded = l.embedded;
        proj = l.proj;
        layers = l.layers;
        normed = l.normed;
        normRstd = l.normRstd;
        lastNormed = l.lastNormed;
        logits = l.logits;
        scores = l.scores;
        values = l.values;
        lastRow = options.capture() == ForwardOptions.Capture.LAST_ROW ? l.lastRow : null;
        losses = l.losses;
    }

    /** The one table of slices. */
    private static final class Layout {
        Tensor embedded, proj, normed, normRstd, lastNormed, logits, scores, values, lastRow, losses;
        Layer[] layers;

        Layout(LlamaModel m, long N, long S, long attSize, ForwardOptions options, TensorArena.Slices t) {
            boolean keepLayers = options.training();
            boolean keepAtt = options.training() || options.capture() == ForwardOptions.Capture.ALL_LAYERS;
            long d = m.d, F = m.F, qW = m.qWidth, kvW = m.kvWidth;
            long logitRows = switch (options.logits()) {
                case ALL -> N;
                case LAST -> S;
                case NONE -> 0;
            };
            embedded = t.take(N * d);
            proj = t.take(N * d);
            int sets = keepLayers ? m.L : 1;
            Layer[] own = new Layer[sets];
            for (int i = 0; i < sets; i++) {
                Tensor q = t.take(N * qW), k = t.take(N * kvW);
                Tensor qn = m.qkNorm ? t.take(N * qW) : q, qr = m.qkNorm ? t.take(N * m.H) : null;
                Tensor kn = m.qkNorm ? t.take(N * kvW) : k, kr = m.qkNorm ? t.take(N * m.KV) : null;
                own[i] = new Layer(t.take(N * d), t.take(N), q, k, t.take(N * kvW), qn, qr, kn, kr, t.take(N * qW), t.take(N * kvW),
                        null, t.take(N * qW), t.take(N * d), t.take(N * d), t.take(N), t.take(N * F), t.take(N * F), t.take(N * F),
                        t.take(N * d));
            }
            layers = new Layer[m.L];
            for (int l = 0; l < m.L; l++) {
                Layer s = own[keepLayers ? l : 0];
                Tensor att = keepAtt ? t.take(attSize) : null;
                layers[l] = new Layer(s.ln1, s.rstd1, s.q, s.k, s.v, s.qNormed, s.qRstd, s.kNormed, s.kRstd, s.qRot, s.kRot, att, s.atty,
                        s.res1, s.ln2, s.rstd2, s.gate, s.up, s.hidden, s.res2);
            }
            normed = t.take(N * d);
            normRstd = t.take(N);
            lastNormed = t.take(S * d);
            logits = t.take(logitRows * m.vocabSize());
            scores = t.take(S * Math.max(m.numLabels(), 1));
            values = t.take(N);
            lastRow = t.take(N);
            losses = t.take(N);
        }
    }

    /** Lays out the arena for N rows of S sequences; attSize 0 when no maps are kept (a pass against a KV cache). */
    static LlamaActivations forBatch(LlamaModel m, TensorArena arena, int N, int S, long attSize, ForwardOptions options) {
        return new LlamaActivations(arena.layOut(t -> new Layout(m, N, S, attSize, options, t)), N, options);
    }

    Layer layer(int l) {
        return layers[l];
    }

    /** Activation gradients: one layer's worth, reused from the top layer down. */
    static final class Grads {
        final Tensor dnormed, dres, dln, dq, dk, dv, dqRot, dkRot, dqNormed, dkNormed, datty, dgate, dup, dhidden, dvalues, dscores,
                dlastNormed;

        private Grads(LlamaModel m, TensorArena.Slices t, long N, long S) {
            long d = m.d, F = m.F, qW = m.qWidth, kvW = m.kvWidth;
            dnormed = t.take(N * d);
            dres = t.take(N * d);
            dln = t.take(N * d);
            dq = t.take(N * qW);
            dk = t.take(N * kvW);
            dv = t.take(N * kvW);
            dqRot = t.take(N * qW);
            dkRot = t.take(N * kvW);
            dqNormed = t.take(N * qW);
            dkNormed = t.take(N * kvW);
            datty = t.take(N * qW);
            dgate = t.take(N * F);
            dup = t.take(N * F);
            dhidden = t.take(N * F);
            dvalues = t.take(N);
            dscores = t.take(S * Math.max(m.numLabels(), 1));
            dlastNormed = t.take(S * d);
        }

        static Grads layOut(LlamaModel m, TensorArena arena, int N, int S) {
            return arena.layOut(t -> new Grads(m, t, N, S));
        }
    }
}
