package org.densify.loaders.tokenizer;

import java.util.Arrays;

/**
 * Token ids with the span of the input each came from: token {@code i} covers chars
 * {@code [starts[i], ends[i])} of the string. A span is the smallest run of whole characters
 * (code points; a lone surrogate counts as one) holding the token's bytes. A token that holds
 * only part of a multi-byte character gets that whole character, so neighbours that split one
 * character share it: spans may overlap by one character but never go backwards, and every
 * character belongs to some span. A special token written in the text (GPT-2's {@code <|endoftext|>}: 13 chars) covers its text.
 *
 * <p>Two encodings are equal when their three arrays hold the same numbers ({@link #equals},
 * {@link #hashCode} and {@link #toString} look at the contents, not at the arrays' identity). The
 * accessors return the arrays themselves, not copies.
 */
public record Encoding(int[] ids, int[] starts, int[] ends) {
    /** @throws IllegalArgumentException unless the three arrays have the same length */
    public Encoding {
        if (ids.length != starts.length || ids.length != ends.length) {
            throw new IllegalArgumentException("ids, starts and ends differ in length: " + ids.length + ", "
                    + starts.length + ", " + ends.length);
        }
    }

    public int size() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && Arrays.equals(starts, e.starts)
                && Arrays.equals(ends, e.ends);
    }

    @Override
    public int hashCode() {
        return (Arrays.hashCode(ids) * 31 + Arrays.hashCode(starts)) * 31 + Arrays.hashCode(ends);
    }

    @Override
    public String toString() {
        return "Encoding[ids=" + Arrays.toString(ids) + ", starts=" + Arrays.toString(starts) + ", ends="
                + Arrays.toString(ends) + "]";
    }
}
