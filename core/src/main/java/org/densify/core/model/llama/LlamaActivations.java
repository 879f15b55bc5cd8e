package org.densify.core.model.llama;

import org.densify.core.Tensor;
import org.densify.core.model.Block;
import org.densify.core.model.ForwardOptions;

/**
 * The named slices of the activation block of one Llama-family pass over N rows of S sequences. A
 * training pass keeps every layer's slices for the backward; an inference pass reuses one set for
 * all layers (the residual stream is overwritten in place), except the attention maps when every
 * layer's are captured. Sized from one table (the {@code take} calls below), counted then taken.
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

    /** Counts floats first (take == null) or hands out slices. */
    private interface Taker {
        Tensor take(long n);
    }

    private LlamaActivations(LlamaModel m, Block block, int N, int S, long attSize, ForwardOptions options) {
        this.options = options;
        this.rows = N;
        long[] total = {0};
        new Layout(m, N, S, attSize, options, n -> {
            total[0] += Block.align(n);
            return null;
        });
        block.reserve(total[0]);
        Layout l = new Layout(m, N, S, attSize, options, block::take);
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

        Layout(LlamaModel m, long N, long S, long attSize, ForwardOptions options, Taker t) {
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
            logits = t.take(logitRows * m.V);
            scores = t.take(S * Math.max(m.labels, 1));
            values = t.take(N);
            lastRow = t.take(N);
            losses = t.take(N);
        }
    }

    static LlamaActivations forBatch(LlamaModel m, Block block, int N, int S, long attSize, ForwardOptions options) {
        return new LlamaActivations(m, block, N, S, attSize, options);
    }

    Layer layer(int l) {
        return layers[l];
    }

    /** Activation gradients: one layer's worth, reused from the top layer down. */
    static final class Grads {
        final Tensor dnormed, dres, dln, dq, dk, dv, dqRot, dkRot, dqNormed, dkNormed, datty, dgate, dup, dhidden, dvalues, dscores,
                dlastNormed;

        Grads(LlamaModel m, Block block, int N, int S) {
            long d = m.d, F = m.F, qW = m.qWidth, kvW = m.kvWidth;
            block.reserve(Block.align(N * d) * 3 + Block.align(N * qW) * 4 + Block.align(N * kvW) * 4 + Block.align(N * F) * 3
                    + Block.align(N) + Block.align(S * Math.max(m.labels, 1)) + Block.align(S * d));
            dnormed = block.take(N * d);
            dres = block.take(N * d);
            dln = block.take(N * d);
            dq = block.take(N * qW);
            dk = block.take(N * kvW);
            dv = block.take(N * kvW);
            dqRot = block.take(N * qW);
            dkRot = block.take(N * kvW);
            dqNormed = block.take(N * qW);
            dkNormed = block.take(N * kvW);
            datty = block.take(N * qW);
            dgate = block.take(N * F);
            dup = block.take(N * F);
            dhidden = block.take(N * F);
            dvalues = block.take(N);
            dscores = block.take(S * Math.max(m.labels, 1));
            dlastNormed = block.take(S * d);
        }
    }
}
