package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.densify.loaders.model.ModelKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PpoCommandTest {
    @TempDir
    Path dir;

    @Test
    void runsResumesAndRefusesBadOptions() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        Path policy = TinyFixtures.writeModel(dir.resolve("policy"), tokenizer, ModelKind.LM, 64, 1);
        Path rm = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 2);
        // reviews over 200 characters, for the prompts
        List<String> texts = TinyFixtures.reviews(12);
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i + 2 < texts.size(); i += 3) {
            jsonl.append("{\"t\":\"").append(texts.get(i)).append(' ').append(texts.get(i + 1)).append(' ').append(texts.get(i + 2))
                    .append("\",\"s\":1}\n");
        }
        Path data = dir.resolve("long.jsonl");
        Files.writeString(data, jsonl);
        Path out = dir.resolve("run");
        List<String> args = new ArrayList<>(List.of("ppo", "--policy", policy.toString(), "--reward-model", rm.toString(), "--data", data.toString(),
                "--out", out.toString(), "--credit", "prefix-diff", "--batch", "4", "--minibatch", "2", "--ppo-epochs", "1",
                "--gen-min", "2", "--gen-max", "4", "--steps", "2"));
        MainTest.Run r = MainTest.run(args.toArray(String[]::new));
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("prefix-diff: reward "), r.out());
        assertEquals(2, Files.readAllLines(out.resolve("log.jsonl")).size());

        args.set(args.indexOf("--steps") + 1, "3");
        args.add("--resume");
        MainTest.Run resumed = MainTest.run(args.toArray(String[]::new));
        assertEquals(0, resumed.status(), resumed.err());
        assertEquals(3, Files.readAllLines(out.resolve("log.jsonl")).size());
        assertTrue(Files.isDirectory(out.resolve("checkpoints/step-3")));

        MainTest.Run finished = MainTest.run(args.toArray(String[]::new));
        assertEquals(0, finished.status(), finished.err());
        assertEquals("the run in " + out + " is already finished (step 3 of 3); its policy is " + out.resolve("checkpoints/step-3"),
                finished.out().strip());
        assertEquals(3, Files.readAllLines(out.resolve("log.jsonl")).size());

        MainTest.Run bad = MainTest.run("ppo", "--policy", policy.toString(), "--reward-model", rm.toString(), "--out", dir.resolve("x").toString(),
                "--batch", "4", "--minibatch", "3");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("--minibatch"), bad.err());
        assertEquals(2, MainTest.run("ppo", "--policy", policy.toString(), "--reward-model", rm.toString(), "--out", dir.resolve("y").toString(),
                "--credit", "dense").status());
    }

    @Test
    void helpShowsTheDefaultsOfTheRuns() {
        MainTest.Run help = MainTest.run("ppo", "--help");
        assertEquals(0, help.status(), help.err());
        String text = help.out().replaceAll("\\s+", " ");
        for (String shown : List.of("--batch=N Sequences per PPO step (default: 16).", "--lr=LR Adam learning rate (default: 1.41e-5).",
                "(default: 10000).", "Target KL of the adaptive controller (default: 6).", "Shortest prompt in tokens (default: 2).")) {
            assertTrue(text.contains(shown), shown + " in " + text);
        }
    }
}
