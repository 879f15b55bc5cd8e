package org.densify.rlhf.cli;

import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class TrainTokenizerCommandTest {

    @TempDir
    Path tmp;

    @Test
    void learnsWritesAndReportsHeldOutCompression() throws Exception {
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            jsonl.append("{\"t\":\"Review ").append(i).append(": the film was ").append(i % 2 == 0 ? "wonderful" : "dreadful")
                    .append(", the acting ").append(i % 3 == 0 ? "superb" : "wooden").append(".<br />Seen it twice.\",\"s\":")
                    .append(i % 2).append("}\n");
        }
        Path data = tmp.resolve("reviews.jsonl");
        Files.writeString(data, jsonl);
        Path out = tmp.resolve("tok");

        MainTest.Run r = MainTest.run("train-tokenizer", "--data", data.toString(), "--vocab-size", "320", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("320 tokens"), r.out());
        assertTrue(r.out().contains("held-out"), r.out());

        Gpt2Tokenizer tokenizer = Gpt2Tokenizer.load(out);
        assertEquals(320, tokenizer.vocabSize());
        String text = "Review 7: the film was dreadful, the acting wooden.";
        assertEquals(text, tokenizer.decode(tokenizer.encode(text)));
        assertTrue(tokenizer.encode(text).length < text.length() / 2, "the learned merges should compress seen text");
    }

    @Test
    void rejectsTooSmallVocabularyAsUsageError() {
        MainTest.Run r = MainTest.run("train-tokenizer", "--vocab-size", "100", "--out", tmp.toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--vocab-size must be at least 257"), r.err());
    }

    @Test
    void missingDataFileIsOneLineError() {
        MainTest.Run r = MainTest.run("train-tokenizer", "--data", tmp.resolve("none.json").toString(), "--out", tmp.toString());
        assertEquals(Main.EXIT_FAILURE, r.status());
        assertTrue(r.err().contains("none.json"), r.err());
    }
}
