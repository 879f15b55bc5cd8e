package org.densify.core.model;

import org.densify.loaders.model.ModelFamily;

/**
 * What a model trained from scratch is made of, whatever its family ({@link Models#create}). The
 * family-specific sizes have their defaults here ({@link #of}); a family that has no such size
 * (GPT-2: no grouped-query attention, a 4x MLP, learned positions, a tied LM head) refuses any other
 * value by name.
 *
 * @param keyValueHeads    key/value heads (grouped-query attention); {@code heads} for GPT-2
 * @param intermediateSize width of the MLP's hidden layer
 * @param ropeTheta        base of the rotary frequencies (Llama family)
 * @param tieEmbeddings    the LM head is the token embedding
 * @param bosTokenId       the tokenizer's begin-of-sequence token, or null (written to the config; Llama family)
 * @param eosTokenId       the end-of-sequence token, or null (Llama family)
 * @param padTokenId       the padding token, or null (Llama family)
 */
public record FreshModel(ModelFamily family, int vocabSize, int context, int hiddenSize, int layers, int heads, int keyValueHeads,
                         int intermediateSize, double ropeTheta, boolean tieEmbeddings, Integer bosTokenId, Integer eosTokenId,
                         Integer padTokenId) {

    /** The MLP width as a multiple of the hidden size when none is given (GPT-2's, and this engine's default for Llama). */
    public static final int MLP_RATIO = 4;
    /** Llama's rotary base when none is given (Hugging Face's LlamaConfig default). */
    public static final double DEFAULT_ROPE_THETA = 10_000;
    /** Whether a fresh model ties its LM head to the token embedding when not told (GPT-2 always does; small Llama models usually do). */
    public static final boolean DEFAULT_TIE_EMBEDDINGS = true;

    /**
     * A fresh model with the family's defaults for whatever is null: key/value heads = heads,
     * intermediate = {@link #MLP_RATIO} x hidden, {@link #DEFAULT_ROPE_THETA}, {@link #DEFAULT_TIE_EMBEDDINGS}.
     */
    public static FreshModel of(ModelFamily family, int vocabSize, int context, int hiddenSize, int layers, int heads, Integer keyValueHeads,
                                Integer intermediateSize, Double ropeTheta, Boolean tieEmbeddings) {
        return new FreshModel(family, vocabSize, context, hiddenSize, layers, heads, keyValueHeads != null ? keyValueHeads : heads,
                intermediateSize != null ? intermediateSize : MLP_RATIO * hiddenSize, ropeTheta != null ? ropeTheta : DEFAULT_ROPE_THETA,
                tieEmbeddings != null ? tieEmbeddings : DEFAULT_TIE_EMBEDDINGS, null, null, null);
    }

    /** This model with the tokenizer's special tokens written into its config. */
    public FreshModel withSpecialTokens(Integer bos, Integer eos, Integer pad) {
        return new FreshModel(family, vocabSize, context, hiddenSize, layers, heads, keyValueHeads, intermediateSize, ropeTheta, tieEmbeddings,
                bos, eos, pad);
    }
}
