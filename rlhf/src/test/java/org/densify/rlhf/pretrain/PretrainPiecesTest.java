package org.densify.rlhf.pretrain;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.Heads;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.tokenizer.BpeTrainer;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.run.TrainingLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

class PretrainPiecesTest {

    @TempDir
    Path tmp;

    @Test
    void scheduleWarmsUpLinearlyThenFollowsTheCosineToItsFloor() {
        Schedule s = new Schedule(1e-2, 10, 0.1, 111);
        assertEquals(1e-3f, s.at(1));
        assertEquals(5e-3f, s.at(5));
        assertEquals(1e-2f, s.at(10));
        assertEquals(1e-2f, s.at(11), "the cosine starts at the peak");
        assertEquals(5.5e-3f, s.at(61), 1e-9f, "half-way down the cosine: the mean of peak and floor");
        assertEquals(1e-3f, s.at(111), 1e-9f);
        for (int step = 11; step < 111; step++) assertTrue(s.at(step + 1) <= s.at(step), "not decreasing at " + step);
        assertEquals(2e-3f, new Schedule(2e-3, 0, 1.0, 5).at(3), "ratio 1 is a constant rate");
        assertThrows(IllegalArgumentException.class, () -> s.at(112));
    }

    @Test
    void batchesDependOnSeedAndStepOnly() {
        int[] stream = new int[1000];
        for (int i = 0; i < stream.length; i++) stream[i] = i % 50;
        TokenData data = new TokenData(stream, Arrays.copyOf(stream, 100), 50);
        Batch a = data.trainBatch(7, 3, 4, 16);
        assertArrayEquals(a.tokens(), data.trainBatch(7, 3, 4, 16).tokens());
        assertArrayEquals(new int[]{16, 16, 16, 16}, a.seqLengths());
        assertFalse(Arrays.equals(a.tokens(), data.trainBatch(7, 4, 4, 16).tokens()), "steps draw different windows");
        assertFalse(Arrays.equals(a.tokens(), data.trainBatch(8, 3, 4, 16).tokens()), "seeds draw different windows");
        for (int w = 0; w < 4; w++) {
            int first = a.tokens()[w * 16];
            for (int t = 1; t < 16; t++) assertEquals((first + t) % 50, a.tokens()[w * 16 + t], "a window is contiguous");
        }
        // 100 held-out tokens: at most 6 windows of 16 fit without overlap; batches of at most 4.
        List<Batch> eval = data.evalBatches(1000, 16, 4);
        assertEquals(List.of(4, 2), eval.stream().map(Batch::size).toList());
        assertEquals(0, eval.getFirst().tokens()[0]);
        assertEquals(data.test()[100 - 16], eval.getLast().sequence(1)[0], "the last window ends the stream");
        assertEquals(1, data.evalBatches(16, 16, 4).getFirst().size());
        TokenData shortTest = new TokenData(stream, new int[]{1, 2, 3}, 50);
        assertArrayEquals(new int[]{3}, shortTest.evalBatches(64, 16, 4).getFirst().seqLengths(), "one shorter window");
    }

    @Test
    void unigramEntropyAndHash() {
        TokenData uniform = new TokenData(new int[]{0, 1, 2, 3, 0, 1, 2, 3}, new int[]{0, 1}, 4);
        assertEquals(Math.log(4), uniform.unigramEntropy(), 1e-12);
        assertEquals(0.0, new TokenData(new int[]{2, 2, 2}, new int[]{2, 2}, 4).unigramEntropy());
        TokenData moved = new TokenData(new int[]{0, 1, 2, 3, 0, 1, 2}, new int[]{3, 0, 1}, 4);
        assertNotEquals(uniform.hash(), moved.hash(), "the split point is part of the identity");
        assertEquals(uniform.hash(), new TokenData(uniform.train().clone(), uniform.test().clone(), 4).hash());
    }

    @Test
    void logResumeKeepsWholeRecordsUpToTheStep() throws Exception {
        Path file = tmp.resolve("log.jsonl");
        Files.writeString(file, "{\"step\":1,\"loss\":3.5}\n{\"step\":2,\"loss\":3.25}\n{\"step\":3,\"loss\":3.0}\n{\"step\":4,\"lo");
        try (TrainingLog log = TrainingLog.resume(file, 2)) {
            log.append(JsonNodeFactory.instance.objectNode().put("step", 3).put("loss", 2.5));
        }
        assertEquals("{\"step\":1,\"loss\":3.5}\n{\"step\":2,\"loss\":3.25}\n{\"step\":3,\"loss\":2.5}\n", Files.readString(file));
        Files.writeString(file, "{\"step\":1,\"loss\":3.5}\n{\"step\":2,\"lo");
        try (TrainingLog log = TrainingLog.resume(file, 5)) {
            assertNotNull(log);
        }
        assertEquals("{\"step\":1,\"loss\":3.5}\n", Files.readString(file), "a half-written line is dropped");
    }

    @Test
    void aFailedCheckpointLeavesLatestOnTheLastGoodOne() throws Exception {
        Path tokenizer = tmp.resolve("tok");
        new BpeTrainer(260).train(List.of("a b c")).write(tokenizer);
        Checkpoints cps = new Checkpoints(tmp.resolve("checkpoints"));
        Gpt2Config config = Gpt2Config.builder().vocabSize(260).nPositions(8).nEmbd(16).nLayer(1).nHead(2).build();
        try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.create(backend, config, Heads.NONE);
             AdamW opt = AdamW.forPretraining(m)) {
            m.initialize(1);
            ObjectNode state = JsonNodeFactory.instance.objectNode().put("format", Checkpoints.FORMAT).put("step", 1);
            for (int step = 1; step <= 3; step++) cps.save(step, m, opt, tokenizer, state.put("step", step));
            assertEquals("step-3", Files.readString(cps.root().resolve(Checkpoints.LATEST)).strip());
            assertFalse(Files.exists(cps.root().resolve("step-1")), "older checkpoints are pruned");
            assertTrue(Files.isDirectory(cps.root().resolve("step-2")));

            // The tokenizer vanishes mid-save: the folder is never completed, latest stays on step-3.
            Path gone = tmp.resolve("gone");
            assertThrows(NoSuchFileException.class, () -> cps.save(4, m, opt, gone, state.put("step", 4)));
            assertEquals("step-3", Files.readString(cps.root().resolve(Checkpoints.LATEST)).strip());
            assertFalse(Files.exists(cps.root().resolve("step-4")));
            Checkpoints.Saved saved = cps.latest();
            assertEquals(3, saved.step());
            assertTrue(Files.isRegularFile(saved.dir().resolve("model.safetensors")));

            // The next good save clears the partial folder the failed one left.
            cps.save(5, m, opt, tokenizer, state.put("step", 5));
            try (var list = Files.list(cps.root())) {
                assertEquals(List.of("latest", "step-3", "step-5"), list.map(p -> p.getFileName().toString()).sorted().toList());
            }
            assertThrows(IllegalStateException.class, () -> cps.save(5, m, opt, tokenizer, state), "the latest checkpoint is never rewritten");
        }
    }
}
