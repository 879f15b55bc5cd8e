package org.densify.loaders.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's pre-tokenizer, {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+},
 * as a hand-written scanner. It reproduces the JavaScript reference, which compiles the pattern with
 * the {@code u} flag: it steps over code points (a lone surrogate is one code point of class "other"),
 * {@code \s} is JavaScript's set (it has U+FEFF, it lacks U+0085), and the classes come from
 * {@link UnicodeTable}, the reference engine's own Unicode data, not from the JDK's.
 */
final class PreTokenizer {
    private PreTokenizer() {
    }

    static final byte OTHER = 0, LETTER = 1, NUMBER = 2, SPACE = 3;

    /** Class of every BMP code point; supplementary ones are looked up in the runs. */
    private static final byte[] BMP = new byte[0x10000];
    private static final int[] RUN_START;
    private static final byte[] RUN_CLASS;

    static {
        String[] runs = UnicodeTable.RUNS.trim().split(" ");
        RUN_START = new int[runs.length];
        RUN_CLASS = new byte[runs.length];
        for (int i = 0; i < runs.length; i++) {
            String r = runs[i];
            RUN_START[i] = Integer.parseInt(r, 0, r.length() - 1, 16);
            RUN_CLASS[i] = switch (r.charAt(r.length() - 1)) {
                case 'L' -> LETTER;
                case 'N' -> NUMBER;
                case 'S' -> SPACE;
                default -> OTHER;
            };
        }
        for (int i = 0; i < runs.length && RUN_START[i] < 0x10000; i++) {
            int end = i + 1 < runs.length ? Math.min(RUN_START[i + 1], 0x10000) : 0x10000;
            Arrays.fill(BMP, RUN_START[i], end, RUN_CLASS[i]);
        }
    }

    static byte classOf(int cp) {
        if (cp < 0x10000) return BMP[cp];
        int i = Arrays.binarySearch(RUN_START, cp);
        return RUN_CLASS[i >= 0 ? i : -i - 2];
    }

    /** The code point at {@code i}, pairing surrogates only within {@code limit}. */
    static int codePointAt(CharSequence s, int i, int limit) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c) && i + 1 < limit) {
            char d = s.charAt(i + 1);
            if (Character.isLowSurrogate(d)) return Character.toCodePoint(c, d);
        }
        return c;
    }

    /**
     * The end of the piece that starts at {@code start} (< {@code limit}), treating {@code limit}
     * as the end of the text. Alternatives are tried in the pattern's order, so the first that
     * matches wins, as in a regex engine.
     */
    static int pieceEnd(CharSequence s, int start, int limit) {
        char c = s.charAt(start);
        if (c == '\'' && start + 1 < limit) {
            char d = s.charAt(start + 1);
            if (d == 's' || d == 't' || d == 'm' || d == 'd') return start + 2;
            if (start + 2 < limit) {
                char e = s.charAt(start + 2);
                if ((d == 'r' || d == 'v') && e == 'e' || d == 'l' && e == 'l') return start + 3;
            }
        }
        // " ?X+" for X letter, number or other: one optional space, then a run of one class.
        int i = start;
        if (c == ' ' && start + 1 < limit && classOf(codePointAt(s, start + 1, limit)) != SPACE) i++;
        int cp = codePointAt(s, i, limit);
        byte k = classOf(cp);
        if (k != SPACE) {
            do {
                i += Character.charCount(cp);
            } while (i < limit && classOf(cp = codePointAt(s, i, limit)) == k);
            return i;
        }
        // Blanks (all in the BMP): "\s+(?!\S)" backtracks to leave the last blank before a non-blank
        // to the next piece; a single blank before a non-blank is matched by the final "\s+".
        int j = start + 1;
        while (j < limit && classOf(codePointAt(s, j, limit)) == SPACE) j++;
        return j == limit || j - start == 1 ? j : j - 1;
    }
}
