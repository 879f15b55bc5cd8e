package org.densify.loaders.tokenizer;

import java.util.Arrays;

/**
 * Character spans of a byte-level tokenizer's tokens, from the token bytes alone: the text's UTF-8
 * bytes (a lone surrogate as U+FFFD's three, as the tokenizers encode it) are walked token by token;
 * a token whose bytes are the next bytes of the text takes the whole characters holding them (as
 * {@link Encoding} defines spans), and a token that is not in the text (a special token
 * the post-processor adds, such as Llama 3's {@code <|begin_of_text|>}) gets an empty span where it
 * stands.
 */
final class TokenOffsets {
    private TokenOffsets() {
    }

    static Encoding of(Tokenizer tokenizer, int[] ids, String text) {
        int[] charStart = new int[3 * text.length() + 1], charEnd = new int[3 * text.length() + 1];
        byte[] bytes = new byte[3 * text.length()];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = PreTokenizer.codePointAt(text, i, text.length());
            int chars = Character.charCount(cp);
            if (Character.isSurrogate((char) cp) && cp < 0x10000) cp = 0xFFFD; // a lone surrogate: one char, encoded as U+FFFD
            byte[] b = new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            for (byte x : b) {
                charStart[n] = i;
                charEnd[n] = i + chars;
                bytes[n++] = x;
            }
            i += chars;
        }
        int[] starts = new int[ids.length], ends = new int[ids.length];
        int at = 0;
        for (int t = 0; t < ids.length; t++) {
            byte[] token = tokenizer.tokenBytes(ids[t]);
            if (token.length > 0 && at + token.length <= n && Arrays.equals(bytes, at, at + token.length, token, 0, token.length)) {
                starts[t] = charStart[at];
                ends[t] = charEnd[at + token.length - 1];
                at += token.length;
            } else {
                int here = at < n ? charStart[at] : text.length();
                starts[t] = here;
                ends[t] = here;
            }
        }
        if (at != n) {
            throw new IllegalStateException("the tokens' bytes do not spell the text (" + at + " of " + n
                    + " bytes matched): character offsets need a byte-level tokenizer without normalisation");
        }
        return new Encoding(ids, starts, ends);
    }
}
