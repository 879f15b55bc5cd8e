package org.densify.core.model;

/**
 * Which heads beside the LM head a model carries: a classifier ({@code score.weight} at each
 * sequence's last token) and TRL's value head ({@code v_head.summary.*} at every token).
 * (Gpt2Model keeps its own {@link Gpt2Model.Heads} until the RLHF layer moves to {@link LanguageModel}.)
 */
public record Heads(boolean classifier, boolean value) {
    public static final Heads NONE = new Heads(false, false);
}
