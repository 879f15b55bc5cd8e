package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** What {@link Gpt2Tokenizer#read} accepts in {@code vocab.json} and {@code merges.txt}, and how it refuses the rest. */
class TokenizerFilesTest {
    private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    /** The 256 byte tokens (ids 0..255), then "Ġt" (256) and {@code <|endoftext|>} (257). */
    private static Map<String, Object> smallVocab() {
        Map<String, Object> v = new LinkedHashMap<>();
        for (int i = 0; i < 256; i++) v.put(String.valueOf(ByteLevel.byteChar(ByteLevel.byteAtId(i))), i);
        v.put("Ġt", 256);
        v.put(Gpt2Tokenizer.END_OF_TEXT, 257);
        return v;
    }

    private static String json(Map<String, Object> vocab) throws JsonProcessingException {
        return Fixtures.JSON.writeValueAsString(vocab);
    }

    private static final String MERGES = "#version: 0.2\nĠ t\n";

    private static Gpt2Tokenizer read(byte[] vocab, byte[] merges) throws IOException {
        return Gpt2Tokenizer.read(new ByteArrayInputStream(vocab), "dir/vocab.json", new ByteArrayInputStream(merges),
                "dir/merges.txt");
    }

    private static Gpt2Tokenizer read(String vocab, String merges) throws IOException {
        return read(vocab.getBytes(StandardCharsets.UTF_8), merges.getBytes(StandardCharsets.UTF_8));
    }

    private static IOException refused(String vocab, String merges) {
        return assertThrows(IOException.class, () -> read(vocab, merges));
    }

    private static IOException refused(byte[] vocab, byte[] merges) {
        return assertThrows(IOException.class, () -> read(vocab, merges));
    }

    private static void assertMentions(IOException e, String... parts) {
        for (String part : parts) assertTrue(e.getMessage().contains(part), () -> "\"" + part + "\" not in: " + e.getMessage());
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void readsTheSmallVocabulary() throws IOException {
        Gpt2Tokenizer tok = read(json(smallVocab()), MERGES);
        assertEquals(258, tok.vocabSize());
        assertEquals(257, tok.eotId());
        assertArrayEquals(new int[]{tok.id("a"), 256, tok.id("o")}, tok.encode("a to"));
    }

    // ---------------------------------------------------------------- ids

    @Test
    @Timeout(5) // the id used to size the tables: 2e9 meant gigabytes before the check
    void aHugeIdIsRefusedBeforeAnythingIsAllocated() {
        IOException e = refused("{\"<|endoftext|>\": 2000000000}", MERGES);
        assertMentions(e, "dir/vocab.json", "\"<|endoftext|>\"", "2000000000", "0..0", "id 0 has no token");

        Map<String, Object> v = smallVocab();
        v.put(Gpt2Tokenizer.END_OF_TEXT, Integer.MAX_VALUE - 1);
        e = assertThrows(IOException.class, () -> read(json(v), MERGES));
        assertMentions(e, "dir/vocab.json", "\"<|endoftext|>\"", "2147483646", "0..257", "id 257 has no token");
    }

    @Test
    void idsMustBeExactlyZeroToNMinusOne() throws JsonProcessingException {
        Map<String, Object> gap = smallVocab();
        gap.put(Gpt2Tokenizer.END_OF_TEXT, 300);
        assertMentions(refused(json(gap), MERGES), "dir/vocab.json", "\"<|endoftext|>\" has id 300", "0..257",
                "id 257 has no token");

        Map<String, Object> shared = smallVocab();
        shared.put("Ġt", 5);
        assertMentions(refused(json(shared), MERGES), "dir/vocab.json", "id 5 is given to both \"&\" and \"Ġt\"",
                "0..257");

        Map<String, Object> negative = smallVocab();
        negative.put("Ġt", -1);
        assertMentions(refused(json(negative), MERGES), "dir/vocab.json", "\"Ġt\" has id -1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.0", "1.5", "1e3", "\"7\"", "null", "true", "[1]", "{}", "2147483648",
            "-2147483649", "99999999999999999999999"})
    void idsMustBeIntegers(String id) {
        String vocab = "{\"a\": 0, \"Ġt\": " + id + ", \"b\": 1}";
        assertMentions(refused(vocab, MERGES), "dir/vocab.json", "\"Ġt\" has id", "expected an integer");
    }

    // ---------------------------------------------------------------- vocab.json syntax

    @Test
    void aTokenMayAppearOnlyOnce() throws JsonProcessingException {
        String v = json(smallVocab());
        String twice = v.substring(0, v.length() - 1) + ",\"Ġt\":258}";
        assertMentions(refused(twice, MERGES), "dir/vocab.json", "\"Ġt\" appears twice", "256", "258");
    }

    @Test
    void nothingMayFollowTheObjectButBlanks() throws IOException {
        String v = json(smallVocab());
        assertEquals(258, read(v + "\n \t\r\n", MERGES).vocabSize());
        for (String tail : List.of("x", "{}", "1", "}", "[", "\"a\"", "{\"b\": 0}")) {
            IOException e = refused(v + "\n" + tail, MERGES);
            assertMentions(e, "dir/vocab.json");
            assertTrue(e.getMessage().contains("after the vocabulary object") || e.getMessage().contains("not valid JSON"),
                    e.getMessage());
        }
        assertMentions(refused(v + " {}", MERGES), "unexpected { after the vocabulary object at line 1");
    }

    @Test
    void malformedJsonNamesTheFileAndPlace() {
        assertMentions(refused("{\"a\": 0,\n \"b\" 1}", MERGES), "dir/vocab.json", "not valid JSON", "line 2");
        assertMentions(refused("{\"a\": 0", MERGES), "dir/vocab.json", "not valid JSON");
        assertMentions(refused("", MERGES), "dir/vocab.json", "expected a JSON object");
        assertMentions(refused("[0, 1]", MERGES), "dir/vocab.json", "expected a JSON object");
    }

    // ---------------------------------------------------------------- encoding of the files

    @Test
    void aLeadingByteOrderMarkIsIgnoredInEitherFile() throws IOException {
        byte[] v = utf8(json(smallVocab())), m = utf8(MERGES);
        int[] expected = read(v, m).encode("a to the");
        assertArrayEquals(expected, read(v, concat(BOM, m)).encode("a to the"));
        assertArrayEquals(expected, read(concat(BOM, v), concat(BOM, m)).encode("a to the"));
        assertArrayEquals(expected, read(v, concat(BOM, utf8("Ġ t\n"))).encode("a to the")); // no #version line
        // Only one, and only at the start: elsewhere U+FEFF is content, and no byte-level token has it.
        assertMentions(refused(v, concat(BOM, BOM, m)), "dir/merges.txt");
        assertMentions(refused(v, concat(m, BOM, utf8("\n"))), "dir/merges.txt");
    }

    @Test
    void invalidUtf8IsReportedWithItsPlaceNotReplaced() throws IOException {
        byte[] v = utf8(json(smallVocab())), m = utf8(MERGES);
        // merges.txt: a stray byte inside a token on line 2 (byte 14 is where line 2 starts).
        byte[] badMerges = concat(utf8("#version: 0.2\nĠ t"), new byte[]{(byte) 0xFF}, utf8("\n"));
        assertMentions(refused(v, badMerges), "dir/merges.txt", "invalid UTF-8 at byte 18 (line 2): FF");
        // A sequence cut off by the end of the file.
        assertMentions(refused(v, concat(m, new byte[]{(byte) 0xC4})), "dir/merges.txt", "invalid UTF-8", "line 3", "C4");
        // vocab.json: an encoded surrogate and an overlong '/' in a token.
        int at = utf8("{\"x").length;
        byte[] surrogate = concat(utf8("{\"x"), new byte[]{(byte) 0xED, (byte) 0xA0, (byte) 0x80}, utf8("\": 0}"));
        assertMentions(refused(surrogate, m), "dir/vocab.json", "invalid UTF-8 at byte " + at + " (line 1): ED");
        byte[] overlong = concat(utf8("{\n\"x"), new byte[]{(byte) 0xC0, (byte) 0xAF}, utf8("\": 0}"));
        assertMentions(refused(overlong, m), "dir/vocab.json", "invalid UTF-8 at byte 4 (line 2): C0");
        // The same files, well formed, load.
        assertEquals(258, read(v, m).vocabSize());
    }

    @Test
    void theGpt2FilesStillLoad() throws IOException {
        byte[] v = Files.readAllBytes(Fixtures.resource("gpt2/encoder.json"));
        byte[] m = Files.readAllBytes(Fixtures.resource("gpt2/vocab.bpe"));
        Gpt2Tokenizer tok = read(v, m);
        assertEquals(50257, tok.vocabSize());
        assertArrayEquals(Fixtures.gpt2().encode("Hello world"), tok.encode("Hello world"));
    }

    // ---------------------------------------------------------------- merges.txt

    @Test
    void mergesMustNameVocabularyTokens() throws JsonProcessingException {
        String v = json(smallVocab());
        assertMentions(refused(v, "#version: 0.2\nĠ t\nt o\n"), "dir/merges.txt", "merge 2", "\"to\" is not in the vocabulary");
        assertMentions(refused(v, "Ġ t x\n"), "dir/merges.txt line 1", "two tokens");
        assertMentions(refused(v, "#version: 0.2\n\nĠ\n"), "dir/merges.txt line 3", "two tokens");
    }
}
