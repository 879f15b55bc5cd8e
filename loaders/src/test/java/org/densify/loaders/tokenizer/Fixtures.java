package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** The committed reference data (see scripts/tokenizer/) and a shared GPT-2 tokenizer. */
final class Fixtures {
    private Fixtures() {
    }

    static final ObjectMapper JSON = new ObjectMapper();

    /** A text with the reference encoder's ids and its decoding of them. */
    record Case(String name, String text, int[] ids, String decoded) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Gpt2Tokenizer gpt2;
    private static List<Case> cases;

    static Path resource(String name) {
        try {
            return Path.of(Fixtures.class.getResource("/tokenizer/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static synchronized Gpt2Tokenizer gpt2() {
        if (gpt2 == null) {
            try {
                gpt2 = Gpt2Tokenizer.load(resource("gpt2"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return gpt2;
    }

    static List<JsonNode> jsonl(String name) {
        try {
            List<JsonNode> out = new ArrayList<>();
            for (String line : Files.readAllLines(resource(name))) {
                if (!line.isEmpty()) out.add(JSON.readTree(line));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).intValue();
        return out;
    }

    static synchronized List<Case> cases() {
        if (cases == null) {
            List<JsonNode> in = jsonl("cases.jsonl"), out = jsonl("expected.jsonl");
            if (in.size() != out.size()) throw new IllegalStateException("cases.jsonl and expected.jsonl differ in length");
            List<Case> list = new ArrayList<>();
            for (int i = 0; i < in.size(); i++) {
                String name = in.get(i).get("name").textValue();
                if (!name.equals(out.get(i).get("name").textValue())) {
                    throw new IllegalStateException("line " + (i + 1) + ": expected.jsonl is stale (rerun make_expected.js)");
                }
                list.add(new Case(name, in.get(i).get("text").textValue(), ints(out.get(i).get("ids")),
                        out.get(i).get("decoded").textValue()));
            }
            cases = List.copyOf(list);
        }
        return cases;
    }

    static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /** Ranges random strings draw code points from: ASCII (often), blanks, many scripts, emoji, planes 1-16. */
    private static final int[][] RANGES = {{0x20, 0x7E}, {0x20, 0x7E}, {0x20, 0x7E}, {0x09, 0x0D}, {0x80, 0x2FF},
            {0x300, 0x36F}, {0x370, 0x52F}, {0x590, 0x6FF}, {0x900, 0xDFF}, {0x1680, 0x1680}, {0x2000, 0x206F},
            {0x2070, 0x2BFF}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xE000, 0xFFFF},
            {0x10000, 0x1FFFF}, {0x1F300, 0x1FAFF}, {0x20000, 0x10FFFF}};

    /** A random string of code points; with {@code surrogates}, lone surrogates are mixed in. */
    static String randomText(SplittableRandom rnd, int maxLength, boolean surrogates) {
        int n = rnd.nextInt(maxLength + 1);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (surrogates && rnd.nextInt(8) == 0) {
                sb.append((char) rnd.nextInt(0xD800, 0xE000));
            } else {
                int[] r = RANGES[rnd.nextInt(RANGES.length)];
                int cp = rnd.nextInt(r[0], r[1] + 1);
                if (cp >= 0xD800 && cp < 0xE000) cp = 'x';
                sb.appendCodePoint(cp);
            }
        }
        return sb.toString();
    }
}
