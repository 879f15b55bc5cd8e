package org.densify.rlhf.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.credit.RewardModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TrainRmCommandTest {
    @TempDir
    static Path tmp;
    static Path data, lm;
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void inputs() throws Exception {
        data = TinyFixtures.writeReviews(tmp, 80);
        lm = TinyFixtures.writeModel(tmp.resolve("lm"), TinyFixtures.writeTokenizer(tmp), ModelKind.LM, 64, 1);
    }

    /**
     * Runs {@code densify train-rm ARGS}: through {@link Main} once it registers the command, until
     * then through the command alone with Main's exit statuses and one-line errors.
     */
    static MainTest.Run run(String... args) {
        if (new CommandLine(new Main()).getSubcommands().containsKey("train-rm")) {
            List<String> all = new ArrayList<>(List.of("train-rm"));
            all.addAll(List.of(args));
            return MainTest.run(all.toArray(String[]::new));
        }
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cli = new CommandLine(new TrainRmCommand());
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        cli.setParameterExceptionHandler((ex, ignored) -> {
            ex.getCommandLine().getErr().println("densify: " + ex.getMessage());
            return Main.EXIT_USAGE;
        });
        cli.setExecutionExceptionHandler((ex, c, parsed) -> {
            c.getErr().println("densify: error: " + Main.describe(ex));
            return ex instanceof Main.UsageException ? Main.EXIT_USAGE : Main.EXIT_FAILURE;
        });
        int status = cli.execute(args);
        cli.getOut().flush();
        cli.getErr().flush();
        return new MainTest.Run(status, out.toString(), err.toString());
    }

    @Test
    void trainsAClassifierFromALanguageModel() throws Exception {
        Path out = tmp.resolve("rm");
        MainTest.Run r = run("--init", lm.toString(), "--data", data.toString(), "--out", out.toString(), "--epochs", "2", "--batch", "8",
                "--lr", "3e-3", "--eval-fraction", "0.2", "--max-tokens", "40");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("held-out accuracy"), r.out());
        assertTrue(r.out().contains("wrote " + out), r.out());
        assertTrue(r.err().contains("epoch 2/2"), r.err());
        for (String f : new String[]{"config.json", "model.safetensors", "vocab.json", "merges.txt", "train_rm.json", "train_rm.jsonl"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        JsonNode summary = JSON.readTree(out.resolve("train_rm.json").toFile());
        assertEquals(40, summary.at("/settings/max_tokens").asInt());
        assertEquals(2, summary.get("epochs").size());
        double accuracy = summary.at("/held_out/accuracy").asDouble();
        assertTrue(accuracy >= 0.75, "the template reviews say loved/hated: " + accuracy);
        try (Backend backend = Backends.create("cpu"); RewardModel rm = RewardModel.load(backend, out)) {
            assertEquals(2, rm.model().numLabels());
        }

        MainTest.Run again = run("--init", lm.toString(), "--data", data.toString(), "--out", out.toString());
        assertEquals(Main.EXIT_USAGE, again.status());
        assertTrue(again.err().contains("--force"), again.err());
        assertEquals(1, again.err().strip().lines().count(), again.err());
    }

    @Test
    void preferencePairsAndTheirErrors() throws Exception {
        Path pairs = tmp.resolve("pairs.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 24; i++) sb.append("{\"prompt\":\"The film was\",\"chosen\":\" wonderful ").append(i).append("\",\"rejected\":\" dreadful ")
                .append(i).append("\"}\n");
        Files.writeString(pairs, sb);
        Path out = tmp.resolve("rm-pairs");
        Path log = tmp.resolve("logs/pairs.jsonl");
        MainTest.Run r = run("--init", lm.toString(), "--data", pairs.toString(), "--out", out.toString(), "--lr", "3e-3", "--batch", "4",
                "--eval-fraction", "0.25", "--log", log.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("held-out preference accuracy"), r.out());
        int steps = JSON.readTree(out.resolve("train_rm.json").toFile()).get("steps").asInt();
        assertEquals(steps, Files.readAllLines(log).size(), "--log holds one record per step");
        assertFalse(Files.exists(out.resolve("train_rm.jsonl")), "the log went to --log");
        MainTest.Run inside = run("--init", lm.toString(), "--data", pairs.toString(), "--out", tmp.resolve("rm-in").toString(),
                "--log", tmp.resolve("rm-in/log.jsonl").toString());
        assertEquals(Main.EXIT_USAGE, inside.status());
        assertTrue(inside.err().contains("is inside --out"), inside.err());
        assertEquals(1, JSON.readTree(out.resolve("config.json").toFile()).get("id2label").size(), "pairs train one label");

        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":\"a\",\"chosen\":\"b\"}\n");
        MainTest.Run e = run("--init", lm.toString(), "--data", bad.toString(), "--out", tmp.resolve("never").toString());
        assertEquals(Main.EXIT_FAILURE, e.status());
        assertTrue(e.err().contains(bad + ": line 2: missing field 'rejected'"), e.err());
        assertFalse(Files.exists(tmp.resolve("never")));
    }

    @Test
    void usageErrorsAndHelp() {
        MainTest.Run r = run("--init", lm.toString(), "--data", data.toString(), "--out", tmp.resolve("x").toString(), "--labels", "3");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--labels must be 1"), r.err());
        r = run("--init", lm.toString(), "--out", tmp.resolve("x").toString(), "--epochs", "0");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--epochs must be >= 1"), r.err());
        r = run("--data", data.toString());
        assertEquals(Main.EXIT_USAGE, r.status());
        assertTrue(r.err().contains("--init"), r.err());

        MainTest.Run help = run("--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("BEGINNING"), "the help says which part of a long text is kept");
        assertTrue(help.out().contains("--max-tokens"), help.out());
    }
}
