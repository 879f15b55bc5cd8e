package org.densify.core.model;

import org.densify.core.Tensor;

/**
 * What a forward pass produced: a view of the model's activation block, valid until the next
 * forward. Host copies are made on request.
 */
public final class Outputs {
    private final Gpt2Model model;
    final Activations activations;
    final Batch batch;
    final int tokenCount;

    Outputs(Gpt2Model model, Activations activations, Batch batch, int tokenCount) {
        this.model = model;
        this.activations = activations;
        this.batch = batch;
        this.tokenCount = tokenCount;
    }

    /** Outputs view memory that the next pass reuses; reading them after it would return its values. */
    void checkCurrent() {
        if (model.current != activations) {
            throw new IllegalStateException("these outputs are stale: a later forward pass has reused the activation memory");
        }
    }

    public Batch batch() {
        return batch;
    }

    public ForwardOptions options() {
        return activations.options;
    }

    /** The logits on the device: [N, V] for Logits.ALL, [S, V] for Logits.LAST. */
    public Tensor logits() {
        checkCurrent();
        return activations.logits;
    }

    /** One row of {@link #logits()} copied to the host, [V]. */
    public float[] logitsRow(int row) {
        checkCurrent();
        float[] out = new float[model.V];
        model.backend.read(activations.logits, (long) row * model.V, out);
        return out;
    }

    /**
     * Marks that the caller has overwritten {@link #logits()} with dLoss/dlogits, so that {@link
     * Gpt2Model#backward} propagates it.
     */
    public void logitsHoldGradient() {
        checkCurrent();
        activations.logitsHoldGradient = true;
    }

    /** The classifier head's logits at each sequence's last token, [S][labels]. */
    public float[][] scores() {
        checkCurrent();
        if (!model.hasClassifier()) throw new IllegalStateException("this model has no classifier head (score.weight)");
        int S = batch.size();
        float[] flat = new float[S * model.labels];
        model.backend.read(activations.scores, 0, flat);
        float[][] out = new float[S][model.labels];
        for (int s = 0; s < S; s++) System.arraycopy(flat, s * model.labels, out[s], 0, model.labels);
        return out;
    }

    /**
     * The classifier head applied at every token rather than only at each sequence's last one, [N][labels]:
     * row i is the score the model gives the prefix ending at token i (its own sequence's tokens only).
     * Computed on request from the final hidden states the pass kept.
     */
    public float[][] scoresAtEveryToken() {
        checkCurrent();
        if (!model.hasClassifier()) throw new IllegalStateException("this model has no classifier head (score.weight)");
        int labels = model.labels;
        float[] flat = new float[tokenCount * labels];
        Tensor all = model.backend.allocate((long) tokenCount * labels);
        try {
            model.backend.matmul(all, activations.lnf, model.w.score, null, tokenCount, labels, model.C, false, true, false);
            model.backend.read(all, 0, flat);
        } finally {
            model.backend.free(all);
        }
        float[][] out = new float[tokenCount][labels];
        for (int i = 0; i < tokenCount; i++) System.arraycopy(flat, i * labels, out[i], 0, labels);
        return out;
    }

    /**
     * The classifier head at one chosen token of each sequence, [S][labels]: row s is the score of
     * sequence s's prefix ending at its token {@code positions[s]} (0-based within the sequence).
     * Hugging Face's classifiers read the token before the first padding token, which need not be
     * the last token given to the model.
     */
    public float[][] scoresAt(int[] positions) {
        checkCurrent();
        if (!model.hasClassifier()) throw new IllegalStateException("this model has no classifier head (score.weight)");
        int S = batch.size();
        if (positions.length != S) throw new IllegalArgumentException(S + " sequences but " + positions.length + " positions");
        int labels = model.labels, C = model.C;
        Tensor rows = model.backend.allocate((long) S * C);
        Tensor scores = model.backend.allocate((long) S * labels);
        float[] flat = new float[S * labels];
        try {
            for (int s = 0; s < S; s++) {
                if (positions[s] < 0 || positions[s] >= batch.seqLengths()[s]) {
                    throw new IllegalArgumentException("position " + positions[s] + " is outside sequence " + s + " of " + batch.seqLengths()[s] + " tokens");
                }
                model.backend.copy(rows.slice((long) s * C, C), activations.lnf.slice((long) (batch.start(s) + positions[s]) * C, C), C);
            }
            model.backend.matmul(scores, rows, model.w.score, null, S, labels, C, false, true, false);
            model.backend.read(scores, 0, flat);
        } finally {
            model.backend.free(rows);
            model.backend.free(scores);
        }
        float[][] out = new float[S][labels];
        for (int s = 0; s < S; s++) System.arraycopy(flat, s * labels, out[s], 0, labels);
        return out;
    }

    /** The value head at every token, [N]. */
    public float[] values() {
        checkCurrent();
        if (!model.hasValueHead()) throw new IllegalStateException("this model has no value head (v_head.summary.*)");
        float[] out = new float[tokenCount];
        model.backend.read(activations.values, 0, out);
        return out;
    }

    /**
     * For each sequence, the last layer's attention probabilities of its last token over all of its
     * tokens, averaged over heads: [S][T_s]. Needs {@code Capture.LAST_ROW}.
     */
    public float[][] lastRowAttention() {
        checkCurrent();
        if (activations.lastRow == null) throw new IllegalStateException("the forward did not capture the last attention row (Capture.LAST_ROW)");
        float[] flat = new float[tokenCount];
        model.backend.read(activations.lastRow, 0, flat);
        float[][] out = new float[batch.size()][];
        int at = 0;
        for (int s = 0; s < batch.size(); s++) {
            int len = batch.seqLengths()[s];
            out[s] = java.util.Arrays.copyOfRange(flat, at, at + len);
            at += len;
        }
        return out;
    }

    /**
     * Layer {@code layer}'s attention probabilities of sequence s, [NH][T][T] flattened (query rows,
     * zeros above the diagonal). Needs {@code Capture.ALL_LAYERS} or a training forward.
     */
    public float[] attention(int sequence, int layer) {
        checkCurrent();
        Tensor att = activations.layer(layer).att();
        if (att == null) throw new IllegalStateException("the forward kept no attention maps (Capture.ALL_LAYERS)");
        long offset = 0;
        for (int s = 0; s < sequence; s++) offset += (long) batch.seqLengths()[s] * batch.seqLengths()[s];
        int T = batch.seqLengths()[sequence];
        float[] out = new float[model.NH * T * T];
        model.backend.read(att, offset * model.NH, out);
        return out;
    }
}
