package org.densify.core.model;

import static org.densify.core.model.Dense.LINEAR;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * The heads every family puts over its final normed hidden states, forward and backward: the LM
 * head (logits at every row or at each sequence's last row), the classifier ({@code score}, read at
 * each sequence's last row) and TRL's value head (at every row). A family owns its trunk; these it
 * shares.
 *
 * <p>Shapes: {@code hidden [N, d]}, {@code lastHidden [S, d]} (each sequence's last row, gathered by
 * {@link #forward}), {@code logits [N or S, V]}, {@code scores [S, labels]}, {@code values [N]}.
 */
public final class OutputHeads {

    /**
     * The heads' parameters (or their gradients): {@code lmHead [V, d]}, {@code score [labels, d]}
     * or null, {@code valueWeight [1, d]} and {@code valueBias [1]} or null.
     */
    public record Weights(Tensor lmHead, Tensor score, Tensor valueWeight, Tensor valueBias) {}

    /** The heads' inputs and outputs in one pass's activations. */
    public record Buffers(Tensor hidden, Tensor lastHidden, Tensor logits, Tensor scores, Tensor values) {}

    /** The backward's scratch: {@code dhidden [N, d]}, {@code dlastHidden [S, d]}, {@code dvalues [N]}, {@code dscores [S, labels]}. */
    public record Scratch(Tensor dhidden, Tensor dlastHidden, Tensor dvalues, Tensor dscores) {}

    private final Backend backend;
    private final int V, d, labels;
    private final boolean valueHead;

    public OutputHeads(Backend backend, int vocabSize, int hiddenSize, int labels, boolean valueHead) {
        this.backend = backend;
        this.V = vocabSize;
        this.d = hiddenSize;
        this.labels = labels;
        this.valueHead = valueHead;
    }

    /** Logits as {@code which} asks, classifier scores at each last row, values at every row. */
    public void forward(ForwardOptions.Logits which, Buffers a, Weights w, int N, int[] lastIndices) {
        int S = lastIndices.length;
        if (which == ForwardOptions.Logits.LAST || labels > 0) {
            for (int s = 0; s < S; s++) backend.copy(a.lastHidden().slice((long) s * d, d), a.hidden().slice((long) lastIndices[s] * d, d), d);
        }
        if (which == ForwardOptions.Logits.ALL) {
            LINEAR.forward(backend, a.logits(), a.hidden(), w.lmHead(), null, N, d, V);
        } else if (which == ForwardOptions.Logits.LAST) {
            LINEAR.forward(backend, a.logits(), a.lastHidden(), w.lmHead(), null, S, d, V);
        }
        if (labels > 0) LINEAR.forward(backend, a.scores(), a.lastHidden(), w.score(), null, S, d, labels);
        if (valueHead) LINEAR.forward(backend, a.values(), a.hidden(), w.valueWeight(), w.valueBias(), N, d, 1);
    }

    /**
     * Zeroes {@code g.dhidden()} and accumulates into it the gradient from the logits (when the
     * logits buffer holds dLoss/dlogits), from {@code dvalues} and from {@code dscores}; the heads'
     * parameter gradients are accumulated into {@code dw}.
     */
    public void backward(Buffers a, Weights w, Weights dw, Scratch g, boolean logitsHoldGradient, float[] dvalues, float[][] dscores,
                         int N, int[] lastIndices) {
        int S = lastIndices.length;
        backend.zero(g.dhidden());
        if (logitsHoldGradient) {
            // logits [N, V] = hidden [N, d] @ lmHead^T
            LINEAR.addBackwardInput(backend, g.dhidden(), a.logits(), w.lmHead(), N, d, V);
            LINEAR.backwardWeight(backend, dw.lmHead(), a.logits(), a.hidden(), N, d, V);
        }
        if (dvalues != null) {
            if (!valueHead) throw new IllegalStateException("this model has no value head");
            if (dvalues.length != N) throw new IllegalArgumentException("dvalues has " + dvalues.length + " entries for " + N + " tokens");
            backend.write(g.dvalues(), 0, dvalues);
            // values [N, 1] = hidden [N, d] @ v_w^T [d, 1] + v_b
            LINEAR.addBackwardInput(backend, g.dhidden(), g.dvalues(), w.valueWeight(), N, d, 1);
            LINEAR.backwardWeight(backend, dw.valueWeight(), g.dvalues(), a.hidden(), N, d, 1);
            backend.biasBackward(dw.valueBias(), g.dvalues(), N, 1);
        }
        if (dscores != null) {
            if (labels == 0) throw new IllegalStateException("this model has no classifier head");
            if (dscores.length != S) throw new IllegalArgumentException("dscores has " + dscores.length + " rows for " + S + " sequences");
            float[] flat = new float[S * labels];
            for (int s = 0; s < S; s++) {
                if (dscores[s].length != labels) throw new IllegalArgumentException("dscores[" + s + "] has " + dscores[s].length + " entries, expected " + labels);
                System.arraycopy(dscores[s], 0, flat, s * labels, labels);
            }
            backend.write(g.dscores(), 0, flat);
            // scores [S, labels] = lastHidden [S, d] @ score^T
            LINEAR.backwardInput(backend, g.dlastHidden(), g.dscores(), w.score(), S, d, labels);
            LINEAR.backwardWeight(backend, dw.score(), g.dscores(), a.lastHidden(), S, d, labels);
            for (int s = 0; s < S; s++) {
                backend.accumulate(g.dhidden().slice((long) lastIndices[s] * d, d), g.dlastHidden().slice((long) s * d, d), d);
            }
        }
    }

    /**
     * The row, within a decode pass, of each advancing sequence's last new token: sequences with
     * {@code count[s] > 0} in order, their rows back to back.
     */
    public static int[] lastRowsOfAdvancing(int[] count, int advancing) {
        int[] lastIndices = new int[advancing];
        int at = 0, r = 0;
        for (int c : count) {
            if (c == 0) continue;
            at += c;
            lastIndices[r++] = at - 1;
        }
        return lastIndices;
    }
}
