package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.run.Checkpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The promises of docs/reliability.md, "Commands and streams": exit codes, stream errors, messages, memory and weight checks. */
class CommandReliabilityTest {
    /** Each blocking read on a thread of its own: the common pool may have a single thread on a small machine. */
    static final java.util.concurrent.Executor OWN_THREAD = task -> Thread.ofPlatform().daemon().start(task);

    @TempDir
    static Path dir;
    static Path tokenizer, lm, rm, lines;
    static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";

    @BeforeAll
    static void fixtures() throws IOException {
        tokenizer = TinyFixtures.writeTokenizer(dir);
        lm = TinyFixtures.writeModel(dir.resolve("lm"), tokenizer, ModelKind.LM, 32, 1);
        rm = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 32, 2);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 200_000; i++) b.append("\"The film was wonderful, review ").append(i).append("\"\n");
        lines = Files.writeString(dir.resolve("lines.txt"), b);
    }

    /** The CLI in a JVM of its own, with the test's class path, so that its standard streams are real ones. */
    static ProcessBuilder densify(String... args) {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command);
    }

    static String text(java.io.InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }

    // ---- standard output ---------------------------------------------------------------------

    @Test
    void aWriteErrorOnStandardOutputExitsOneWithAMessage() throws Exception {
        File full = new File("/dev/full");
        if (!full.exists()) return; // Linux only; the in-process test below covers the rest
        for (String[] args : new String[][] {{"tokenize", "--tokenizer", tokenizer.toString(), "--input", lines.toString()},
                {"score", "--reward-model", rm.toString(), "--prompt", "The film", "--completion", " was good", "--json"},
                {"generate", "--model", lm.toString(), "--prompt", "The film", "--max-new-tokens", "3"},
                {"inspect", lm.toString()}}) {
            Process p = densify(args).redirectOutput(full).start();
            String err = text(p.getErrorStream());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(Main.EXIT_FAILURE, p.exitValue(), args[0] + ": " + err);
            assertTrue(err.contains("cannot write to standard output: No space left on device"), args[0] + ": " + err);
        }
    }

    @Test
    void aClosedPipeStopsTheCommandQuietlyWithStatus141() throws Exception {
        Process p = densify("tokenize", "--tokenizer", tokenizer.toString(), "--input", lines.toString()).start();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> {
            try {
                return text(p.getErrorStream());
            } catch (IOException e) {
                return e.toString();
            }
        }, OWN_THREAD);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        assertTrue(out.readLine().startsWith("["));
        out.close(); // the reader goes away, as `| head -1` does
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(Main.EXIT_BROKEN_PIPE, p.exitValue(), err.get());
        // The JVM's own incubator warning is dropped by the ./densify launcher, not by the CLI.
        assertEquals("", err.get().replace(INCUBATOR_WARNING, "").strip(), "a closed pipe is not an error to report");
    }

    @Test
    void tokenizeAnswersEachLineBeforeTheNextArrives() throws Exception {
        Process p = densify("tokenize", "--tokenizer", tokenizer.toString()).start();
        try {
            p.getOutputStream().write("\"The film\"\n".getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().flush(); // standard input stays open: the answer must come anyway
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> {
                try {
                    return out.readLine();
                } catch (IOException e) {
                    return e.toString();
                }
            }, OWN_THREAD);
            String line = first.get(120, TimeUnit.SECONDS);
            assertTrue(line.matches("\\[\\d+(,\\d+)*]"), line);
        } finally {
            p.getOutputStream().close();
            p.waitFor(60, TimeUnit.SECONDS);
            p.destroy();
        }
    }

    @Test
    void aFailingOutputStreamIsReportedInProcessToo() {
        OutputStream failing = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Input/output error");
            }
        };
        StringWriter err = new StringWriter();
        assertEquals(Main.EXIT_FAILURE, Main.execute(new String[] {"--version"}, CheckedOutput.over(failing), new PrintWriter(err)));
        assertTrue(err.toString().contains("cannot write to standard output: Input/output error"), err.toString());
    }

    // ---- memory ------------------------------------------------------------------------------

    @Test
    void sizesThatCannotFitAreRefusedBeforeAllocatingWithTheSizes() {
        MainTest.Run generate = MainTest.run("generate", "--model", lm.toString(), "--prompt", "The film", "--max-new-tokens", "4",
                "--num-samples", "2000000000");
        assertEquals(Main.EXIT_FAILURE, generate.status(), generate.err());
        assertTrue(generate.err().matches("densify: error: generate --num-samples 2000000000 needs about .* KV cache .* but the JVM may allocate .*\\R"),
                generate.err());

        MainTest.Run pretrain = MainTest.run("pretrain", "--tokenizer", tokenizer.toString(), "--out", dir.resolve("big").toString(),
                "--d-model", "1000000", "--heads", "2");
        assertEquals(Main.EXIT_FAILURE, pretrain.status(), pretrain.err());
        assertTrue(pretrain.err().contains("parameters, gradients and AdamW moments"), pretrain.err());
        assertFalse(Files.exists(dir.resolve("big/log.jsonl")), "nothing is started");

        MainTest.Run ppo = MainTest.run("ppo", "--policy", lm.toString(), "--reward-model", rm.toString(), "--out", dir.resolve("ppo-big").toString(),
                "--batch", "1000000000", "--minibatch", "1");
        assertEquals(Main.EXIT_FAILURE, ppo.status(), ppo.err());
        assertTrue(ppo.err().contains("ppo --batch 1000000000 needs about"), ppo.err());
        assertEquals(1, ppo.err().strip().lines().count(), ppo.err());
    }

    @Test
    void theBudgetAddsItsPartsAndComparesWithTheLimit() {
        MemoryBudget budget = MemoryBudget.of("x").add("a", 3 << 20).add("b", 1 << 20);
        assertEquals(4L << 20, budget.total());
        budget.check(4L << 20);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> budget.check((4L << 20) - 1));
        assertTrue(e.getMessage().startsWith("x needs about 4.0 MiB (a 3.0 MiB, b 1.0 MiB)"), e.getMessage());
    }

    @Test
    void anOutOfMemoryErrorIsOneLineAndStatusOne() throws Exception {
        // One 48 MB line read into a 16 MB heap: no estimate covers a line's length.
        Path huge = dir.resolve("huge.txt");
        try (OutputStream o = Files.newOutputStream(huge)) {
            byte[] chunk = "a".repeat(1 << 20).getBytes(StandardCharsets.US_ASCII);
            o.write('"');
            for (int i = 0; i < 48; i++) o.write(chunk);
            o.write("\"\n".getBytes(StandardCharsets.US_ASCII));
        }
        ProcessBuilder pb = densify("tokenize", "--tokenizer", tokenizer.toString(), "--input", huge.toString());
        pb.command().add(1, "-Xmx16m");
        Process p = pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = text(p.getErrorStream()).replace(INCUBATOR_WARNING, "").strip();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(Main.EXIT_FAILURE, p.exitValue(), err);
        assertTrue(err.startsWith("densify: error: out of memory (Java heap space); the JVM's maximum heap is "), err);
        assertEquals(1, err.lines().count(), err);
    }

    // ---- weights -----------------------------------------------------------------------------

    @Test
    void aNonFiniteWeightIsRefusedOnLoadNamingTheTensorAndTheFile() throws IOException {
        Path broken = dir.resolve("rm-nan");
        try (Backend backend = Backends.create("cpu");
             Gpt2Model m = Gpt2Model.create(backend, TinyFixtures.config(32), Heads.CLASSIFIER)) {
            m.initialize(3);
            long at = m.layout().entries().stream().filter(e -> e.name().equals("h.1.mlp.c_fc.weight")).findFirst().orElseThrow().offset();
            backend.write(m.parameters(), at + 7, new float[] {Float.NaN});
            m.save(broken, ModelKind.SEQUENCE_CLASSIFIER);
        }
        Checkpoints.copyTokenizer(tokenizer, broken);
        for (String json : new String[] {"--json", "--html=" + dir.resolve("x.html")}) {
            MainTest.Run r = MainTest.run("score", "--reward-model", broken.toString(), "--prompt", "The film", "--completion", " was good", json);
            assertEquals(Main.EXIT_FAILURE, r.status(), r.out());
            assertEquals("", r.out(), "no reward is printed");
            assertTrue(r.err().contains("h.1.mlp.c_fc.weight") && r.err().contains(broken.resolve("model.safetensors").toString())
                    && r.err().contains("NaN at element 7"), r.err());
        }
        MainTest.Run dump = MainTest.run("dump", "--model", broken.toString(), "--ids", "1,2,3", "--out", dir.resolve("d.safetensors").toString());
        assertEquals(Main.EXIT_FAILURE, dump.status(), dump.out());
        assertTrue(dump.err().contains("h.1.mlp.c_fc.weight"), dump.err());
    }

    @Test
    void aNonFiniteRewardOrCreditIsAnErrorNotANumber() {
        ScoreCommand.requireFinite(1.5f, new float[] {0.5f, 1f});
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> ScoreCommand.requireFinite(bad, new float[] {0f}));
            assertTrue(e.getMessage().contains("reward of " + bad), e.getMessage());
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> ScoreCommand.requireFinite(1f, new float[] {bad}));
        }
    }

    // ---- messages and exit codes ---------------------------------------------------------------

    @Test
    void inputPathErrorsNameThePathAndTheReason() {
        MainTest.Run folder = MainTest.run("tokenize", "--tokenizer", tokenizer.toString(), "--input", dir.toString());
        assertEquals(Main.EXIT_FAILURE, folder.status());
        assertEquals("densify: error: " + dir + ": is a folder, expected a file", folder.err().strip());
        Path missing = dir.resolve("no-such.txt");
        MainTest.Run absent = MainTest.run("tokenize", "--tokenizer", tokenizer.toString(), "--input", missing.toString());
        assertEquals("densify: error: " + missing + ": not found", absent.err().strip());
        MainTest.Run model = MainTest.run("generate", "--model", missing.toString(), "--prompt", "The");
        assertTrue(model.err().contains(missing + ": not found"), model.err());
    }

    @Test
    void anInputLongerThanTheContextIsAUsageErrorInEveryCommand() {
        String longText = " The film was wonderful.".repeat(20);
        MainTest.Run generate = MainTest.run("generate", "--model", lm.toString(), "--prompt", "The film", "--max-new-tokens", "100");
        MainTest.Run score = MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "The film", "--completion", longText);
        MainTest.Run ppo = MainTest.run("ppo", "--policy", lm.toString(), "--reward-model", rm.toString(), "--out", dir.resolve("ppo-long").toString(),
                "--gen-max", "40", "--gen-min", "8");
        for (MainTest.Run r : List.of(generate, score, ppo)) {
            assertEquals(Main.EXIT_USAGE, r.status(), r.err());
            assertTrue(r.err().contains("n_positions 32"), r.err());
        }
    }

    @Test
    void seedsAreIntegersFromZeroInEveryCommand() {
        String[][] commands = {
                {"generate", "--model", lm.toString(), "--prompt", "The"},
                {"ppo", "--policy", lm.toString(), "--reward-model", rm.toString(), "--out", dir.resolve("s").toString()},
                {"demo", "--work", dir.resolve("demo").toString()},
                {"pretrain", "--tokenizer", tokenizer.toString(), "--out", dir.resolve("p").toString()},
                {"train-rm", "--init", lm.toString(), "--out", dir.resolve("r").toString()}};
        for (String[] c : commands) {
            List<String> args = new ArrayList<>(List.of(c));
            args.addAll(List.of("--seed", "-1"));
            MainTest.Run r = MainTest.run(args.toArray(String[]::new));
            assertEquals(Main.EXIT_USAGE, r.status(), c[0] + ": " + r.err());
            assertTrue(r.err().contains("--seed must be an integer >= 0, got -1"), c[0] + ": " + r.err());
        }
    }

    @Test
    void anExperimentConfigThatIsNotUtf8IsRefusedWithItsLine() throws IOException {
        Path config = dir.resolve("study.json");
        Files.write(config, "{\"name\": \"t\",\n \"methods\": [\"abc\u00ff\"]}\n".getBytes(StandardCharsets.ISO_8859_1));
        MainTest.Run r = MainTest.run("experiment", "--config", config.toString(), "--out", dir.resolve("study").toString());
        assertEquals(Main.EXIT_FAILURE, r.status(), r.err());
        assertEquals("densify: error: " + config + ": line 2: not valid UTF-8", r.err().strip());
    }

    @Test
    void invalidUtf8IsReadAsReplacementWithOneWarningNamingFileAndLine() throws IOException {
        Path bad = dir.resolve("bad.txt");
        byte[] text = "\"ok\"\n\"bad \u00ff here\"\n\"bad \u00fe again\"\n".getBytes(StandardCharsets.ISO_8859_1);
        Files.write(bad, text);
        MainTest.Run r = MainTest.run("tokenize", "--tokenizer", tokenizer.toString(), "--input", bad.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals(3, r.out().lines().count());
        assertEquals("densify: warning: " + bad + " line 2: not valid UTF-8; the bad bytes are read as U+FFFD (later lines are not reported)",
                r.err().strip());
    }
}
