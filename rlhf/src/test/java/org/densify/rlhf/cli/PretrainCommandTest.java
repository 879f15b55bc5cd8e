package org.densify.rlhf.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class PretrainCommandTest {

    @TempDir
    static Path tmp;
    static Path data, tokenizer;
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void inputs() throws Exception {
        data = TinyFixtures.writeReviews(tmp, 80);
        tokenizer = TinyFixtures.writeTokenizer(tmp);
    }

    /**
     * A tiny run: 1 layer, d 32, 8 windows of 16 tokens per step. {@code extra} holds options
     * ("--name value", overriding these defaults) and flags ("--resume").
     */
    private static MainTest.Run pretrain(Path out, int steps, String... extra) {
        return pretrainOn(data, out, steps, extra);
    }

    private static MainTest.Run pretrainOn(Path reviews, Path out, int steps, String... extra) {
        Map<String, String> options = new LinkedHashMap<>();
        String[] defaults = {"--data", reviews.toString(), "--tokenizer", tokenizer.toString(), "--out", out.toString(),
                "--layers", "1", "--d-model", "32", "--heads", "2", "--context", "16", "--batch-tokens", "128",
                "--steps", Integer.toString(steps), "--lr", "1e-2", "--warmup", "3", "--eval-every", "5", "--eval-tokens", "128",
                "--checkpoint-every", "5"};
        for (int i = 0; i < defaults.length; i += 2) options.put(defaults[i], defaults[i + 1]);
        List<String> flags = new ArrayList<>();
        for (int i = 0; i < extra.length; i++) {
            if (i + 1 < extra.length && !extra[i + 1].startsWith("--")) options.put(extra[i], extra[++i]);
            else flags.add(extra[i]);
        }
        List<String> args = new ArrayList<>(List.of("pretrain"));
        options.forEach((k, v) -> {
            args.add(k);
            args.add(v);
        });
        args.addAll(flags);
        return MainTest.run(args.toArray(String[]::new));
    }

    static void deleteTree(Path p) throws IOException {
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    private static List<JsonNode> log(Path out) throws IOException {
        List<JsonNode> records = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("log.jsonl"))) records.add(JSON.readTree(line));
        return records;
    }

    private static List<String> stepFolders(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out.resolve("checkpoints"))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-")).sorted().toList();
        }
    }

    @Test
    void lossFallsAndTheRunLeavesLogCheckpointsAndModel() throws Exception {
        Path out = tmp.resolve("run");
        MainTest.Run r = pretrain(out, 30);
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("unigram entropy of the training tokens"), r.out());
        assertTrue(r.err().contains("step 30/30"), r.err());

        List<JsonNode> log = log(out);
        assertEquals(30, log.size());
        for (int i = 0; i < 30; i++) {
            JsonNode rec = log.get(i);
            assertEquals(i + 1, rec.get("step").intValue());
            for (String f : List.of("loss", "lr", "grad_norm", "tokens", "tokens_per_s", "seconds")) assertTrue(rec.has(f), f + " in " + rec);
            assertEquals((i + 1) * 128L, rec.get("tokens").longValue());
            assertEquals((i + 1) % 5 == 0, rec.has("eval_loss"), rec.toString());
        }
        assertEquals(1e-2 / 3, log.get(0).get("lr").doubleValue(), 1e-7, "warm-up starts at lr / warmup");
        assertEquals(1e-3, log.get(29).get("lr").doubleValue(), 1e-7, "the cosine ends at lr * min-lr-ratio");
        double first = mean(log.subList(0, 5), "loss"), last = mean(log.subList(25, 30), "loss");
        assertTrue(last < first - 1.0, "training loss should fall by over a nat: " + first + " -> " + last);
        double eval5 = log.get(4).get("eval_loss").doubleValue(), eval30 = log.get(29).get("eval_loss").doubleValue();
        assertTrue(eval30 < eval5 - 0.5, "held-out loss should fall: " + eval5 + " -> " + eval30);

        assertEquals("step-30", Files.readString(out.resolve("checkpoints/latest")).strip());
        assertEquals(List.of("step-25", "step-30"), stepFolders(out), "the two newest checkpoints are kept");
        for (String f : List.of("config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors", "state.json")) {
            assertTrue(Files.isRegularFile(out.resolve("checkpoints/step-30").resolve(f)), f);
        }
        JsonNode state = JSON.readTree(out.resolve("checkpoints/step-30/state.json").toFile());
        assertEquals(30, state.get("step").intValue());
        assertEquals(30, state.get("adam_steps").intValue());
        assertEquals(64, state.path("data").path("sha256").asText().length());
        assertEquals(0.01, state.path("hyper").path("lr").doubleValue());

        try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.load(backend, out.resolve("model"))) {
            assertEquals(1, m.config().nLayer());
            assertEquals(16, m.config().nPositions());
            assertEquals(TinyFixtures.VOCAB, m.config().vocabSize());
        }
        assertEquals(TinyFixtures.VOCAB, Gpt2Tokenizer.load(out.resolve("model")).vocabSize());
        MainTest.Run gen = MainTest.run("generate", "--model", out.resolve("model").toString(), "--prompt", "The film", "--max-new-tokens", "8");
        assertEquals(0, gen.status(), gen.err());
        assertTrue(gen.out().startsWith("The film"), gen.out());

        MainTest.Run again = pretrain(out, 30);
        assertEquals(Main.EXIT_USAGE, again.status());
        assertTrue(again.err().contains("holds a training run already") && again.err().contains("--resume"), again.err());
    }

    @Test
    void resumeIsBitwiseTheUninterruptedRun() throws Exception {
        Path straight = tmp.resolve("straight"), resumed = tmp.resolve("resumed");
        assertEquals(0, pretrain(straight, 20, "--checkpoint-every", "10").status());

        // Run the same, then wind it back to a crash just after step 10's checkpoint: latest names
        // step-10, later folders and the final model are gone, and the log runs past step 10 with a
        // half-written last line.
        assertEquals(0, pretrain(resumed, 20, "--checkpoint-every", "10").status());
        assertEquals(List.of("step-10", "step-20"), stepFolders(resumed));
        deleteTree(resumed.resolve("checkpoints/step-20"));
        deleteTree(resumed.resolve("model"));
        Files.writeString(resumed.resolve("checkpoints/latest"), "step-10\n");
        List<String> lines = Files.readAllLines(resumed.resolve("log.jsonl"));
        Files.write(resumed.resolve("log.jsonl"), lines.subList(0, 13));
        Files.writeString(resumed.resolve("log.jsonl"), "{\"step\":14,\"loss\":1.2", StandardOpenOption.APPEND);

        MainTest.Run r = pretrain(resumed, 20, "--checkpoint-every", "10", "--resume");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("resuming") && r.out().contains("at step 10 of 20"), r.out());

        assertArrayEquals(Files.readAllBytes(straight.resolve("model/model.safetensors")),
                Files.readAllBytes(resumed.resolve("model/model.safetensors")), "final weights differ");
        assertArrayEquals(Files.readAllBytes(straight.resolve("checkpoints/step-20/optimizer.safetensors")),
                Files.readAllBytes(resumed.resolve("checkpoints/step-20/optimizer.safetensors")), "final AdamW moments differ");
        List<JsonNode> a = log(straight), b = log(resumed);
        assertEquals(20, b.size());
        for (int i = 0; i < 20; i++) {
            for (String f : List.of("step", "loss", "lr", "grad_norm", "tokens", "eval_loss")) {
                assertEquals(a.get(i).get(f), b.get(i).get(f), "record " + (i + 1) + " field " + f);
            }
        }

        MainTest.Run done = pretrain(resumed, 20, "--checkpoint-every", "10", "--resume");
        assertEquals(0, done.status(), done.err());
        assertTrue(done.out().contains("already at the last step (20): nothing to train"), done.out());
        assertEquals(20, log(resumed).size());
        assertArrayEquals(Files.readAllBytes(straight.resolve("model/model.safetensors")),
                Files.readAllBytes(resumed.resolve("model/model.safetensors")));
    }

    @Test
    void resumeRefusesOtherHyperParametersAndDamagedCheckpoints() throws Exception {
        Path out = tmp.resolve("damaged");
        MainTest.Run none = pretrain(out, 10, "--resume");
        assertEquals(Main.EXIT_FAILURE, none.status());
        assertTrue(none.err().contains("no checkpoint to resume from"), none.err());

        assertEquals(0, pretrain(out, 10).status());
        Files.writeString(out.resolve("checkpoints/latest"), "step-5\n");
        MainTest.Run lr = pretrain(out, 10, "--resume", "--lr", "2e-2");
        assertEquals(Main.EXIT_FAILURE, lr.status());
        assertTrue(lr.err().contains("--lr 0.01 (checkpoint) vs 0.02 (now)"), lr.err());
        Path moreReviews = TinyFixtures.writeReviews(Files.createDirectories(tmp.resolve("more")), 90);
        MainTest.Run otherData = pretrainOn(moreReviews, out, 10, "--resume");
        assertEquals(Main.EXIT_FAILURE, otherData.status());
        assertTrue(otherData.err().contains("the training data or tokenizer differs"), otherData.err());

        Path model = out.resolve("checkpoints/step-5/model.safetensors");
        byte[] good = Files.readAllBytes(model);
        Files.write(model, java.util.Arrays.copyOf(good, good.length / 2));
        MainTest.Run truncated = pretrain(out, 10, "--resume");
        assertEquals(Main.EXIT_FAILURE, truncated.status());
        assertEquals(1, truncated.err().lines().filter(l -> l.startsWith("densify: error: ")).count(), truncated.err());
        assertTrue(truncated.err().contains("checkpoint " + out.resolve("checkpoints/step-5")), truncated.err());
        Files.write(model, good);

        Files.writeString(out.resolve("checkpoints/step-5/state.json"), "{\"step\": 5,");
        MainTest.Run badState = pretrain(out, 10, "--resume");
        assertEquals(Main.EXIT_FAILURE, badState.status());
        assertTrue(badState.err().contains("state.json: not valid JSON"), badState.err());

        Files.writeString(out.resolve("checkpoints/latest"), "step-7\n");
        MainTest.Run missing = pretrain(out, 10, "--resume");
        assertEquals(Main.EXIT_FAILURE, missing.status());
        assertTrue(missing.err().contains("step-7: the checkpoint named by"), missing.err());
    }

    @Test
    void badArgumentsAreUsageErrors() {
        Path out = tmp.resolve("unused");
        String[][] cases = {
                {"--heads", "3", "--heads must divide --d-model 32"},
                {"--context", "1", "--context must be >= 2"},
                {"--batch-tokens", "8", "--batch-tokens 8 must hold at least one window of --context 16"},
                {"--min-lr-ratio", "2", "--min-lr-ratio must be in [0, 1]"},
                {"--steps", "0", "--steps must be >= 1"},
                {"--device", "tpu", "unknown device 'tpu'"},
        };
        for (String[] c : cases) {
            MainTest.Run r = pretrain(out, 10, c[0], c[1]);
            assertEquals(Main.EXIT_USAGE, r.status(), String.join(" ", c) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(c[2]), r.err());
        }
        assertFalse(Files.exists(out), "nothing is written before the arguments are checked");
    }

    private static double mean(List<JsonNode> records, String field) {
        return records.stream().mapToDouble(r -> r.get(field).doubleValue()).average().orElseThrow();
    }
}
