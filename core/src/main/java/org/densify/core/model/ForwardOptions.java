package org.densify.core.model;

/**
 * What a forward pass computes and keeps.
 *
 * @param logits   which LM-head rows to compute: every position (losses, PPO), each sequence's last
 *                 position (generation, scoring), or none (classifier / value only)
 * @param capture  attention to capture: nothing (free), each sequence's last query row of the last
 *                 layer averaged over heads (what Attention Based Credit needs, written by the
 *                 attention kernel itself), or every layer's full maps (inspection, tests)
 * @param training keep every layer's activations so that {@link LanguageModel#backward} can follow
 */
public record ForwardOptions(Logits logits, Capture capture, boolean training) {

    public enum Logits { ALL, LAST, NONE }

    public enum Capture { NONE, LAST_ROW, ALL_LAYERS }

    /** All logits, no capture, no backward. */
    public static ForwardOptions forInference() {
        return new ForwardOptions(Logits.ALL, Capture.NONE, false);
    }

    /** All logits, no capture, activations kept for a backward pass. */
    public static ForwardOptions forTraining() {
        return new ForwardOptions(Logits.ALL, Capture.NONE, true);
    }

    public ForwardOptions withLogits(Logits l) {
        return new ForwardOptions(l, capture, training);
    }

    public ForwardOptions withCapture(Capture c) {
        return new ForwardOptions(logits, c, training);
    }
}
