package org.densify.benchmarks.gpu;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/** The command lines of the GPU benchmark mains, parsed without running a benchmark. */
class BenchmarkOptionsTest {

    static TrainStepBenchmark.Options train(String... args) {
        return TrainStepBenchmark.parse(args).getCommand();
    }

    static PpoStepBenchmark.Options ppo(String... args) {
        return PpoStepBenchmark.parse(args).getCommand();
    }

    /** Args must give a usage error of one line that names the option. */
    static void rejected(Function<String[], CommandLine> parse, String option, String... args) {
        ParameterException e = assertThrows(ParameterException.class, () -> parse.apply(args), String.join(" ", args));
        assertTrue(e.getMessage().contains(option), "'" + e.getMessage() + "' does not name " + option);
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    static String usage(CommandLine cli) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        cli.usage(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void trainDefaults() {
        TrainStepBenchmark.Options o = train();
        assertEquals("cuda", o.common.device);
        assertFalse(o.common.tf32);
        assertEquals("gpt2", o.model);
        assertEquals(8, o.batch);
        assertEquals(1024, o.seq);
        assertEquals(3, o.warmup);
        assertEquals(10, o.steps);
        assertEquals("train", o.work);
        assertEquals(16, o.rewardBatch);
        assertArrayEquals(new int[]{24, 512}, o.rewardSeqs);
        assertEquals(20, o.rewardReps);
        assertEquals(1234, o.seed);
        assertNull(o.json);
    }

    @Test
    void trainEveryOption() {
        TrainStepBenchmark.Options o = train("--device", "cpu", "--tf32", "--model", "tiny", "--batch", "2", "--seq", "64",
                "--warmup", "0", "--steps", "3", "--work", "all", "--reward-batch", "4", "--reward-seqs", "24, 128",
                "--reward-reps", "5", "--seed", "7", "--json", "out/train.json");
        assertEquals("cpu", o.common.device);
        assertTrue(o.common.tf32);
        assertEquals("tiny", o.model);
        assertEquals(2, o.batch);
        assertEquals(64, o.seq);
        assertEquals(0, o.warmup);
        assertEquals(3, o.steps);
        assertEquals("all", o.work);
        assertEquals(4, o.rewardBatch);
        assertArrayEquals(new int[]{24, 128}, o.rewardSeqs, "the option replaces the default list");
        assertEquals(5, o.rewardReps);
        assertEquals(7, o.seed);
        assertEquals(Path.of("out/train.json"), o.json);
    }

    @Test
    void trainRejectsBadValuesNamingTheOption() {
        rejected(TrainStepBenchmark::parse, "--batch", "--batch", "0");
        rejected(TrainStepBenchmark::parse, "--batch", "--batch", "eight");
        rejected(TrainStepBenchmark::parse, "--seq", "--seq", "1025");
        rejected(TrainStepBenchmark::parse, "--seq", "--seq", "1");
        rejected(TrainStepBenchmark::parse, "--warmup", "--warmup", "-1");
        rejected(TrainStepBenchmark::parse, "--model", "--model", "gpt3");
        rejected(TrainStepBenchmark::parse, "--work", "--work", "everything");
        rejected(TrainStepBenchmark::parse, "--reward-seqs", "--reward-seqs", "24,2048");
        rejected(TrainStepBenchmark::parse, "--reward-seqs", "--reward-seqs", "24,0");
        rejected(TrainStepBenchmark::parse, "--steps", "--steps");
        rejected(TrainStepBenchmark::parse, "--bogus", "--bogus", "1");
    }

    @Test
    void ppoDefaults() {
        PpoStepBenchmark.Options o = ppo();
        assertEquals("cuda", o.common.device);
        assertFalse(o.common.tf32);
        assertArrayEquals(new int[]{12, 768, 12, 50257, 1024}, new int[]{o.layers, o.d, o.heads, o.vocab, o.positions});
        assertArrayEquals(new int[]{16, 2, 8, 8, 16, 4, 1}, new int[]{o.batch, o.promptMin, o.promptMax, o.genMin, o.genMax, o.epochs, o.miniBatch});
        assertEquals("abc", o.credit);
        assertEquals(0.8, o.beta);
        assertEquals(1, o.warmup);
        assertEquals(3, o.steps);
        assertEquals(1234, o.seed);
        assertNull(o.json);
    }

    @Test
    void ppoEveryOption() {
        PpoStepBenchmark.Options o = ppo("--device", "cpu", "--tf32", "--layers", "2", "--d", "64", "--heads", "2", "--vocab", "512",
                "--positions", "64", "--batch", "8", "--prompt-min", "3", "--prompt-max", "5", "--gen-min", "4", "--gen-max", "6",
                "--epochs", "2", "--minibatch", "4", "--credit", "prefix-diff", "--beta", "0.5", "--warmup", "0", "--steps", "2",
                "--seed", "9", "--json", "ppo.json");
        assertEquals("cpu", o.common.device);
        assertTrue(o.common.tf32);
        assertArrayEquals(new int[]{2, 64, 2, 512, 64}, new int[]{o.layers, o.d, o.heads, o.vocab, o.positions});
        assertArrayEquals(new int[]{8, 3, 5, 4, 6, 2, 4}, new int[]{o.batch, o.promptMin, o.promptMax, o.genMin, o.genMax, o.epochs, o.miniBatch});
        assertEquals("prefix-diff", o.credit);
        assertEquals(0.5, o.beta);
        assertEquals(0, o.warmup);
        assertEquals(2, o.steps);
        assertEquals(9, o.seed);
        assertEquals(Path.of("ppo.json"), o.json);
    }

    @Test
    void ppoRejectsBadValuesNamingTheOption() {
        rejected(PpoStepBenchmark::parse, "--credit", "--credit", "dense");
        rejected(PpoStepBenchmark::parse, "--heads", "--d", "100", "--heads", "12");
        rejected(PpoStepBenchmark::parse, "--minibatch", "--batch", "16", "--minibatch", "3");
        rejected(PpoStepBenchmark::parse, "--positions", "--positions", "20");
        rejected(PpoStepBenchmark::parse, "--prompt-max", "--prompt-min", "9");
        rejected(PpoStepBenchmark::parse, "--layers", "--layers", "0");
        rejected(PpoStepBenchmark::parse, "--beta", "--beta", "high");
        rejected(PpoStepBenchmark::parse, "--warmup", "--warmup", "-2");
    }

    @Test
    void helpIsGeneratedWithDescriptionsAndDefaults() {
        CommandLine train = TrainStepBenchmark.parse("--help", "--batch", "0");
        assertTrue(train.isUsageHelpRequested(), "--help wins over the values it leaves unchecked");
        String text = usage(train);
        assertTrue(text.contains("Usage: TrainStepBenchmark"), text);
        assertTrue(text.contains("--reward-seqs") && text.contains("(default: 24,512)"), text);

        CommandLine ppo = PpoStepBenchmark.parse("-h");
        assertTrue(ppo.isUsageHelpRequested());
        text = usage(ppo);
        assertTrue(text.contains("Usage: PpoStepBenchmark"), text);
        assertTrue(text.contains("abc-d2") && text.contains("(default: 50257)"), text);
    }
}
