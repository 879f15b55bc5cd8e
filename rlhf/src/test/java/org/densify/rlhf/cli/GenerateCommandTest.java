package org.densify.rlhf.cli;

import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Generator;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class GenerateCommandTest {

    @TempDir
    static Path tmp;
    static Path model, tokenizer, eotModel;
    static final String PROMPT = "The film was";

    @BeforeAll
    static void models() throws Exception {
        tokenizer = TinyFixtures.writeTokenizer(tmp);
        model = TinyFixtures.writeModel(tmp.resolve("lm"), tokenizer, ModelKind.LM, 32, 3);
        eotModel = writeEotModel(tmp.resolve("eot"));
    }

    /** A model whose every position's most likely next token is <|endoftext|>. */
    private static Path writeEotModel(Path dir) throws Exception {
        int eot = Gpt2Tokenizer.load(tokenizer).eotId();
        try (Backend backend = Backends.create("cpu");
             Gpt2Model m = Gpt2Model.create(backend, TinyFixtures.config(32), Heads.NONE)) {
            m.initialize(4);
            float[] ones = new float[32];
            Arrays.fill(ones, 1f);
            // ln_f's output is then its bias (all ones) at every position, whose logit is largest for the row of wte most like it.
            backend.write(m.parameter("ln_f.weight"), 0, new float[32]);
            backend.write(m.parameter("ln_f.bias"), 0, ones);
            backend.write(m.parameter("wte.weight"), (long) eot * 32, ones);
            m.save(dir, ModelKind.LM);
        }
        org.densify.rlhf.run.Checkpoints.copyTokenizer(tokenizer, dir);
        return dir;
    }

    private static MainTest.Run generate(Path model, String... extra) {
        String[] base = {"generate", "--model", model.toString(), "--prompt", PROMPT};
        String[] args = Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return MainTest.run(args);
    }

    @Test
    void samplingIsReproducibleBySeedAndDiffersAcrossSeeds() {
        MainTest.Run a = generate(model, "--seed", "1", "--max-new-tokens", "20");
        MainTest.Run b = generate(model, "--seed", "1", "--max-new-tokens", "20");
        MainTest.Run c = generate(model, "--seed", "2", "--max-new-tokens", "20");
        assertEquals(0, a.status(), a.err());
        assertTrue(a.out().startsWith(PROMPT), a.out());
        assertTrue(a.out().length() > PROMPT.length() + 5, "expected a continuation: " + a.out());
        assertTrue(a.err().contains("20 new tokens"), a.err());
        assertEquals(a.out(), b.out());
        assertNotEquals(a.out(), c.out());
    }

    @Test
    void streamedTextIsTheDecodedGeneration() throws Exception {
        MainTest.Run r = generate(model, "--temperature", "0", "--max-new-tokens", "12");
        assertEquals(0, r.status(), r.err());
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(tokenizer);
        int[] tokens;
        try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.load(backend, model)) {
            tokens = new Generator(m).generate(new int[][]{tok.encode(PROMPT)}, new int[]{12}, new Sampler(0, 0, 1), 0,
                    tok.eotId(), null).tokens()[0];
        }
        assertEquals(PROMPT + tok.decode(tokens) + "\n", r.out());
    }

    @Test
    void severalSamplesComeInOrderUnderHeaders() {
        MainTest.Run r = generate(model, "--num-samples", "3", "--max-new-tokens", "8", "--seed", "5");
        assertEquals(0, r.status(), r.err());
        String[] lines = r.out().split("\n");
        assertEquals(6, lines.length, r.out());
        for (int i = 0; i < 3; i++) {
            assertEquals("--- sample " + i + " ---", lines[2 * i]);
            assertTrue(lines[2 * i + 1].startsWith(PROMPT), lines[2 * i + 1]);
        }
        assertTrue(r.err().contains("24 new tokens"), r.err());
    }

    @Test
    void stopsAtEndOfTextUnlessToldNotTo() {
        MainTest.Run stop = generate(eotModel, "--temperature", "0", "--max-new-tokens", "5");
        assertEquals(0, stop.status(), stop.err());
        assertEquals(PROMPT + "\n", stop.out());
        assertTrue(stop.err().contains("1 new token "), stop.err());
        MainTest.Run go = generate(eotModel, "--temperature", "0", "--max-new-tokens", "3", "--no-stop-at-eot");
        assertEquals(0, go.status(), go.err());
        assertEquals(PROMPT + "<|endoftext|>".repeat(3) + "\n", go.out());
    }

    @Test
    void theMinimumHoldsOffEndOfTextAndJsonGivesIdsAndText() throws Exception {
        int eot = Gpt2Tokenizer.load(tokenizer).eotId();
        MainTest.Run held = generate(eotModel, "--temperature", "0", "--max-new-tokens", "6", "--min-new-tokens", "4", "--json",
                "--num-samples", "2");
        assertEquals(0, held.status(), held.err());
        String[] lines = held.out().split("\n");
        assertEquals(2, lines.length, held.out());
        com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(tokenizer);
        for (String line : lines) {
            com.fasterxml.jackson.databind.JsonNode o = mapper.readTree(line);
            int[] ids = new int[o.get("ids").size()];
            for (int i = 0; i < ids.length; i++) ids[i] = o.get("ids").get(i).intValue();
            // four tokens other than end-of-text, then the end-of-text this model always prefers, kept in the ids
            assertEquals(5, ids.length, line);
            for (int i = 0; i < 4; i++) assertNotEquals(eot, ids[i], line);
            assertEquals(eot, ids[4], line);
            assertEquals(tok.decode(ids), o.get("text").textValue());
            assertTrue(o.get("text").textValue().endsWith("<|endoftext|>"), line);
        }
        MainTest.Run free = generate(eotModel, "--temperature", "0", "--max-new-tokens", "6", "--json");
        assertEquals("{\"ids\":[" + eot + "],\"text\":\"<|endoftext|>\"}\n", free.out(), "without the minimum it ends at once");
        MainTest.Run both = generate(eotModel, "--min-new-tokens", "2", "--no-stop-at-eot");
        assertEquals(Main.EXIT_USAGE, both.status(), both.err());
        MainTest.Run over = generate(eotModel, "--min-new-tokens", "7", "--max-new-tokens", "6");
        assertEquals(Main.EXIT_USAGE, over.status(), over.err());
        assertTrue(over.err().contains("--min-new-tokens must be in [0, --max-new-tokens = 6], got 7"), over.err());
    }

    @Test
    void badArgumentsAreUsageErrors() throws Exception {
        int p = Gpt2Tokenizer.load(tokenizer).encode(PROMPT).length;
        int tooMany = 33 - p;
        String[][] cases = {
                {"--max-new-tokens", Integer.toString(tooMany), "the prompt (" + p + " tokens) plus --max-new-tokens " + tooMany
                        + " is 33 tokens, more than the model's n_positions 32"},
                {"--temperature", "-1", "--temperature must be finite and >= 0"},
                {"--top-p", "0", "--top-p must be in (0, 1]"},
                {"--num-samples", "0", "--num-samples must be >= 1"},
        };
        for (String[] c : cases) {
            MainTest.Run r = generate(model, c[0], c[1]);
            assertEquals(Main.EXIT_USAGE, r.status(), c[0] + " " + c[1] + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(c[2]), r.err());
        }
        MainTest.Run empty = MainTest.run("generate", "--model", model.toString(), "--prompt", "");
        assertEquals(Main.EXIT_USAGE, empty.status());
        assertTrue(empty.err().contains("--prompt is empty"), empty.err());
    }

    @Test
    void utf8StreamHoldsBackSplitCharacters() {
        String text = "naïve café – 😀 ok";
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        for (int chunk = 1; chunk <= 4; chunk++) {
            GenerateCommand.Utf8Stream s = new GenerateCommand.Utf8Stream();
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < bytes.length; i += chunk) {
                String piece = s.append(Arrays.copyOfRange(bytes, i, Math.min(bytes.length, i + chunk)));
                assertFalse(piece.contains("\uFFFD"), "a split character was emitted early: " + piece);
                out.append(piece);
            }
            assertEquals(text, out.append(s.finish()).toString());
        }
        GenerateCommand.Utf8Stream broken = new GenerateCommand.Utf8Stream();
        assertEquals("a\uFFFDb", broken.append(new byte[]{'a', (byte) 0xFF, 'b'}));
        assertEquals("", broken.append(new byte[]{(byte) 0xE2, (byte) 0x82}));
        assertEquals("\uFFFD", broken.finish());
    }
}
