package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import org.densify.loaders.io.AtomicFiles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.experiment.ExperimentConfig;
import org.densify.rlhf.ppo.PpoRun;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code densify experiment} end to end on tiny random models (the policy / reward_model form, so no
 * demo training): a 2-method x 2-seed x 3-step grid writes every output; a rerun skips the finished
 * runs without touching their logs; {@code --parallel 2} gives the same numbers; an interrupted run
 * resumes to the same log as an unbroken one; a changed config is refused.
 */
class ExperimentCommandTest {
    @TempDir
    static Path dir;
    static Path policy, rewardModel, data, config, baseline;
    static Run first;
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> CELLS = List.of("sparse/seed-0", "sparse/seed-1", "abc/seed-0", "abc/seed-1");

    record Run(int status, String out, String err) {}

    /** The command as Main runs it (its registration in Main is the lead's), with Main's exit statuses. */
    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cli = new CommandLine(new ExperimentCommand());
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        cli.setParameterExceptionHandler((ex, ignored) -> {
            ex.getCommandLine().getErr().println("densify: " + ex.getMessage());
            return Main.EXIT_USAGE;
        });
        cli.setExecutionExceptionHandler((ex, c, p) -> {
            c.getErr().println("densify: error: " + Main.describe(ex));
            return ex instanceof Main.UsageException ? Main.EXIT_USAGE : Main.EXIT_FAILURE;
        });
        int status = cli.execute(args);
        cli.getOut().flush();
        cli.getErr().flush();
        return new Run(status, out.toString(), err.toString());
    }

    static String configJson(int steps) {
        return """
                {"name": "tiny", "models": {"policy": "%s", "reward_model": "%s", "data": "%s"},
                 "methods": ["sparse", "abc"], "seeds": [0, 1], "steps": %d, "checkpoint_every": 2,
                 "ppo": {"batch": 4, "minibatch": 2, "ppo_epochs": 1, "lr": 0.003, "kl_init": 0.05,
                         "prompt_min": 2, "prompt_max": 4, "gen_min": 3, "gen_max": 5}}
                """.formatted(policy, rewardModel, data, steps);
    }

    @BeforeAll
    static void gridOnTinyModels() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        policy = TinyFixtures.writeModel(dir.resolve("policy"), tokenizer, ModelKind.LM, 64, 3);
        rewardModel = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 4);
        // A random classifier barely varies; a larger head gives the runs a reward that moves.
        try (Backend backend = Backends.create("cpu"); Gpt2Model rm = Gpt2Model.load(backend, rewardModel)) {
            float[] w = new float[Math.toIntExact(rm.parameter("score.weight").length())];
            backend.read(rm.parameter("score.weight"), 0, w);
            for (int i = 0; i < w.length; i++) w[i] *= 30;
            backend.write(rm.parameter("score.weight"), 0, w);
            rm.save(rewardModel, ModelKind.SEQUENCE_CLASSIFIER);
        }
        // prompts come from reviews over 200 characters: three template reviews each
        List<String> texts = TinyFixtures.reviews(60);
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i + 2 < texts.size(); i += 3) {
            jsonl.append("{\"t\": \"").append(texts.get(i)).append(' ').append(texts.get(i + 1)).append(' ').append(texts.get(i + 2)).append("\", \"s\": 1}\n");
        }
        data = Files.writeString(dir.resolve("reviews.jsonl"), jsonl);
        config = Files.writeString(dir.resolve("tiny.json"), configJson(3));
        baseline = dir.resolve("baseline");
        first = run("--config", config.toString(), "--out", baseline.toString());
    }

    @Test
    void theGridWritesEveryOutput() throws IOException {
        assertEquals(0, first.status(), first.err());
        for (String cell : CELLS) {
            List<String> log = Files.readAllLines(baseline.resolve("runs").resolve(cell).resolve("log.jsonl"));
            assertEquals(3, log.size(), cell);
            assertEquals(3, JSON.readTree(log.getLast()).get("step").intValue());
        }
        for (String f : List.of("config.json", "device.txt", "summary.csv", "runs.csv", "report.md", "reward.png", "kl_reward.png", "length.png")) {
            assertTrue(Files.size(baseline.resolve(f)) > 0, f);
        }
        for (String png : List.of("reward.png", "kl_reward.png", "length.png")) {
            byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(baseline.resolve(png)), 8);
            assertArrayEquals(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, head, png + " is a PNG");
        }
        List<String> summary = Files.readAllLines(baseline.resolve("summary.csv"));
        assertEquals("group,method,sweep,step,seeds,reward_mean,reward_std,kl_mean,length_mean", summary.getFirst());
        assertEquals(1 + 2 * 3, summary.size(), "2 groups x 3 steps");
        for (String line : summary.subList(1, summary.size())) {
            String[] f = line.split(",", -1);
            assertEquals(9, f.length, line);
            for (int i = 5; i < 9; i++) assertTrue(Double.isFinite(Double.parseDouble(f[i])), line);
            assertTrue(Double.parseDouble(f[8]) >= 1, "a completion holds at least one token: " + line);
            assertEquals("2", f[4], "two seeds per group: " + line);
        }
        // the summary's step-1 mean is the mean of the two seeds' logged batch means
        double r0 = JSON.readTree(Files.readAllLines(baseline.resolve("runs/abc/seed-0/log.jsonl")).getFirst()).get("reward_mean").doubleValue();
        double r1 = JSON.readTree(Files.readAllLines(baseline.resolve("runs/abc/seed-1/log.jsonl")).getFirst()).get("reward_mean").doubleValue();
        String abcStep1 = summary.stream().filter(l -> l.startsWith("abc,abc,,1,")).findFirst().orElseThrow();
        assertEquals((r0 + r1) / 2, Double.parseDouble(abcStep1.split(",")[5]), 1e-6);

        String report = Files.readString(baseline.resolve("report.md"));
        String runsCsv = Files.readString(baseline.resolve("runs.csv"));
        for (String text : List.of(report, runsCsv, String.join("\n", summary))) {
            assertFalse(text.toLowerCase(java.util.Locale.ROOT).contains("nan"), text);
            assertFalse(text.contains("Infinity"), text);
        }
        assertEquals(1 + 4, runsCsv.lines().count());
        for (String expected : List.of("# Experiment: tiny", "| sparse | 2 |", "| abc | 2 |", "reward at step 3 (mean ± std)", "2 layers, d_model 32",
                "3 steps per run, batch 4", "Seeds: 0, 1", "Our scale differs", "Highest mean reward over steps 1-3")) {
            assertTrue(report.contains(expected), expected + " in\n" + report);
        }
        assertTrue(first.out().contains("4 to run"), first.out());
        assertTrue(first.out().contains("| abc | 2 |"), "the table is printed: " + first.out());
    }

    @Test
    void aSecondInvocationSkipsTheFinishedRuns() throws IOException {
        List<byte[]> logs = new ArrayList<>();
        List<FileTime> times = new ArrayList<>();
        for (String cell : CELLS) {
            Path log = baseline.resolve("runs").resolve(cell).resolve("log.jsonl");
            logs.add(Files.readAllBytes(log));
            times.add(Files.getLastModifiedTime(log));
        }
        byte[] summary = Files.readAllBytes(baseline.resolve("summary.csv"));
        Run again = run("--config", config.toString(), "--out", baseline.toString());
        assertEquals(0, again.status(), again.err());
        assertEquals(4, again.out().lines().filter(l -> l.contains("finished already") && l.endsWith("skipped")).count(), again.out());
        assertTrue(again.out().contains("4 finished already, 0 to run"), again.out());
        assertFalse(again.out().contains("starting"), again.out());
        for (int i = 0; i < CELLS.size(); i++) {
            Path log = baseline.resolve("runs").resolve(CELLS.get(i)).resolve("log.jsonl");
            assertArrayEquals(logs.get(i), Files.readAllBytes(log), CELLS.get(i));
            assertEquals(times.get(i), Files.getLastModifiedTime(log), CELLS.get(i) + "'s log was not rewritten");
        }
        assertArrayEquals(summary, Files.readAllBytes(baseline.resolve("summary.csv")));
        List<String> invocations = Files.readAllLines(baseline.resolve("invocations.jsonl"));
        assertTrue(invocations.size() >= 2, "every invocation is recorded: " + invocations);
        assertTrue(invocations.getFirst().startsWith("{\"ran\":4,\"skipped\":0,"), invocations.getFirst());
        assertTrue(invocations.getLast().startsWith("{\"ran\":0,\"skipped\":4,"), invocations.getLast());
        String report = Files.readString(baseline.resolve("report.md"));
        assertTrue(report.contains("(0 runs run or resumed, 4 finished before); of all " + invocations.size() + " invocations on this folder (invocations.jsonl): "),
                report);
    }

    @Test
    void parallelRunsGiveTheSameSummary() throws IOException {
        Path two = dir.resolve("parallel-2");
        Run r = run("--config", config.toString(), "--out", two.toString(), "--parallel", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("2 at a time"), r.out());
        assertEquals(Files.readString(baseline.resolve("summary.csv")), Files.readString(two.resolve("summary.csv")));
        assertEquals(Files.readString(baseline.resolve("runs.csv")), Files.readString(two.resolve("runs.csv")));
    }

    @Test
    void anInterruptedRunResumesToTheSameLog() throws IOException {
        Path out = dir.resolve("interrupted");
        ExperimentConfig c = ExperimentConfig.load(config);
        // The state a run killed after its step-2 checkpoint leaves: the folder's config and a 2-step run of sparse seed 0.
        Files.createDirectories(out);
        Files.write(out.resolve("config.json"), JSON.writeValueAsBytes(c.toJson()));
        ExperimentConfig.Cell cell = c.cells(out).getFirst();
        try (Backend backend = Backends.create("cpu")) {
            new PpoRun(new PpoRun.Setup(cell.ppo(), cell.credit(), 2, cell.seed(), policy, rewardModel,
                    ImdbDataset.split(ImdbDataset.load(data), 0.1).train(), data.toString(), cell.dir(), false, 2, OutputPaths.Existing.REFUSE))
                    .run(backend, new PrintWriter(new StringWriter()));
        }
        Run r = run("--config", config.toString(), "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("sparse seed 0: resuming from its last checkpoint"), r.out());
        List<String> resumed = Files.readAllLines(cell.dir().resolve("log.jsonl"));
        List<String> unbroken = Files.readAllLines(baseline.resolve("runs/sparse/seed-0/log.jsonl"));
        assertEquals(3, resumed.size());
        for (int i = 0; i < 3; i++) {
            JsonNode a = JSON.readTree(unbroken.get(i)), b = JSON.readTree(resumed.get(i));
            for (String f : List.of("step", "reward_mean", "kl", "kl_coef", "policy_loss", "value_loss")) assertEquals(a.get(f), b.get(f), f + " at step " + (i + 1));
        }
        assertEquals(Files.readString(baseline.resolve("summary.csv")), Files.readString(out.resolve("summary.csv")));
    }

    @Test
    void aRunStoppedDuringItsFinalCheckpointIsResumedNotSkipped() throws IOException {
        Path out = dir.resolve("killed");
        Path cell = out.resolve("runs/sparse/seed-0");
        // a crash while the final checkpoint's folder is renamed into place: every step is logged, latest names step 2
        AtomicFiles.RenameHook previous = AtomicFiles.setRenameHookForTests((from, to) -> {
            if (to.endsWith(Path.of("runs/sparse/seed-0/checkpoints/step-3"))) throw new IOException("simulated kill");
        });
        Run killed;
        try {
            killed = run("--config", config.toString(), "--out", out.toString());
        } finally {
            AtomicFiles.setRenameHookForTests(previous);
        }
        assertEquals(Main.EXIT_FAILURE, killed.status(), killed.err());
        assertEquals(3, Files.readAllLines(cell.resolve("log.jsonl")).size());
        assertEquals("step-2", Files.readString(cell.resolve("checkpoints/latest")).strip());
        assertTrue(Files.isDirectory(cell.resolve("checkpoints/.step-3.partial")));

        Run r = run("--config", config.toString(), "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("sparse seed 0: resuming from its last checkpoint"), r.out());
        assertFalse(r.out().contains("sparse seed 0: finished already"), r.out());
        assertEquals("step-3", Files.readString(cell.resolve("checkpoints/latest")).strip());
        assertFalse(Files.exists(cell.resolve("checkpoints/.step-3.partial")), "the stale partial checkpoint is cleaned");
        assertEquals(Files.readString(baseline.resolve("summary.csv")), Files.readString(out.resolve("summary.csv")));
    }

    @Test
    void aChangedConfigOrDeviceIsRefused() throws IOException {
        Path changed = Files.writeString(dir.resolve("tiny-4.json"), configJson(4));
        Run r = run("--config", changed.toString(), "--out", baseline.toString());
        assertEquals(Main.EXIT_USAGE, r.status(), r.out());
        assertTrue(r.err().contains("started with another config (steps was 3, now 4)"), r.err());
        assertTrue(r.err().contains(baseline.resolve("config.json").toString()), "says which config to rerun with: " + r.err());
        assertEquals(3, Files.readAllLines(baseline.resolve("runs/abc/seed-0/log.jsonl")).size(), "nothing ran");

        Path other = dir.resolve("other-device");
        Files.createDirectories(other);
        Files.write(other.resolve("config.json"), JSON.writeValueAsBytes(ExperimentConfig.load(config).toJson()));
        Files.writeString(other.resolve("device.txt"), "cuda\n", StandardCharsets.UTF_8);
        r = run("--config", config.toString(), "--out", other.toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("was run on device 'cuda', not 'cpu'"), r.err());
        assertFalse(Files.exists(other.resolve("runs")));

        Path unrelated = dir.resolve("unrelated");
        Files.createDirectories(unrelated);
        Files.writeString(unrelated.resolve("notes.txt"), "mine");
        r = run("--config", config.toString(), "--out", unrelated.toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("is not empty and holds no experiment config.json"), r.err());
    }

    @Test
    void prunedFinishedRunsKeepTheirResultsAndStaySkipped() throws IOException {
        Path out = dir.resolve("pruned");
        Run kept = run("--config", config.toString(), "--out", out.toString());
        assertEquals(0, kept.status(), kept.err());
        for (String cell : CELLS) {
            Path run = out.resolve("runs").resolve(cell);
            assertTrue(Files.isDirectory(run.resolve("checkpoints")), cell + " keeps its checkpoints without --prune-checkpoints");
            JsonNode result = JSON.readTree(Files.readAllBytes(run.resolve("result.json")));
            assertEquals(3, result.get("steps").intValue(), cell);
            assertEquals(org.densify.rlhf.run.FileDigests.sha256(run.resolve("log.jsonl")), result.get("log_sha256").asText(), cell);
            JsonNode last = JSON.readTree(Files.readAllLines(run.resolve("log.jsonl")).getLast());
            assertEquals(last.get("reward_mean").doubleValue(), result.get("last_step").get("reward_mean").doubleValue(), cell);
        }
        JsonNode models = JSON.readTree(Files.readAllBytes(out.resolve("models.json")));
        assertEquals(org.densify.rlhf.run.FileDigests.sha256(policy.resolve("model.safetensors")),
                models.get("policy").get("model.safetensors").asText());

        Run pruned = run("--config", config.toString(), "--out", out.toString(), "--prune-checkpoints");
        assertEquals(0, pruned.status(), pruned.err());
        assertTrue(pruned.out().contains("4 finished already, 0 to run"), pruned.out());
        for (String cell : CELLS) {
            Path run = out.resolve("runs").resolve(cell);
            assertFalse(Files.exists(run.resolve("checkpoints")), cell + "'s checkpoints are pruned");
            assertTrue(Files.exists(run.resolve("log.jsonl")) && Files.exists(run.resolve("result.json")), cell);
        }
        // without checkpoints, result.json alone tells that a run finished
        Run again = run("--config", config.toString(), "--out", out.toString());
        assertEquals(0, again.status(), again.err());
        assertEquals(4, again.out().lines().filter(l -> l.contains("finished already (runs/") && l.contains("result.json, 3 of 3 steps")).count(),
                again.out());
        assertEquals(Files.readString(baseline.resolve("summary.csv")), Files.readString(out.resolve("summary.csv")));

        // a log changed after its run finished no longer matches its result
        Path log = out.resolve("runs/abc/seed-1/log.jsonl");
        Files.writeString(log, Files.readString(log).replace("\"step\":3", "\"step\": 3"));
        Run changed = run("--config", config.toString(), "--out", out.toString());
        assertEquals(Main.EXIT_FAILURE, changed.status(), changed.out());
        assertTrue(changed.err().contains(out.resolve("runs/abc/seed-1/result.json") + ": field 'log_sha256' is "), changed.err());
        assertTrue(changed.err().contains("the log changed after the run finished"), changed.err());

        // other models than the folder started from are refused, naming the file that differs
        Path other = dir.resolve("other-models");
        Run first = run("--config", config.toString(), "--out", other.toString());
        assertEquals(0, first.status(), first.err());
        Path recorded = other.resolve("models.json");
        Files.writeString(recorded, Files.readString(recorded).replace(models.get("policy").get("model.safetensors").asText(), "0".repeat(64)));
        Run refused = run("--config", config.toString(), "--out", other.toString());
        assertEquals(Main.EXIT_USAGE, refused.status(), refused.out());
        assertTrue(refused.err().contains("was started from other models") && refused.err().contains("policy.model.safetensors was"), refused.err());
    }

    @Test
    void usageErrorsExitWithTwo() throws IOException {
        Run r = run("--config", config.toString(), "--out", dir.resolve("p0").toString(), "--parallel", "0");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--parallel must be >= 1"), r.err());

        Path bad = Files.writeString(dir.resolve("bad.json"), configJson(3).replace("\"ppo_epochs\"", "\"ppo_epoch\""));
        r = run("--config", bad.toString(), "--out", dir.resolve("bad").toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains(bad + ": unknown field 'ppo.ppo_epoch'"), r.err());

        r = run("--config", config.toString(), "--out", dir.resolve("gpu").toString(), "--device", "no-such-device");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("unknown device 'no-such-device'"), r.err());
        assertFalse(Files.exists(dir.resolve("gpu")), "nothing is written before the device is known");

        Path tooLong = Files.writeString(dir.resolve("long.json"), configJson(3).replace("\"gen_max\": 5", "\"gen_max\": 70"));
        r = run("--config", tooLong.toString(), "--out", dir.resolve("long").toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("(74) exceed the n_positions 64"), r.err());
        assertFalse(Files.exists(dir.resolve("long/config.json")), "a refused config is not recorded, so a corrected one can use the folder");

        r = run("--out", dir.resolve("x").toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--config"), r.err());
    }
}
