package org.densify.rlhf.cli;

import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.AdamW;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.run.RunLock;
import org.densify.rlhf.run.TrainingChecks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What the commands promise about run folders and outputs (docs/reliability.md): one run per
 * folder, nothing replaced without --force and every output path checked before any work, nothing
 * non-finite written, and checkpoints whose damage is found on resume.
 */
class RunFolderTest {
    @TempDir
    static Path tmp;
    static Path reviews, longReviews, tokenizer, lm, rm;

    @BeforeAll
    static void inputs() throws IOException {
        reviews = TinyFixtures.writeReviews(tmp, 80);
        tokenizer = TinyFixtures.writeTokenizer(tmp);
        lm = TinyFixtures.writeModel(tmp.resolve("lm"), tokenizer, ModelKind.LM, 64, 1);
        rm = TinyFixtures.writeModel(tmp.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 2);
        List<String> texts = TinyFixtures.reviews(12);
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i + 2 < texts.size(); i += 3) {
            jsonl.append("{\"t\":\"").append(texts.get(i)).append(' ').append(texts.get(i + 1)).append(' ').append(texts.get(i + 2)).append("\",\"s\":1}\n");
        }
        longReviews = Files.writeString(tmp.resolve("long.jsonl"), jsonl);
    }

    static MainTest.Run pretrain(Path out, int steps, String... extra) {
        List<String> args = new ArrayList<>(List.of("pretrain", "--data", reviews.toString(), "--tokenizer", tokenizer.toString(),
                "--out", out.toString(), "--layers", "1", "--d-model", "32", "--heads", "2", "--context", "16", "--batch-tokens", "128",
                "--steps", Integer.toString(steps), "--warmup", "0", "--eval-every", "0", "--eval-tokens", "128", "--checkpoint-every", "2"));
        args.addAll(List.of(extra));
        return MainTest.run(args.toArray(String[]::new));
    }

    static MainTest.Run ppo(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("ppo", "--policy", lm.toString(), "--reward-model", rm.toString(), "--data",
                longReviews.toString(), "--out", out.toString(), "--credit", "sparse", "--batch", "2", "--minibatch", "1", "--ppo-epochs", "1",
                "--gen-min", "2", "--gen-max", "3", "--steps", "2", "--checkpoint-every", "1"));
        args.addAll(List.of(extra));
        return MainTest.run(args.toArray(String[]::new));
    }

    static MainTest.Run trainRm(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train-rm", "--init", lm.toString(), "--data", reviews.toString(), "--out", out.toString(),
                "--max-tokens", "16", "--batch", "16", "--eval-fraction", "0.25"));
        args.addAll(List.of(extra));
        return MainTest.run(args.toArray(String[]::new));
    }

    // ---- 1. one run per folder --------------------------------------------------------------

    @Test
    void aSecondRunOnAFolderInUseIsRefused() throws IOException {
        Path out = tmp.resolve("locked");
        try (RunLock _ = RunLock.inside(out)) {
            for (MainTest.Run r : List.of(pretrain(out, 2), ppo(out))) {
                assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
                assertTrue(r.err().contains("densify: error: " + out + " is in use by another run (lock " + out.resolve(RunLock.FILE) + ")"), r.err());
            }
            assertFalse(Files.exists(out.resolve("log.jsonl")), "the refused runs wrote nothing");
        }
        MainTest.Run free = ppo(out);
        assertEquals(0, free.status(), "the lock is released with its holder: " + free.err());

        Path rmOut = tmp.resolve("locked-rm");
        try (RunLock _ = RunLock.beside(rmOut)) {
            MainTest.Run r = trainRm(rmOut);
            assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
            assertTrue(r.err().contains(rmOut + " is in use by another run (lock "), r.err());
        }
    }

    // ---- 2. nothing non-finite is written --------------------------------------------------

    @Test
    void learningRatesOutsideTheFloatRangeAreUsageErrors() {
        for (MainTest.Run r : List.of(pretrain(tmp.resolve("lr-pretrain"), 1, "--lr", "1e39"), ppo(tmp.resolve("lr-ppo"), "--lr", "1e39"),
                trainRm(tmp.resolve("lr-rm"), "--lr", "1e39"))) {
            assertEquals(Main.EXIT_USAGE, r.status(), r.err());
            assertTrue(r.err().contains("--lr 1.0E39 is beyond the float range"), r.err());
        }
        for (String lr : List.of("0", "-1e-3", "NaN", "Infinity")) {
            MainTest.Run r = pretrain(tmp.resolve("lr-bad"), 1, "--lr", lr);
            assertEquals(Main.EXIT_USAGE, r.status(), lr + ": " + r.err());
            assertTrue(r.err().contains("--lr must be a positive number"), r.err());
        }
        assertFalse(Files.exists(tmp.resolve("lr-pretrain")), "refused before anything is written");
    }

    @Test
    void aCheckpointWithANonFiniteParameterIsNotWritten() throws IOException {
        Path root = tmp.resolve("nan-checkpoints");
        try (Backend backend = Backends.create("cpu"); Gpt2Model model = Gpt2Model.load(backend, lm);
             AdamW adam = new AdamW(model, 0.9f, 0.95f, 1e-8f, 0f)) {
            Checkpoints checkpoints = new Checkpoints(root);
            var state = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("format", Checkpoints.FORMAT).put("step", 1);
            checkpoints.save(1, model, adam, tokenizer, state.deepCopy());
            backend.write(model.parameter("h.1.mlp.c_fc.weight"), 5, new float[]{Float.NaN});
            TrainingChecks.NonFinite e = assertThrows(TrainingChecks.NonFinite.class,
                    () -> checkpoints.save(2, model, adam, tokenizer, state.deepCopy().put("step", 2)));
            assertTrue(e.getMessage().contains("tensor h.1.mlp.c_fc.weight holds NaN (element 5 of "), e.getMessage());
            assertEquals(1, checkpoints.latestStep(), "latest still names the last finite checkpoint");
            assertFalse(Files.exists(root.resolve("step-2")));
            assertFalse(Files.exists(root.resolve(".step-2.partial")));
        }
    }

    @Test
    void aModelWhoseOutputsOverflowIsNotWritten() {
        // --lr 1e30 is a float: one step leaves finite weights too large for the forward pass
        Path out = tmp.resolve("overflow");
        MainTest.Run r = pretrain(out, 1, "--lr", "1e30");
        assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
        assertTrue(r.err().contains("densify: error: the held-out loss is NaN at step 1: the model's outputs are not finite, so it is not written"), r.err());
        assertFalse(Files.exists(out.resolve("model")));
        assertFalse(Files.exists(out.resolve("checkpoints/latest")));
    }

    @Test
    void aDivergingPretrainingRunWarnsOnce() {
        MainTest.Run r = pretrain(tmp.resolve("diverging"), 8, "--lr", "10");
        long warnings = r.err().lines().filter(l -> l.startsWith("densify: warning: the training loss")).count();
        assertEquals(1, warnings, r.err());
        assertTrue(r.err().contains("worse than a uniform guess among the " + TinyFixtures.VOCAB + " tokens"), r.err());
        MainTest.Run calm = pretrain(tmp.resolve("calm"), 4, "--lr", "1e-2");
        assertEquals(0, calm.status(), calm.err());
        assertFalse(calm.err().contains("warning"), calm.err());
    }

    // ---- 4. nothing is replaced without --force; every output is checked before any work -----

    @Test
    void existingOutputsAreRefusedWithoutForce() throws IOException {
        Path model = tmp.resolve("precious");
        TinyFixtures.writeModel(model, tokenizer, ModelKind.LM, 64, 9);
        byte[] weights = Files.readAllBytes(model.resolve("model.safetensors"));
        byte[] vocab = Files.readAllBytes(model.resolve("vocab.json"));

        MainTest.Run dump = MainTest.run("dump", "--model", lm.toString(), "--ids", "1,2", "--out", model.resolve("model.safetensors").toString());
        assertEquals(Main.EXIT_USAGE, dump.status(), dump.err());
        assertTrue(dump.err().contains("--out " + model.resolve("model.safetensors") + ": exists already; pass --force to replace it"), dump.err());
        MainTest.Run tok = MainTest.run("train-tokenizer", "--data", reviews.toString(), "--vocab-size", "260", "--out", model.toString());
        assertEquals(Main.EXIT_USAGE, tok.status(), tok.err());
        assertTrue(tok.err().contains("--out " + model + ": holds vocab.json already; pass --force"), tok.err());
        MainTest.Run html = MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "The film", "--completion", " was good",
                "--html", model.resolve("config.json").toString());
        assertEquals(Main.EXIT_USAGE, html.status(), html.err());
        assertArrayEquals(weights, Files.readAllBytes(model.resolve("model.safetensors")));
        assertArrayEquals(vocab, Files.readAllBytes(model.resolve("vocab.json")));

        Path run = Files.createDirectories(tmp.resolve("unrelated"));
        Files.writeString(run.resolve("log.jsonl"), "mine\n");
        for (MainTest.Run r : List.of(pretrain(run, 2), ppo(run))) {
            assertEquals(Main.EXIT_USAGE, r.status(), r.err());
            assertTrue(r.err().contains("--out " + run + ": holds log.jsonl already; pass --force to replace it, or choose another --out"), r.err());
        }
        assertEquals("mine\n", Files.readString(run.resolve("log.jsonl")));
        Path withModel = Files.createDirectories(tmp.resolve("with-model/model"));
        MainTest.Run mixed = pretrain(withModel.getParent(), 2);
        assertEquals(Main.EXIT_USAGE, mixed.status(), mixed.err());
        assertTrue(mixed.err().contains("holds model already"), mixed.err());

        MainTest.Run forced = MainTest.run("dump", "--model", lm.toString(), "--ids", "1,2", "--out", tmp.resolve("d.safetensors").toString());
        assertEquals(0, forced.status(), forced.err());
        assertEquals(0, MainTest.run("dump", "--model", lm.toString(), "--ids", "1,2", "--out", tmp.resolve("d.safetensors").toString(), "--force").status());
        MainTest.Run replaced = pretrain(run, 2, "--force");
        assertEquals(0, replaced.status(), replaced.err());
        assertEquals(2, Files.readAllLines(run.resolve("log.jsonl")).size());
    }

    @Test
    void anOutputUnderAFileFailsBeforeAnyWork() throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        Path under = file.resolve("run");
        List<MainTest.Run> runs = List.of(pretrain(under, 2), ppo(under), trainRm(under),
                MainTest.run("dump", "--model", lm.toString(), "--ids", "1,2", "--out", under.resolve("d.safetensors").toString()),
                MainTest.run("train-tokenizer", "--data", reviews.toString(), "--vocab-size", "260", "--out", under.toString()),
                MainTest.run("experiment", "--config", "no-such.json", "--out", under.toString()),
                trainRm(tmp.resolve("rm-log"), "--log", under.resolve("log.jsonl").toString()));
        for (MainTest.Run r : runs) {
            assertEquals(Main.EXIT_USAGE, r.status(), r.err());
            assertTrue(r.err().contains(": " + file + " is a file, not a folder"), r.err());
            assertFalse(r.err().contains("tokenized") || r.err().contains("data:"), "refused before any work: " + r.err());
        }
    }

    // ---- 5. a forced replacement a crash interrupted is recovered --------------------------

    @Test
    void trainRmForceStoppedBetweenItsRenamesIsRecoveredByTheNextRun() throws IOException {
        Path out = tmp.resolve("rm-swap");
        assertEquals(0, trainRm(out).status());
        byte[] first = Files.readAllBytes(out.resolve("model.safetensors"));
        org.densify.loaders.io.AtomicFiles.RenameHook previous = org.densify.loaders.io.AtomicFiles.setRenameHookForTests((from, to) -> {
            if (to.equals(out.toAbsolutePath().normalize())) throw new IOException("simulated kill");
        });
        MainTest.Run killed;
        try {
            killed = trainRm(out, "--force", "--seed", "5");
        } finally {
            org.densify.loaders.io.AtomicFiles.setRenameHookForTests(previous);
        }
        assertEquals(Main.EXIT_FAILURE, killed.status(), killed.err());
        assertFalse(Files.exists(out), "stopped with the old model aside and the new one not yet in place");

        MainTest.Run next = trainRm(out, "--force", "--seed", "6");
        assertEquals(0, next.status(), next.err());
        assertTrue(next.err().contains("densify: restored " + out), next.err());
        assertFalse(java.util.Arrays.equals(first, Files.readAllBytes(out.resolve("model.safetensors"))));
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".rm-swap.") && !n.endsWith(".lock")).toList());
        }
    }

    // ---- 6. checkpoints carry a checksum per file --------------------------------------------

    @Test
    void aDamagedCheckpointFileIsNamedOnResume() throws IOException {
        Path out = tmp.resolve("flipped");
        assertEquals(0, pretrain(out, 2).status());
        for (String name : List.of("model.safetensors", Checkpoints.OPTIMIZER)) {
            Path file = out.resolve("checkpoints/step-2").resolve(name);
            byte[] good = Files.readAllBytes(file);
            byte[] flipped = good.clone();
            flipped[flipped.length - 3] ^= 0x01; // one low mantissa bit of one weight: loads and trains without complaint
            Files.write(file, flipped);
            MainTest.Run r = pretrain(out, 2, "--resume");
            assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
            assertTrue(r.err().contains("checkpoint " + out.resolve("checkpoints/step-2") + ": " + name + " is damaged"), r.err());
            Files.write(file, good);
        }
        MainTest.Run resumed = pretrain(out, 2, "--resume");
        assertEquals(0, resumed.status(), resumed.err());
    }

    @Test
    void aNonFiniteCheckpointIsReportedAsDamagedNotAsATooHighLearningRate() throws IOException {
        Path out = tmp.resolve("nan-resume");
        assertEquals(0, pretrain(out, 4).status());
        // as if the run had stopped after step 2, whose checkpoint (one from before the digests) holds a NaN weight
        Path step2 = out.resolve("checkpoints/step-2");
        Files.writeString(out.resolve("checkpoints/latest"), "step-2\n");
        try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.load(backend, step2)) {
            backend.write(m.parameter("h.0.mlp.c_fc.weight"), 3, new float[]{Float.NaN});
            m.save(step2, ModelKind.LM);
        }
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var state = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(step2.resolve("state.json").toFile());
        state.remove(Checkpoints.FILES);
        json.writeValue(step2.resolve("state.json").toFile(), state);

        MainTest.Run r = pretrain(out, 4, "--resume");
        assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
        // the load-time weight check names the checkpoint, its file and the tensor before any training step runs
        assertTrue(r.err().contains("checkpoint " + step2 + ": " + step2.resolve("model.safetensors")), r.err());
        assertTrue(r.err().contains("tensor 'transformer.h.0.mlp.c_fc.weight' holds NaN at element 3"), r.err());
        assertFalse(r.err().contains("training loss"), r.err());
    }
}
