package org.densify.loaders.safetensors;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Mutates the bytes of a JSON file for fuzz tests: raw byte damage (flips, overwrites, truncation,
 * insertion, deletion), token edits that keep the JSON well-formed so checks past the parser are
 * reached (numbers and strings swapped for values from the caller's pools, snippets inserted after a
 * '{' or ','), and encoding tricks (byte-order marks, UTF-16/32 re-encoding, trailing tokens).
 * Deterministic for a given {@link Random}; {@code applied} records what was done, for reproducing.
 */
public final class JsonMutator {
    private static final byte[] INTERESTING = "{}[]\":,\\ 0123456789-+.eEnulltruefalse".getBytes(StandardCharsets.US_ASCII);
    private static final Pattern NUMBER = Pattern.compile("-?\\d+(\\.\\d+)?([eE][-+]?\\d+)?");
    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"");
    private static final Pattern AFTER = Pattern.compile("[{,]");
    private static final byte[][] PREFIXES = {{(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, {(byte) 0xFE, (byte) 0xFF},
            {(byte) 0xFF, (byte) 0xFE}, {0, 0, (byte) 0xFE, (byte) 0xFF}, {(byte) 0xFF, (byte) 0xFE, 0, 0}, {0}, {' ', '\n'}};
    private static final String[] SUFFIXES = {" x", "{}", "}", "]", ",", "\n", "\u0000", " //c", " null", "\n\n  \t"};

    private final List<String> numbers;
    private final List<String> strings;
    private final List<String> snippets;

    /**
     * @param numbers  number tokens to put in place of a number (any JSON text, e.g. {@code "1e400"})
     * @param strings  Java strings to put, JSON-quoted, in place of a string (key or value)
     * @param snippets JSON text to insert right after a '{' or ',' (usually ending in ',')
     */
    public JsonMutator(List<String> numbers, List<String> strings, List<String> snippets) {
        this.numbers = List.copyOf(numbers);
        this.strings = List.copyOf(strings);
        this.snippets = List.copyOf(snippets);
    }

    /** One to three mutations of {@code seed}. */
    public byte[] mutateSome(byte[] seed, Random r, List<String> applied) {
        byte[] b = seed;
        int n = 1 + r.nextInt(3);
        for (int k = 0; k < n; k++) b = mutate(b, r, applied);
        return b;
    }

    /** One mutation; the input is not changed. */
    public byte[] mutate(byte[] in, Random r, List<String> applied) {
        byte[] b = in.clone();
        int kind = r.nextInt(12);
        switch (kind) {
            case 0 -> {
                int flips = 1 + r.nextInt(4);
                for (int i = 0; i < flips && b.length > 0; i++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                applied.add("flip" + flips);
                return b;
            }
            case 1 -> {
                if (b.length == 0) return b;
                int at = r.nextInt(b.length);
                b[at] = r.nextBoolean() ? (byte) r.nextInt(256) : INTERESTING[r.nextInt(INTERESTING.length)];
                applied.add("overwrite@" + at);
                return b;
            }
            case 2 -> {
                int len = r.nextInt(b.length + 1);
                applied.add("truncate" + len);
                return Arrays.copyOf(b, len);
            }
            case 3 -> {
                int at = r.nextInt(b.length + 1), len = 1 + r.nextInt(6);
                byte[] ins = new byte[len];
                for (int i = 0; i < len; i++) ins[i] = r.nextBoolean() ? (byte) r.nextInt(256) : INTERESTING[r.nextInt(INTERESTING.length)];
                applied.add("insert" + len + "@" + at);
                return splice(b, at, at, ins);
            }
            case 4 -> {
                if (b.length == 0) return b;
                int at = r.nextInt(b.length), len = 1 + r.nextInt(Math.min(8, b.length - at));
                applied.add("delete" + len + "@" + at);
                return splice(b, at, at + len, new byte[0]);
            }
            case 5, 6 -> {
                String v = numbers.get(r.nextInt(numbers.size()));
                applied.add("number=" + v);
                return replaceToken(b, NUMBER, r, v.getBytes(StandardCharsets.UTF_8));
            }
            case 7, 8 -> {
                String v = strings.get(r.nextInt(strings.size()));
                applied.add("string=" + quote(v));
                return replaceToken(b, STRING, r, quote(v).getBytes(StandardCharsets.UTF_8));
            }
            case 9 -> {
                String v = snippets.get(r.nextInt(snippets.size()));
                applied.add("snippet=" + v);
                List<int[]> spans = spans(b, AFTER);
                if (spans.isEmpty()) return b;
                int at = spans.get(r.nextInt(spans.size()))[1];
                return splice(b, at, at, v.getBytes(StandardCharsets.UTF_8));
            }
            case 10 -> {
                if (r.nextBoolean()) {
                    byte[] p = PREFIXES[r.nextInt(PREFIXES.length)];
                    applied.add("prefix" + Arrays.toString(p));
                    return splice(b, 0, 0, p);
                }
                String s = SUFFIXES[r.nextInt(SUFFIXES.length)];
                applied.add("suffix" + quote(s));
                return splice(b, b.length, b.length, s.getBytes(StandardCharsets.UTF_8));
            }
            default -> {
                String text = new String(b, StandardCharsets.UTF_8);
                String[] charsets = {"UTF-16BE", "UTF-16LE", "UTF-32BE", "UTF-32LE", "UTF-16"};
                String cs = charsets[r.nextInt(charsets.length)];
                applied.add("encode-" + cs);
                return text.getBytes(java.nio.charset.Charset.forName(cs));
            }
        }
    }

    /** A string as a JSON string literal. */
    public static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }

    private static byte[] replaceToken(byte[] b, Pattern p, Random r, byte[] with) {
        List<int[]> spans = spans(b, p);
        if (spans.isEmpty()) return b;
        int[] span = spans.get(r.nextInt(spans.size()));
        return splice(b, span[0], span[1], with);
    }

    /** Matches over the bytes read as ISO-8859-1, so that match positions are byte offsets. */
    private static List<int[]> spans(byte[] b, Pattern p) {
        List<int[]> spans = new ArrayList<>();
        Matcher m = p.matcher(new String(b, StandardCharsets.ISO_8859_1));
        while (m.find()) spans.add(new int[]{m.start(), m.end()});
        return spans;
    }

    private static byte[] splice(byte[] b, int from, int to, byte[] with) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(b.length + with.length);
        out.write(b, 0, from);
        out.writeBytes(with);
        out.write(b, to, b.length - to);
        return out.toByteArray();
    }
}
