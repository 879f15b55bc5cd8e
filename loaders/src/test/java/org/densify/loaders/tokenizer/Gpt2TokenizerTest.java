package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.densify.loaders.tokenizer.Fixtures.cases;
import static org.densify.loaders.tokenizer.Fixtures.gpt2;
import static org.junit.jupiter.api.Assertions.*;

class Gpt2TokenizerTest {
    @TempDir
    Path tmp;

    @Test
    void encodesEveryCaseIdForIdAsTheReference() {
        Gpt2Tokenizer tok = gpt2();
        List<String> failures = new ArrayList<>();
        for (Fixtures.Case c : cases()) {
            int[] ids = tok.encode(c.text());
            if (!Arrays.equals(c.ids(), ids)) {
                failures.add(c.name() + ": expected " + Arrays.toString(c.ids()) + " got " + Arrays.toString(ids));
            }
        }
        assertTrue(cases().size() > 300, "cases: " + cases().size());
        assertEquals(List.of(), failures);
    }

    @Test
    void decodesEveryCaseAsTheReference() {
        for (Fixtures.Case c : cases()) {
            String decoded = gpt2().decode(c.ids());
            if (decoded.startsWith("\uFEFF")) {
                // The one deliberate difference: TextDecoder drops a leading byte order mark, we keep it
                // (as encoder.py does), so that text starting with U+FEFF round-trips.
                assertEquals(c.decoded(), decoded.substring(1), c.name());
            } else {
                assertEquals(c.decoded(), decoded, c.name());
            }
        }
    }

    @Test
    void decodesRandomIdSequencesAsTheReference() {
        List<JsonNode> lines = Fixtures.jsonl("decode_expected.jsonl");
        assertEquals(1000, lines.size());
        for (JsonNode line : lines) {
            int[] ids = Fixtures.ints(line.get("ids"));
            assertEquals(line.get("text").textValue(), gpt2().decode(ids), Arrays.toString(ids));
        }
    }

    @Test
    void roundTripsWellFormedCasesAndReplacesLoneSurrogates() {
        int wellFormed = 0;
        for (Fixtures.Case c : cases()) {
            String back = gpt2().decode(gpt2().encode(c.text()));
            if (Fixtures.wellFormed(c.text())) {
                wellFormed++;
                assertEquals(c.text(), back, c.name());
            } else {
                assertEquals(replaceLoneSurrogates(c.text()), back, c.name());
            }
        }
        assertEquals(279, wellFormed);
    }

    @Test
    void roundTripsRandomStrings() {
        Gpt2Tokenizer tok = gpt2().withCacheCapacity(1000);
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < 5000; i++) {
            String s = Fixtures.randomText(rnd, 40, false);
            assertEquals(s, tok.decode(tok.encode(s)), () -> "round trip of " + escape(s));
            String t = Fixtures.randomText(rnd, 20, true);
            assertEquals(replaceLoneSurrogates(t), tok.decode(tok.encode(t)), () -> "round trip of " + escape(t));
        }
    }

    @Test
    void loadsHuggingFaceFileNamesAndExplicitFiles() throws IOException {
        Files.copy(Fixtures.resource("gpt2/encoder.json"), tmp.resolve("vocab.json"));
        Files.copy(Fixtures.resource("gpt2/vocab.bpe"), tmp.resolve("merges.txt"));
        Gpt2Tokenizer hf = Gpt2Tokenizer.load(tmp);
        Gpt2Tokenizer explicit = Gpt2Tokenizer.load(Fixtures.resource("gpt2/encoder.json"),
                Fixtures.resource("gpt2/vocab.bpe"));
        for (Gpt2Tokenizer t : List.of(hf, explicit)) {
            assertEquals(50257, t.vocabSize());
            assertEquals(50256, t.eotId());
            for (Fixtures.Case c : cases().subList(0, 120)) assertArrayEquals(c.ids(), t.encode(c.text()), c.name());
        }
    }

    @Test
    void vocabularyAccessors() {
        Gpt2Tokenizer tok = gpt2();
        assertEquals(Gpt2Tokenizer.END_OF_TEXT, tok.token(tok.eotId()));
        assertEquals("Ġthe", tok.token(262));
        assertEquals(262, tok.id("Ġthe"));
        assertEquals(-1, tok.id("no such token"));
        assertArrayEquals(" the".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(262));
        assertEquals("!", tok.token(0)); // bytes come first, in GPT-2's order
        assertEquals("Ā", tok.token(188)); // byte 0
        assertThrows(IllegalArgumentException.class, () -> tok.token(50257));
        assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[]{1, -1}));
    }

    @Test
    void specialTokenIsTextUnlessAskedFor() {
        Gpt2Tokenizer tok = gpt2();
        int eot = tok.eotId();
        assertEquals(List.of(27, 91, 437, 1659, 5239, 91, 29), boxed(tok.encode("<|endoftext|>")));
        assertArrayEquals(new int[]{eot}, tok.encodeWithSpecial("<|endoftext|>"));
        assertArrayEquals(concat(tok.encode("Hello "), new int[]{eot, eot}, tok.encode(" world  ")),
                tok.encodeWithSpecial("Hello <|endoftext|><|endoftext|> world  "));
        assertArrayEquals(tok.encode("no special"), tok.encodeWithSpecial("no special"));
        assertEquals("a<|endoftext|>b", tok.decode(tok.encodeWithSpecial("a<|endoftext|>b")));
        Encoding e = tok.encodeWithOffsets("x<|endoftext|>", true);
        assertArrayEquals(new int[]{tok.encode("x")[0], eot}, e.ids());
        assertArrayEquals(new int[]{0, 1}, e.starts());
        assertArrayEquals(new int[]{1, 14}, e.ends());
    }

    @Test
    void offsetsCoverTheTextInOrder() {
        for (Fixtures.Case c : cases()) {
            String text = c.text();
            Encoding e = gpt2().encodeWithOffsets(text);
            assertArrayEquals(c.ids(), e.ids(), c.name());
            // Oracle: map every byte of the whole text to its character, then walk the tokens.
            int[] charStart = new int[3 * text.length()], charEnd = new int[3 * text.length()];
            int bytes = 0;
            for (int i = 0; i < text.length(); ) {
                int cp = PreTokenizer.codePointAt(text, i, text.length());
                int n = Character.charCount(cp);
                for (int k = 0; k < ByteLevel.utf8Length(cp); k++, bytes++) {
                    charStart[bytes] = i;
                    charEnd[bytes] = i + n;
                }
                i += n;
            }
            int at = 0;
            for (int t = 0; t < e.size(); t++) {
                int len = gpt2().tokenBytes(e.ids()[t]).length;
                assertEquals(charStart[at], e.starts()[t], c.name() + " token " + t);
                assertEquals(charEnd[at + len - 1], e.ends()[t], c.name() + " token " + t);
                if (t > 0) {
                    assertTrue(e.starts()[t] >= e.starts()[t - 1] && e.starts()[t] <= e.ends()[t - 1], c.name());
                }
                at += len;
            }
            assertEquals(bytes, at, c.name());
            if (e.size() > 0) assertEquals(text.length(), e.ends()[e.size() - 1]);
        }
    }

    @Test
    void offsetsOfASplitCharacterOverlap() {
        // U+1F9D1 is four bytes; GPT-2 encodes it as two tokens that both cover its two chars.
        String s = "a \uD83E\uDDD1!";
        Encoding e = gpt2().encodeWithOffsets(s);
        assertEquals(List.of(64, 12520, 100, 239, 0), boxed(e.ids()));
        assertArrayEquals(new int[]{0, 1, 2, 2, 4}, e.starts());
        assertArrayEquals(new int[]{1, 4, 4, 4, 5}, e.ends());
    }

    @Test
    void encodingsCompareByContent() {
        Encoding a = gpt2().encodeWithOffsets("a \uD83E\uDDD1!"), b = gpt2().encodeWithOffsets("a \uD83E\uDDD1!");
        assertNotSame(a.ids(), b.ids());
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertEquals(new Encoding(new int[]{64, 12520, 100, 239, 0}, new int[]{0, 1, 2, 2, 4},
                new int[]{1, 4, 4, 4, 5}), a);
        assertEquals("Encoding[ids=[64, 12520, 100, 239, 0], starts=[0, 1, 2, 2, 4], ends=[1, 4, 4, 4, 5]]", a.toString());
        assertNotEquals(a, gpt2().encodeWithOffsets("a \uD83E\uDDD1?"));
        assertNotEquals(a, new Encoding(a.ids(), a.starts(), new int[]{1, 4, 4, 4, 6}));
        assertNotEquals(a, new Encoding(a.ids(), new int[]{0, 1, 2, 3, 4}, a.ends()));
        assertNotEquals(a, null);
        assertEquals(gpt2().encodeWithOffsets("x<|endoftext|>", true), gpt2().encodeWithOffsets("x<|endoftext|>", true));
        assertThrows(IllegalArgumentException.class, () -> new Encoding(new int[1], new int[1], new int[2]));
        assertThrows(NullPointerException.class, () -> new Encoding(new int[1], null, new int[1]));
    }

    @Test
    void cacheDoesNotChangeResults() {
        Gpt2Tokenizer none = gpt2().withCacheCapacity(0), tiny = gpt2().withCacheCapacity(3);
        for (Fixtures.Case c : cases()) {
            assertArrayEquals(c.ids(), none.encode(c.text()), c.name());
            assertArrayEquals(c.ids(), tiny.encode(c.text()), c.name());
        }
        assertThrows(IllegalArgumentException.class, () -> gpt2().withCacheCapacity(-1));
    }

    @Test
    void parallelEncodingEqualsSequential() throws Exception {
        Gpt2Tokenizer shared = gpt2().withCacheCapacity(500); // small: forces concurrent clears
        List<Fixtures.Case> all = cases();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int task = 0; task < 32; task++) {
                int offset = task * 7;
                results.add(pool.submit(() -> {
                    for (int k = 0; k < all.size(); k++) {
                        Fixtures.Case c = all.get((k + offset) % all.size());
                        if (!Arrays.equals(c.ids(), shared.encode(c.text()))) return false;
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : results) assertTrue(f.get());
        }
    }

    @Test
    void shortAndLongMergePathsAgree() {
        Gpt2Tokenizer tok = gpt2();
        SplittableRandom rnd = new SplittableRandom(7);
        String alphabet = "abcdefghijklmnopqrstuvwxyzeeeaaooiinnsstt\",.'[]{}()";
        for (int trial = 0; trial < 300; trial++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(2, 200);
            boolean cjk = trial % 3 == 0;
            for (int i = 0; i < n; i++) {
                if (cjk) sb.appendCodePoint(rnd.nextInt(0x4E00, 0x4F00));
                else sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
            }
            int[] a = symbols(tok, sb.toString()), b = a.clone();
            int na = tok.merges().mergeShort(a, a.length), nb = tok.merges().mergeLong(b, b.length);
            assertArrayEquals(Arrays.copyOf(a, na), Arrays.copyOf(b, nb), sb::toString);
        }
    }

    @Test
    @Timeout(30) // guards the O(n log n) merge: the reference's quadratic loop would take many minutes here
    void longPiecesAreFast() {
        // A CJK "sentence" is one piece: the heap keeps it O(n log n).
        SplittableRandom rnd = new SplittableRandom(3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 200_000; i++) sb.appendCodePoint(rnd.nextInt(0x4E00, 0x9FA5));
        String s = sb.toString();
        int[] ids = gpt2().encode(s);
        assertEquals(s, gpt2().decode(ids));
    }

    @Test
    void reportsMissingAndMalformedFiles() throws IOException {
        NoSuchFileException none = assertThrows(NoSuchFileException.class, () -> Gpt2Tokenizer.load(tmp));
        assertTrue(none.getMessage().contains("vocab.json"), none.getMessage());
        Files.writeString(tmp.resolve("vocab.json"), "{}");
        assertTrue(assertThrows(NoSuchFileException.class, () -> Gpt2Tokenizer.load(tmp)).getMessage()
                .contains("merges.txt"));

        Path vocab = Fixtures.resource("gpt2/encoder.json");
        Path merges = tmp.resolve("merges.txt");
        Files.writeString(merges, "#version: 0.2\nĠ t\nĠt he extra\n");
        IOException bad = assertThrows(IOException.class, () -> Gpt2Tokenizer.load(vocab, merges));
        assertTrue(bad.getMessage().contains("line 3"), bad.getMessage());
        Files.writeString(merges, "#version: 0.2\nĠ t\nq zzzz\n");
        bad = assertThrows(IOException.class, () -> Gpt2Tokenizer.load(vocab, merges));
        assertTrue(bad.getMessage().contains("merge 2") && bad.getMessage().contains("zzzz"), bad.getMessage());
        Files.writeString(tmp.resolve("vocab.json"), "{\"a\": \"x\"}");
        bad = assertThrows(IOException.class, () -> Gpt2Tokenizer.load(tmp.resolve("vocab.json"), merges));
        assertTrue(bad.getMessage().contains("\"a\""), bad.getMessage());
        Files.writeString(tmp.resolve("vocab.json"), "{\"a\": 0}");
        bad = assertThrows(IOException.class, () -> Gpt2Tokenizer.load(tmp.resolve("vocab.json"), merges));
        assertTrue(bad.getMessage().contains("byte token"), bad.getMessage());
    }

    // ---------------------------------------------------------------- helpers

    private static int[] symbols(Gpt2Tokenizer tok, String s) {
        int[] sym = new int[3 * s.length()];
        int n = ByteLevel.utf8(s, 0, s.length(), sym);
        for (int i = 0; i < n; i++) sym[i] = tok.id(String.valueOf(ByteLevel.byteChar(sym[i])));
        return Arrays.copyOf(sym, n);
    }

    static String replaceLoneSurrogates(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); ) {
            int cp = PreTokenizer.codePointAt(s, i, s.length());
            sb.appendCodePoint(cp >= 0xD800 && cp < 0xE000 ? 0xFFFD : cp);
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) sb.append(c < 0x7F && c >= 0x20 ? String.valueOf(c) : String.format("\\u%04X", (int) c));
        return sb.toString();
    }

    private static List<Integer> boxed(int[] a) {
        return Arrays.stream(a).boxed().toList();
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}
