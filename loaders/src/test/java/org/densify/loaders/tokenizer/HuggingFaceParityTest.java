package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Parity with Hugging Face {@code tokenizers} (the Rust library, through its npm bindings), from
 * answers committed by {@code scripts/tokenizer/make_hf_expected.js}:
 * <ul>
 *   <li>{@code tokenizer/trained-1k/}: a 1,000-token vocabulary that {@link BpeTrainer} learns from
 *       a fixed slice of the bundled IMDb sample. The test retrains it and requires the committed
 *       {@code vocab.json} and {@code merges.txt} byte for byte, so the trainer stays deterministic
 *       across versions; Hugging Face loads those files as GPT-2's {@code tokenizer.json} configures
 *       a BPE model, and its ids for every well-formed case must equal {@link Gpt2Tokenizer#encodeWithSpecial}.</li>
 *   <li>{@code tokenizer/gpt2_hf_expected.jsonl}: the same through GPT-2's own vocabulary.</li>
 *   <li>{@code trained-1k/hf_decode_expected.jsonl}: Hugging Face's decoding of random id sequences.</li>
 * </ul>
 */
class HuggingFaceParityTest {
    /** The trained vocabulary's size and corpus: every {@value #STRIDE}th review of the bundled sample. */
    static final int VOCAB_SIZE = 1000, STRIDE = 8;

    static List<String> corpus() {
        List<Review> sample = ImdbDataset.bundledSample();
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < sample.size(); i += STRIDE) texts.add(sample.get(i).text());
        return texts;
    }

    @Test
    void trainerReproducesTheCommittedTrained1kFiles() throws Exception {
        List<String> corpus = corpus();
        assertEquals(500, corpus.size());
        // Written beside the test classes (target/trained-1k) so that an intended change can be copied in.
        Path out = testClasses().getParent().resolve("trained-1k");
        new BpeTrainer(VOCAB_SIZE).train(corpus).write(out);
        for (String f : List.of("vocab.json", "merges.txt")) {
            Path committed = Fixtures.resource("trained-1k").resolve(f);
            assertArrayEquals(Files.readAllBytes(committed), Files.readAllBytes(out.resolve(f)),
                    () -> "the trainer no longer reproduces tokenizer/trained-1k/" + f + "; if that is intended, copy "
                            + out + "/* to loaders/src/test/resources/tokenizer/trained-1k/ and rerun "
                            + "scripts/tokenizer/make_hf_expected.js");
        }
    }

    @Test
    void encodeWithSpecialMatchesHuggingFaceOnTheTrained1kVocabulary() throws IOException {
        List<JsonNode> lines = answers("trained-1k/hf_expected.jsonl");
        int checked = compare(Gpt2Tokenizer.load(Fixtures.resource("trained-1k")), lines, "trained-1k/hf_expected.jsonl");
        assertEquals(wellFormedCases(), checked);
    }

    @Test
    void encodeWithSpecialMatchesHuggingFaceOnGpt2() {
        List<JsonNode> lines = answers("gpt2_hf_expected.jsonl");
        int checked = compare(Fixtures.gpt2(), lines, "gpt2_hf_expected.jsonl");
        assertEquals(wellFormedCases(), checked);
        // Hugging Face differs from GPT-2's reference encoder exactly where the text holds <|endoftext|>.
        List<String> differing = new ArrayList<>(), withSpecial = new ArrayList<>();
        for (JsonNode line : lines) if (!line.path("reference").asBoolean()) differing.add(line.get("name").textValue());
        for (Fixtures.Case c : Fixtures.cases()) {
            if (Fixtures.wellFormed(c.text()) && c.text().contains(Gpt2Tokenizer.END_OF_TEXT)) withSpecial.add(c.name());
        }
        assertEquals(withSpecial, differing);
        assertEquals(4, differing.size());
    }

    @Test
    void decodesRandomIdSequencesAsHuggingFace() throws IOException {
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(Fixtures.resource("trained-1k"));
        List<JsonNode> lines = answers("trained-1k/hf_decode_expected.jsonl");
        assertEquals(500, lines.size());
        for (JsonNode line : lines) {
            int[] ids = Fixtures.ints(line.get("ids"));
            assertEquals(line.get("text").textValue(), tok.decode(ids), () -> Arrays.toString(ids));
        }
    }

    /**
     * Compares {@code encodeWithSpecial} with each answer line (ids, or {@code "reference": true} for
     * the reference encoder's ids in expected.jsonl), and {@code decode} with the case's text (or the
     * line's {@code decoded} where Hugging Face did not give the text back). Returns the lines checked.
     */
    private static int compare(Gpt2Tokenizer tok, List<JsonNode> lines, String file) {
        Map<String, Fixtures.Case> cases = new HashMap<>();
        for (Fixtures.Case c : Fixtures.cases()) cases.put(c.name(), c);
        List<String> failures = new ArrayList<>();
        for (JsonNode line : lines) {
            String name = line.get("name").textValue();
            Fixtures.Case c = cases.get(name);
            if (c == null) throw new IllegalStateException(file + ": no case " + name + " (rerun make_hf_expected.js)");
            int[] expected = line.path("reference").asBoolean() ? c.ids() : Fixtures.ints(line.get("ids"));
            int[] ids = tok.encodeWithSpecial(c.text());
            if (!Arrays.equals(expected, ids)) {
                failures.add(name + ": Hugging Face " + Arrays.toString(expected) + ", ours " + Arrays.toString(ids));
            }
            String decoded = line.has("decoded") ? line.get("decoded").textValue() : c.text();
            if (!decoded.equals(tok.decode(expected))) failures.add(name + ": decode differs");
        }
        assertEquals(List.of(), failures);
        return lines.size();
    }

    private static long wellFormedCases() {
        return Fixtures.cases().stream().filter(c -> Fixtures.wellFormed(c.text())).count();
    }

    /**
     * The answer lines of {@code file} after its header, once the header's sha256 of each input file
     * (vocabulary, merges, cases, reference answers) is checked against the committed file.
     */
    static List<JsonNode> answers(String file) {
        List<JsonNode> lines = Fixtures.jsonl(file);
        JsonNode header = lines.getFirst();
        assertEquals("scripts/tokenizer/make_hf_expected.js", header.path("generator").textValue(), file + ": no header");
        assertFalse(header.path("tokenizers").asText().isEmpty(), file + ": no tokenizers version");
        String prefix = "loaders/src/test/resources/tokenizer/";
        int inputs = 0;
        for (JsonNode input : header) {
            if (!input.isObject()) continue;
            String path = input.get("file").textValue();
            assertTrue(path.startsWith(prefix), path);
            assertEquals(input.get("sha256").textValue(), sha256(Fixtures.resource(path.substring(prefix.length()))),
                    () -> file + " is stale: " + path + " changed since it was written (rerun scripts/tokenizer/make_hf_expected.js)");
            inputs++;
        }
        assertTrue(inputs >= 2, file + ": the header names no inputs");
        return lines.subList(1, lines.size());
    }

    private static String sha256(Path file) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path testClasses() throws URISyntaxException {
        return Path.of(HuggingFaceParityTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }
}
