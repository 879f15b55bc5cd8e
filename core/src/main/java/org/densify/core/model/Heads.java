package org.densify.core.model;


/**
 * Which heads beside the LM head a model carries: a classifier ({@code score.weight} at each
 * sequence's last token) and TRL's value head ({@code v_head.summary.*} at every token).
 * ({@link org.densify.core.model.gpt2.Gpt2Model.Heads} is GPT-2's own, kept for its callers in core.)
 */
public record Heads(boolean classifier, boolean value) {
    public static final Heads NONE = new Heads(false, false);
}
