package org.densify.rlhf.cli;

import org.densify.loaders.tokenizer.BpeTrainer;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

class TokenizeCommandTest {
    @TempDir
    Path tmp;

    private Path dir;
    private Gpt2Tokenizer tok;

    private static final List<String> TEXTS = List.of("The film was wonderful.", "", "caf\u00E9 \uD83D\uDE00 \u4E2D\u6587",
            "tabs\tand\nnewlines  ", "a<|endoftext|>b", "lone \uD800 surrogate");

    @BeforeEach
    void trainTinyTokenizer() throws Exception {
        dir = tmp.resolve("tok");
        new BpeTrainer(300).train(List.of("the film was wonderful, the film was dreadful", "caf\u00E9 caf\u00E9"))
                .write(dir);
        tok = Gpt2Tokenizer.load(dir);
    }

    /** JSON with non-ASCII escaped, so that a lone surrogate can be written to a file. */
    private static String jsonString(String s) throws Exception {
        return com.fasterxml.jackson.databind.json.JsonMapper.builder()
                .enable(com.fasterxml.jackson.core.json.JsonWriteFeature.ESCAPE_NON_ASCII).build().writeValueAsString(s);
    }

    private String expectedIds(String text, boolean special) {
        int[] ids = special ? tok.encodeWithSpecial(text) : tok.encode(text);
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
    }

    private Path inputFile() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String t : TEXTS) sb.append(jsonString(t)).append('\n');
        return Files.writeString(tmp.resolve("in.jsonl"), sb);
    }

    @Test
    void encodesEachLineToAnIdArray() throws Exception {
        MainTest.Run r = MainTest.run("tokenize", "--tokenizer", dir.toString(), "--input", inputFile().toString());
        assertEquals(0, r.status(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(TEXTS.size(), lines.size());
        for (int i = 0; i < TEXTS.size(); i++) assertEquals(expectedIds(TEXTS.get(i), false), lines.get(i));
        assertEquals("[]", lines.get(1));
    }

    @Test
    void specialTurnsTheLiteralIntoTheEndOfTextToken() throws Exception {
        MainTest.Run r = MainTest.run("tokenize", "--special", "--tokenizer", dir.toString(), "--input", inputFile().toString());
        assertEquals(0, r.status(), r.err());
        String line = r.out().lines().toList().get(4);
        assertEquals(expectedIds("a<|endoftext|>b", true), line);
        assertTrue(line.contains(Integer.toString(tok.eotId())), line);
    }

    /**
     * A tokenizer.json folder goes through Tokenizers.open: the same vocabulary laid out as Qwen's file,
     * with a post-processor that adds <|endoftext|> as a BOS, gives HuggingFaceTokenizer's encode
     * without --special and its encodeWithSpecial with it.
     */
    @Test
    void tokenizerJsonFolderEncodesAsHuggingFace() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.JsonNode vocab = json.readTree(dir.resolve("vocab.json").toFile());
        List<String> merges = Files.readAllLines(dir.resolve("merges.txt")).stream()
                .filter(l -> !l.isEmpty() && !l.startsWith("#version")).toList();
        int eot = tok.eotId();
        String file = """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [{"id": %d, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true}],
                 "normalizer": {"type": "NFC"},
                 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
                 "post_processor": {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [], "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [%d], "tokens": ["<|endoftext|>"]}}},
                 "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
                 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                   "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": %s, "merges": %s}}
                """.formatted(eot, eot, vocab, json.writeValueAsString(merges));
        Path hf = Files.createDirectory(tmp.resolve("hf"));
        Files.writeString(hf.resolve("tokenizer.json"), file);
        org.densify.loaders.tokenizer.HuggingFaceTokenizer reference = org.densify.loaders.tokenizer.HuggingFaceTokenizer.load(hf);
        for (boolean special : new boolean[] {false, true}) {
            MainTest.Run r = special
                    ? MainTest.run("tokenize", "--special", "--tokenizer", hf.toString(), "--input", inputFile().toString())
                    : MainTest.run("tokenize", "--tokenizer", hf.toString(), "--input", inputFile().toString());
            assertEquals(0, r.status(), r.err());
            List<String> lines = r.out().lines().toList();
            for (int i = 0; i < TEXTS.size(); i++) {
                int[] ids = special ? reference.encodeWithSpecial(TEXTS.get(i)) : reference.encode(TEXTS.get(i));
                assertEquals(special, ids.length > 0 && ids[0] == eot && !TEXTS.get(i).startsWith("<|endoftext|>"));
                assertEquals(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]")),
                        lines.get(i), TEXTS.get(i));
            }
        }
    }

    @Test
    void decodeReversesEncode() throws Exception {
        MainTest.Run enc = MainTest.run("tokenize", "--tokenizer", dir.toString(), "--input", inputFile().toString());
        Path ids = Files.writeString(tmp.resolve("ids.jsonl"), enc.out());
        MainTest.Run dec = MainTest.run("tokenize", "--decode", "--tokenizer", dir.toString(), "--input", ids.toString());
        assertEquals(0, dec.status(), dec.err());
        List<String> lines = dec.out().lines().toList();
        for (int i = 0; i < TEXTS.size(); i++) {
            String back = new com.fasterxml.jackson.databind.ObjectMapper().readValue(lines.get(i), String.class);
            assertEquals(TEXTS.get(i).replace('\uD800', '\uFFFD'), back);
            assertTrue(lines.get(i).chars().allMatch(c -> c < 0x80), "output is ASCII: " + lines.get(i));
        }
    }

    @Test
    void readsStandardInputByDefaultAndWithDash() throws Exception {
        InputStream saved = System.in;
        try {
            for (String[] extra : new String[][]{{}, {"--input", "-"}}) {
                System.setIn(new ByteArrayInputStream(Files.readAllBytes(inputFile())));
                String[] args = {"tokenize", "--tokenizer", dir.toString()};
                args = java.util.stream.Stream.concat(Arrays.stream(args), Arrays.stream(extra)).toArray(String[]::new);
                MainTest.Run r = MainTest.run(args);
                assertEquals(0, r.status(), r.err());
                assertEquals(expectedIds(TEXTS.getFirst(), false), r.out().lines().findFirst().orElseThrow());
            }
            System.setIn(new ByteArrayInputStream("\"ok\"\n42\n".getBytes(StandardCharsets.UTF_8)));
            MainTest.Run r = MainTest.run("tokenize", "--tokenizer", dir.toString());
            assertEquals(Main.EXIT_FAILURE, r.status());
            assertTrue(r.err().contains("standard input line 2: expected a JSON string, got: 42"), r.err());
        } finally {
            System.setIn(saved);
        }
    }

    @Test
    void badLinesNameTheInputTheLineAndWhatWasExpected() throws Exception {
        Path in = Files.writeString(tmp.resolve("bad.jsonl"), "\"fine\"\nnot json\n");
        MainTest.Run r = MainTest.run("tokenize", "--tokenizer", dir.toString(), "--input", in.toString());
        assertEquals(Main.EXIT_FAILURE, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains(in + " line 2: expected a JSON string, got: not json"), r.err());

        for (String line : List.of("[1, 2, 99999]", "[1, -1]", "[1.5]", "\"text\"", "[1] [2]")) {
            Path ids = Files.writeString(tmp.resolve("ids.jsonl"), "[1,2]\n" + line + "\n");
            r = MainTest.run("tokenize", "--decode", "--tokenizer", dir.toString(), "--input", ids.toString());
            assertEquals(Main.EXIT_FAILURE, r.status(), line);
            assertTrue(r.err().contains(ids + " line 2: expected a JSON array of token ids in [0, " + tok.vocabSize() + ")"),
                    r.err());
        }
    }

    @Test
    void missingTokenizerAndBadOptionCombinationsFail() {
        MainTest.Run r = MainTest.run("tokenize", "--tokenizer", tmp.resolve("none").toString());
        assertEquals(Main.EXIT_FAILURE, r.status());
        assertTrue(r.err().contains("none"), r.err());
        r = MainTest.run("tokenize", "--decode", "--special", "--tokenizer", dir.toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        r = MainTest.run("tokenize");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--tokenizer"), r.err());
    }
}
