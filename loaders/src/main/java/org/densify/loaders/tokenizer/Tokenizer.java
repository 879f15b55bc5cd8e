package org.densify.loaders.tokenizer;

import java.util.OptionalInt;

/**
 * A text tokenizer as the engine uses one: GPT-2's files ({@link Gpt2Tokenizer}) or a Hugging Face
 * {@code tokenizer.json} ({@link HuggingFaceTokenizer}). {@link Tokenizers#open} picks the right one
 * for a folder. Implementations are thread-safe.
 */
public interface Tokenizer {
    /**
     * The text's tokens with no special token added: Hugging Face's
     * {@code encode(text, add_special_tokens=False)}, where an added token written in the text (such
     * as {@code <|im_start|>}) becomes that token. One documented exception keeps GPT-2's engine
     * behaviour: {@link Gpt2Tokenizer#encode} is GPT-2's reference encoder, which reads a literal
     * {@code <|endoftext|>} as text; its {@link #encodeWithSpecial} is Hugging Face's encoding.
     */
    int[] encode(String text);

    /**
     * Hugging Face's {@code encode(text, add_special_tokens=True)}: added tokens in the text are
     * matched and the post-processor adds its special tokens (Llama 3's {@code <|begin_of_text|>};
     * nothing for GPT-2 and Qwen).
     */
    int[] encodeWithSpecial(String text);

    /**
     * {@link #encode} or, when {@code special}, {@link #encodeWithSpecial}, with each token's character
     * span in {@code text} (see {@link Encoding}); a special token that the encoding adds
     * and the text does not hold gets an empty span where it stands. What a reward model needs to
     * credit its tokens to another tokenizer's. The spans come from the token bytes, so the
     * tokenizer must be byte-level without normalisation (GPT-2, Llama 3, Qwen); otherwise
     * IllegalStateException.
     */
    default Encoding encodeWithOffsets(String text, boolean special) {
        return TokenOffsets.of(this, special ? encodeWithSpecial(text) : encode(text), text);
    }

    /** The text of the tokens (Hugging Face's {@code decode(ids, skip_special_tokens=False)}). */
    String decode(int[] ids);

    /** The text of the tokens, special tokens left out ({@code skip_special_tokens=True}). */
    String decodeSkippingSpecial(int[] ids);

    /** The number of ids: every id is in {@code 0..vocabSize()-1}, added tokens included. */
    int vocabSize();

    /** A token's spelling in the files (byte-level characters such as {@code "Ġthe"}, or an added token). */
    String token(int id);

    /** The bytes a token stands for when decoded (a copy). */
    byte[] tokenBytes(int id);

    /** The id of a token spelled as in the files, or -1. */
    int id(String token);

    /**
     * The token that ends a text (the engine appends it to documents and stops generating at it):
     * GPT-2's {@code <|endoftext|>}; for a {@code tokenizer.json}, {@link #eosId()}, else a token
     * spelled {@code <|endoftext|>}.
     *
     * @throws IllegalStateException when the tokenizer names no end-of-sequence token
     */
    int eotId();

    /** The beginning-of-sequence token, if the files name one. */
    OptionalInt bosId();

    /** The end-of-sequence token, if the files name one. */
    OptionalInt eosId();

    /** The padding token, if the files name one. */
    OptionalInt padId();
}
