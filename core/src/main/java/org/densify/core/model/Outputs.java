package org.densify.core.model;

import static org.densify.core.model.Dense.LINEAR;

import java.util.Arrays;
import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * What a forward pass produced: a view of the model's activation block, valid until the next pass
 * of the same model. Host copies are made on request. Model implementations build it from {@link
 * Views}; everything else only reads it.
 */
public final class Outputs {

    /**
     * The device tensors of one pass.
     *
     * @param logits      [N, V] (Logits.ALL), [S, V] (LAST) or empty
     * @param scores      [S, labels], or null without a classifier
     * @param values      [N], or null without a value head
     * @param lastRow     [N] head-averaged last query row of the last layer, or null when not captured
     * @param attention   per layer, [heads * sum T_s^2] maps, or null when not kept
     * @param finalHidden [N, hidden] the final normed hidden states (the heads' input)
     * @param scoreWeight [labels, hidden], or null
     */
    public record Views(Tensor logits, Tensor scores, Tensor values, Tensor lastRow, Tensor[] attention, Tensor finalHidden,
                        Tensor scoreWeight) {}

    /** Counts a model's passes, so that outputs of an earlier pass know they are stale. */
    public static final class PassCounter {
        private long passes;

        /** Starts a new pass and returns its number. */
        public long next() {
            return ++passes;
        }
    }

    private final LanguageModel model;
    private final PassCounter counter;
    private final long pass;
    private final Object state;
    final Batch batch;
    final int tokenCount;
    private final ForwardOptions options;
    private final Views views;
    private final int heads;
    private boolean logitsHoldGradient;

    /**
     * @param pass  the number {@code counter.next()} gave this pass
     * @param state the model's own record of the pass (its activations), for its backward
     * @param heads query heads of each attention map
     */
    public Outputs(LanguageModel model, PassCounter counter, long pass, Object state, Batch batch, ForwardOptions options,
                   Views views, int heads) {
        this.model = model;
        this.counter = counter;
        this.pass = pass;
        this.state = state;
        this.batch = batch;
        this.tokenCount = batch.tokenCount();
        this.options = options;
        this.views = views;
        this.heads = heads;
    }

    /** Outputs view memory that the next pass reuses; reading them after it would return its values. */
    public void checkCurrent() {
        if (counter.passes != pass) {
            throw new IllegalStateException("these outputs are stale: a later forward pass has reused the activation memory");
        }
    }

    /** The producing model's record of the pass, checked to be of the type it expects. */
    public <T> T state(LanguageModel owner, Class<T> type) {
        if (owner != model || !type.isInstance(state)) throw new IllegalArgumentException("these outputs come from another model");
        return type.cast(state);
    }

    public Batch batch() {
        return batch;
    }

    public ForwardOptions options() {
        return options;
    }

    public int tokenCount() {
        return tokenCount;
    }

    /** Whether {@link #logits()} holds dLoss/dlogits (set by the loss, or by {@link #logitsHoldGradient()}). */
    public boolean holdsLogitGradient() {
        return logitsHoldGradient;
    }

    /** Set by a model once its backward has consumed the logit gradient, or by its loss. */
    public void setLogitsHoldGradient(boolean hold) {
        logitsHoldGradient = hold;
    }

    /** The logits on the device: [N, V] for Logits.ALL, [S, V] for Logits.LAST. */
    public Tensor logits() {
        checkCurrent();
        return views.logits();
    }

    /** One row of {@link #logits()} copied to the host, [V]. */
    public float[] logitsRow(int row) {
        checkCurrent();
        float[] out = new float[model.vocabSize()];
        model.backend().read(views.logits(), (long) row * model.vocabSize(), out);
        return out;
    }

    /** Marks that the caller has overwritten {@link #logits()} with dLoss/dlogits, so that backward propagates it. */
    public void logitsHoldGradient() {
        checkCurrent();
        logitsHoldGradient = true;
    }

    /** The classifier head's logits at each sequence's last token, [S][labels]. */
    public float[][] scores() {
        checkCurrent();
        if (!model.hasClassifier()) throw new IllegalStateException("this model has no classifier head (score.weight)");
        int S = batch.size(), labels = model.numLabels();
        float[] flat = new float[S * labels];
        model.backend().read(views.scores(), 0, flat);
        float[][] out = new float[S][labels];
        for (int s = 0; s < S; s++) System.arraycopy(flat, s * labels, out[s], 0, labels);
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
        int labels = model.numLabels();
        Backend backend = model.backend();
        float[] flat = new float[tokenCount * labels];
        Tensor all = backend.allocate((long) tokenCount * labels);
        try {
            LINEAR.forward(backend, all, views.finalHidden(), views.scoreWeight(), null, tokenCount, model.hiddenSize(), labels);
            backend.read(all, 0, flat);
        } finally {
            backend.free(all);
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
        int labels = model.numLabels(), C = model.hiddenSize();
        Backend backend = model.backend();
        Tensor rows = backend.allocate((long) S * C);
        Tensor scores = backend.allocate((long) S * labels);
        float[] flat = new float[S * labels];
        try {
            for (int s = 0; s < S; s++) {
                if (positions[s] < 0 || positions[s] >= batch.seqLengths()[s]) {
                    throw new IllegalArgumentException("position " + positions[s] + " is outside sequence " + s + " of " + batch.seqLengths()[s] + " tokens");
                }
                backend.copy(rows.slice((long) s * C, C), views.finalHidden().slice((long) (batch.start(s) + positions[s]) * C, C), C);
            }
            LINEAR.forward(backend, scores, rows, views.scoreWeight(), null, S, C, labels);
            backend.read(scores, 0, flat);
        } finally {
            backend.free(rows);
            backend.free(scores);
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
        model.backend().read(views.values(), 0, out);
        return out;
    }

    /**
     * For each sequence, the last layer's attention probabilities of its last token over all of its
     * tokens, averaged over (query) heads: [S][T_s]. Needs {@code Capture.LAST_ROW}.
     */
    public float[][] lastRowAttention() {
        checkCurrent();
        if (views.lastRow() == null) throw new IllegalStateException("the forward did not capture the last attention row (Capture.LAST_ROW)");
        float[] flat = new float[tokenCount];
        model.backend().read(views.lastRow(), 0, flat);
        float[][] out = new float[batch.size()][];
        int at = 0;
        for (int s = 0; s < batch.size(); s++) {
            int len = batch.seqLengths()[s];
            out[s] = Arrays.copyOfRange(flat, at, at + len);
            at += len;
        }
        return out;
    }

    /**
     * Layer {@code layer}'s attention probabilities of sequence s, [heads][T][T] flattened (query rows,
     * zeros above the diagonal). Needs {@code Capture.ALL_LAYERS} or a training forward.
     */
    public float[] attention(int sequence, int layer) {
        checkCurrent();
        Tensor att = views.attention() == null ? null : views.attention()[layer];
        if (att == null) throw new IllegalStateException("the forward kept no attention maps (Capture.ALL_LAYERS)");
        long offset = 0;
        for (int s = 0; s < sequence; s++) offset += (long) batch.seqLengths()[s] * batch.seqLengths()[s];
        int T = batch.seqLengths()[sequence];
        float[] out = new float[heads * T * T];
        model.backend().read(att, offset * heads, out);
        return out;
    }
}
