package org.densify.loaders.tokenizer;

/**
 * GPT-2's byte level: the fixed byte-to-character table that makes every byte a printable vocabulary
 * symbol, and UTF-8 exactly as the reference encoder's JavaScript {@code TextEncoder} and
 * {@code TextDecoder} do it (Java's own UTF-8 codec differs on both: it turns a lone surrogate into
 * {@code '?'} and it replaces some malformed sequences with fewer U+FFFD than the WHATWG decoder).
 */
final class ByteLevel {
    private ByteLevel() {
    }

    /** {@code BYTE_CHAR[b]}: the character GPT-2 uses for byte {@code b}. */
    private static final char[] BYTE_CHAR = new char[256];
    /** The bytes in GPT-2's id order: printable ones in byte order, then the rest. */
    private static final int[] ID_ORDER = new int[256];
    /** The inverse of {@link #BYTE_CHAR}, -1 for characters that stand for no byte. */
    private static final int[] CHAR_BYTE = new int[0x144];

    static {
        // Printable Latin-1 bytes stand for themselves; the 68 others are moved to U+0100.. in byte order.
        int k = 0;
        for (int b = 0; b < 256; b++) {
            if (printable(b)) {
                BYTE_CHAR[b] = (char) b;
                ID_ORDER[k++] = b;
            }
        }
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            if (!printable(b)) {
                BYTE_CHAR[b] = (char) (256 + shifted++);
                ID_ORDER[k++] = b;
            }
        }
        java.util.Arrays.fill(CHAR_BYTE, -1);
        for (int b = 0; b < 256; b++) CHAR_BYTE[BYTE_CHAR[b]] = b;
    }

    private static boolean printable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    static char byteChar(int b) {
        return BYTE_CHAR[b & 0xFF];
    }

    /** The byte a vocabulary character stands for, or -1. */
    static int charByte(char c) {
        return c < CHAR_BYTE.length ? CHAR_BYTE[c] : -1;
    }

    /** The byte that gets id {@code i} (0..255) in GPT-2's vocabulary and in trained ones. */
    static int byteAtId(int i) {
        return ID_ORDER[i];
    }

    /** A token string's bytes, or null when some character stands for no byte (an added token). */
    static byte[] tokenBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < out.length; i++) {
            int b = charByte(token.charAt(i));
            if (b < 0) return null;
            out[i] = (byte) b;
        }
        return out;
    }

    /**
     * Writes the UTF-8 bytes (as ints 0..255) of {@code s[from, to)} into {@code out} and returns
     * their count. A lone surrogate becomes U+FFFD, as in TextEncoder. {@code out} needs room for
     * three bytes per char.
     */
    static int utf8(CharSequence s, int from, int to, int[] out) {
        int n = 0;
        for (int i = from; i < to; i++) {
            int c = s.charAt(i);
            if (c < 0x80) {
                out[n++] = c;
            } else if (c < 0x800) {
                out[n++] = 0xC0 | c >> 6;
                out[n++] = 0x80 | c & 0x3F;
            } else if (Character.isHighSurrogate((char) c) && i + 1 < to
                    && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint((char) c, s.charAt(++i));
                out[n++] = 0xF0 | cp >> 18;
                out[n++] = 0x80 | cp >> 12 & 0x3F;
                out[n++] = 0x80 | cp >> 6 & 0x3F;
                out[n++] = 0x80 | cp & 0x3F;
            } else {
                if (Character.isSurrogate((char) c)) c = 0xFFFD;
                out[n++] = 0xE0 | c >> 12;
                out[n++] = 0x80 | c >> 6 & 0x3F;
                out[n++] = 0x80 | c & 0x3F;
            }
        }
        return n;
    }

    /** Bytes that {@link #utf8} writes for a code point (3 for a lone surrogate: U+FFFD). */
    static int utf8Length(int cp) {
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }

    /**
     * Decodes UTF-8 as the WHATWG Encoding standard's decoder (TextDecoder) does: each maximal
     * invalid subpart becomes one U+FFFD, and so does a truncated sequence at the end. A leading
     * byte order mark is kept (TextDecoder would drop it).
     */
    static String decodeUtf8(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length);
        int cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xBF;
        for (int i = 0; i < b.length; i++) {
            int x = b[i] & 0xFF;
            if (needed == 0) {
                if (x < 0x80) {
                    sb.append((char) x);
                } else if (x >= 0xC2 && x <= 0xDF) {
                    needed = 1;
                    cp = x & 0x1F;
                } else if (x >= 0xE0 && x <= 0xEF) {
                    if (x == 0xE0) lower = 0xA0;
                    if (x == 0xED) upper = 0x9F; // no encoded surrogates
                    needed = 2;
                    cp = x & 0x0F;
                } else if (x >= 0xF0 && x <= 0xF4) {
                    if (x == 0xF0) lower = 0x90;
                    if (x == 0xF4) upper = 0x8F; // nothing above U+10FFFF
                    needed = 3;
                    cp = x & 0x07;
                } else {
                    sb.append('\uFFFD');
                }
                continue;
            }
            if (x < lower || x > upper) {
                // The sequence so far is one error; this byte starts afresh.
                cp = needed = seen = 0;
                lower = 0x80;
                upper = 0xBF;
                sb.append('\uFFFD');
                i--;
                continue;
            }
            lower = 0x80;
            upper = 0xBF;
            cp = cp << 6 | x & 0x3F;
            if (++seen == needed) {
                sb.appendCodePoint(cp);
                cp = needed = seen = 0;
            }
        }
        if (needed != 0) sb.append('\uFFFD');
        return sb.toString();
    }
}
