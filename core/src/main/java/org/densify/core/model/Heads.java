package org.densify.core.model;

/**
 * Which heads beside the LM head a model carries: a classifier ({@code score.weight}, read at each
 * sequence's last token: a reward model) and TRL's value head ({@code v_head.summary.*}, at every
 * token: a PPO policy).
 */
public enum Heads {
    /** The LM head alone: a pretrained model, PPO's frozen reference. */
    NONE(false, false),
    /** A classifier: a reward model. */
    CLASSIFIER(true, false),
    /** TRL's value head: a PPO policy. */
    VALUE(false, true),
    /** Both: a classifier trained further as a policy, and tests of every head at once. */
    CLASSIFIER_AND_VALUE(true, true);

    private final boolean classifier;
    private final boolean value;

    Heads(boolean classifier, boolean value) {
        this.classifier = classifier;
        this.value = value;
    }

    /** The heads a stored folder holds, from what it stores. */
    public static Heads of(boolean hasClassifier, boolean hasValueHead) {
        return hasClassifier ? (hasValueHead ? CLASSIFIER_AND_VALUE : CLASSIFIER) : (hasValueHead ? VALUE : NONE);
    }

    public boolean classifier() {
        return classifier;
    }

    public boolean value() {
        return value;
    }
}
