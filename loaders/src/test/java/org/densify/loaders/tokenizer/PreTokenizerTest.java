package org.densify.loaders.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

class PreTokenizerTest {
    /** JavaScript's \s: WhiteSpace (TAB, VT, FF, ZWNBSP, Zs) and LineTerminator (LF, CR, LS, PS). */
    private static final String JS_SPACE = "\\t\\n\\x0B\\f\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF";
    /** GPT-2's pattern with JavaScript's \s spelled out; \p{L} and \p{N} are the JDK's general categories. */
    private static final Pattern GPT2 = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + JS_SPACE
            + "\\p{L}\\p{N}]+|[" + JS_SPACE + "]+(?![^" + JS_SPACE + "])|[" + JS_SPACE + "]+");

    /** The class the JDK's Unicode data gives, with JavaScript's \s. */
    private static byte jdkClass(int cp) {
        if (cp >= 0x09 && cp <= 0x0D || cp == 0xFEFF || cp == 0x2028 || cp == 0x2029
                || Character.getType(cp) == Character.SPACE_SEPARATOR) return PreTokenizer.SPACE;
        if (Character.isLetter(cp)) return PreTokenizer.LETTER;
        int t = Character.getType(cp);
        if (t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER) {
            return PreTokenizer.NUMBER;
        }
        return PreTokenizer.OTHER;
    }

    /**
     * The table (the reference engine's Unicode) and the JDK may differ only on code points the JDK
     * does not know yet (the reference's Unicode is newer), never on assigned ones.
     */
    @Test
    void tableDiffersFromTheJdkOnlyWhereTheJdkHasNoCharacter() {
        int differ = 0;
        for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
            if (PreTokenizer.classOf(cp) != jdkClass(cp)) {
                differ++;
                assertEquals(Character.UNASSIGNED, Character.getType(cp), "U+" + Integer.toHexString(cp));
            }
        }
        assertTrue(differ < 10_000, differ + " code points differ");
        assertEquals(PreTokenizer.OTHER, PreTokenizer.classOf(0xD800)); // lone surrogates are "other"
        assertEquals(PreTokenizer.SPACE, PreTokenizer.classOf(0xFEFF));
        assertEquals(PreTokenizer.OTHER, PreTokenizer.classOf(0x85)); // NEL is not a JavaScript blank
    }

    @Test
    void scannerEqualsTheRegexOnCases() {
        int compared = 0;
        for (Fixtures.Case c : Fixtures.cases()) {
            if (!jdkAgrees(c.text())) continue; // uses letters the JDK does not know
            assertEquals(regexPieces(c.text()), scannerPieces(c.text()), c.name());
            compared++;
        }
        assertTrue(compared > 300);
    }

    @Test
    void scannerEqualsTheRegexOnRandomText() {
        SplittableRandom rnd = new SplittableRandom(11);
        String tricky = "'sStTrReEvVmMlLdD  \t\n\r\u00A0\u3000\u0085\uFEFF1٣½,.!\"'-é中😀\uD800\uDC00";
        for (int i = 0; i < 20_000; i++) {
            String s = i % 2 == 0 ? Fixtures.randomText(rnd, 30, true) : pick(rnd, tricky, 30);
            if (!jdkAgrees(s)) continue;
            assertEquals(regexPieces(s), scannerPieces(s), () -> Gpt2TokenizerTest.escape(s));
        }
    }

    @Test
    void segmentLimitActsAsEndOfText() {
        // "a  " then "b": within [0, 3) the blanks are trailing, so they stay one piece.
        assertEquals(1, PreTokenizer.pieceEnd("a  b", 0, 3));
        assertEquals(3, PreTokenizer.pieceEnd("a  b", 1, 3));
        assertEquals(2, PreTokenizer.pieceEnd("a  b", 1, 4));
        // A surrogate pair split by the limit is a lone surrogate inside the segment.
        assertEquals(1, PreTokenizer.pieceEnd("\uD83D\uDE00", 0, 1));
    }

    private static String pick(SplittableRandom rnd, String alphabet, int max) {
        int[] cps = alphabet.codePoints().toArray();
        StringBuilder sb = new StringBuilder();
        for (int n = rnd.nextInt(max + 1); n > 0; n--) sb.appendCodePoint(cps[rnd.nextInt(cps.length)]);
        return sb.toString();
    }

    private static boolean jdkAgrees(String s) {
        return s.codePoints().allMatch(cp -> PreTokenizer.classOf(cp) == jdkClass(cp));
    }

    private static List<String> regexPieces(String s) {
        List<String> out = new ArrayList<>();
        Matcher m = GPT2.matcher(s);
        int last = 0;
        while (m.find()) {
            assertEquals(last, m.start(), "regex skipped text"); // the pattern covers every code point
            out.add(m.group());
            last = m.end();
        }
        assertEquals(s.length(), last);
        return out;
    }

    private static List<String> scannerPieces(String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0, e; i < s.length(); i = e) {
            e = PreTokenizer.pieceEnd(s, i, s.length());
            assertTrue(e > i);
            out.add(s.substring(i, e));
        }
        return out;
    }
}
