package org.densify.loaders.tokenizer;

/**
 * The pre-tokenizer regular expressions of the {@code tokenizer.json} files the engine reads, each as a
 * hand-written scanner that cuts exactly where Hugging Face's regex engine (Oniguruma) cuts: the
 * alternatives are tried in the pattern's order at each position and the first that matches wins,
 * with the backtracking the pattern implies. Scanners step over code points of well-formed text and
 * use Oniguruma's classes ({@link #classOf}).
 */
enum SplitPattern {
    /** GPT-2's pattern: Hugging Face's {@code ByteLevel} pre-tokenizer with {@code use_regex: true}. */
    GPT2("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", 0),
    /** Llama 3's {@code Split}: numbers in groups of up to three digits. */
    LLAMA3("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
            + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 3),
    /** Qwen2, Qwen2.5 and Qwen3's {@code Split}: Llama 3's with single digits. */
    QWEN2("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
            + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 1);

    static final byte OTHER = 0, LETTER = 1, NUMBER = 2, SPACE = 3;

    /** The regex as {@code tokenizer.json} spells it. */
    final String regex;
    /** Digits per number piece for the Llama 3 family; 0 for GPT-2's pattern. */
    private final int maxDigits;

    SplitPattern(String regex, int maxDigits) {
        this.regex = regex;
        this.maxDigits = maxDigits;
    }

    /** The pattern spelled {@code regex}, or null. */
    static SplitPattern of(String regex) {
        for (SplitPattern p : values()) if (p.regex.equals(regex)) return p;
        return null;
    }

    /**
     * Oniguruma's class of a code point: {@code \s} is the Unicode White_Space property (U+0085 and
     * U+00A0 in, U+180E, U+200B and U+FEFF out), {@code \p{L}} and {@code \p{N}} the general categories.
     * The JDK's Unicode version (16 in JDK 25) agrees with the engine of tokenizers 0.23.2 on every code
     * point (a test checks all of them).
     */
    static byte classOf(int cp) {
        if (cp <= 0x20 ? cp == 0x20 || cp >= 0x09 && cp <= 0x0D
                : cp == 0x85 || cp == 0xA0 || cp == 0x1680 || cp >= 0x2000 && cp <= 0x200A
                || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000) {
            return SPACE;
        }
        return switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            default -> OTHER;
        };
    }

    /** The end of the piece that starts at {@code start} (< {@code limit}); {@code limit} is the end of the text. */
    int pieceEnd(String s, int start, int limit) {
        return this == GPT2 ? gpt2End(s, start, limit) : llamaEnd(s, start, limit);
    }

    private static int gpt2End(String s, int start, int limit) {
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
        if (c == ' ' && start + 1 < limit && classOf(s.codePointAt(start + 1)) != SPACE) i++;
        int cp = s.codePointAt(i);
        byte k = classOf(cp);
        if (k != SPACE) return runEnd(s, i, limit, k, Integer.MAX_VALUE);
        // Blanks (all in the BMP): "\s+(?!\S)" gives back the last blank before a non-blank, which a
        // lone blank cannot do, so "\s+" takes it.
        int j = runEnd(s, start, limit, SPACE, Integer.MAX_VALUE);
        return j == limit || j - start == 1 ? j : j - 1;
    }

    private int llamaEnd(String s, int start, int limit) {
        int c = s.codePointAt(start);
        int next = start + Character.charCount(c);
        // (?i:'s|'t|'re|'ve|'m|'ll|'d): case-insensitive, with Unicode simple case folding (ſ is s).
        if (c == '\'' && next < limit) {
            int d = folded(s.codePointAt(next));
            int after = next + Character.charCount(s.codePointAt(next));
            if (d == 's' || d == 't' || d == 'm' || d == 'd') return after;
            if (after < limit) {
                int e = folded(s.codePointAt(after));
                if ((d == 'r' || d == 'v') && e == 'e' || d == 'l' && e == 'l') return after + 1;
            }
        }
        byte k = classOf(c);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (k == LETTER) return runEnd(s, start, limit, LETTER, Integer.MAX_VALUE);
        if (k != NUMBER && c != '\r' && c != '\n' && next < limit && classOf(s.codePointAt(next)) == LETTER) {
            return runEnd(s, next, limit, LETTER, Integer.MAX_VALUE);
        }
        // \p{N}{1,3} or \p{N}
        if (k == NUMBER) return runEnd(s, start, limit, NUMBER, maxDigits);
        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        int i = c == ' ' && next < limit && classOf(s.codePointAt(next)) == OTHER ? next : start;
        if (classOf(s.codePointAt(i)) == OTHER) {
            int j = runEnd(s, i, limit, OTHER, Integer.MAX_VALUE);
            while (j < limit && (s.charAt(j) == '\r' || s.charAt(j) == '\n')) j++;
            return j;
        }
        // Blanks (all in the BMP). "\s*[\r\n]+": the blank run up to its last line break.
        int j = runEnd(s, start, limit, SPACE, Integer.MAX_VALUE);
        for (int b = j - 1; b >= start; b--) {
            if (s.charAt(b) == '\r' || s.charAt(b) == '\n') return b + 1;
        }
        // "\s+(?!\S)", else "\s+".
        return j == limit || j - start == 1 ? j : j - 1;
    }

    /** The end of the run of class {@code k} from {@code i}, at most {@code max} code points. */
    private static int runEnd(String s, int i, int limit, byte k, int max) {
        int n = 0;
        while (i < limit && n < max) {
            int cp = s.codePointAt(i);
            if (classOf(cp) != k) break;
            i += Character.charCount(cp);
            n++;
        }
        return i;
    }

    /** The ASCII lower-case letter a code point folds to, for the letters of the contractions. */
    private static int folded(int cp) {
        if (cp == 0x17F) return 's'; // LATIN SMALL LETTER LONG S folds to s
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    }
}
