package org.densify.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * What capturing the last attention row costs in the reward pass (Attention Based Credit's input):
 * a GPT-2 124M reward model (classifier head, 2 labels) scores {@link #sequences} sequences of
 * {@link #length} tokens without the LM head, once without capture and once with {@code
 * Capture.LAST_ROW}, the two interleaved in every invocation (their order alternating) so that the
 * machine's drift hits both alike. Each pair gives a ratio with / without; at the end of the fork
 * the mean ratio, its 95 % confidence interval (1.96 standard errors over the pairs) and the count
 * are printed as a {@code CAPTURE} line and, with {@code -Dcapture.out=FILE}, written there as JSON
 * (one object per fork, appended). JMH's own score is the time of one pair.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:MaxDirectMemorySize=8g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 10, time = 10)
public class CaptureCostBenchmark {
    @Param("2")
    public int threads;

    @Param("16")
    public int sequences;

    @Param("64")
    public int length;

    private Backend backend;
    private Gpt2Model model;
    private Batch batch;
    private boolean recording;
    private long pairs;
    private double[] ratios = new double[1024];
    private int count;

    @Setup
    public void setUp() {
        System.setProperty("densify.threads", Integer.toString(threads));
        backend = Backends.create("cpu");
        Gpt2Config config = Gpt2Config.builder().vocabSize(50257).nPositions(1024).nEmbd(768).nLayer(12).nHead(12)
                .kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(2).build();
        model = Gpt2Model.create(backend, config, Heads.CLASSIFIER);
        model.initialize(1);
        SplittableRandom r = new SplittableRandom(3);
        int[][] tokens = new int[sequences][];
        for (int s = 0; s < sequences; s++) tokens[s] = r.ints(length, 0, 50257).toArray();
        batch = Batch.of(tokens);
    }

    @Setup(Level.Iteration)
    public void startIteration(IterationParams iteration) {
        recording = iteration.getType() == IterationType.MEASUREMENT;
    }

    private float scorePass(ForwardOptions.Capture capture) {
        Outputs out = model.forward(batch, new ForwardOptions(ForwardOptions.Logits.NONE, capture, false));
        float score = out.scores()[0][0];
        if (capture == ForwardOptions.Capture.LAST_ROW) score += out.lastRowAttention()[0][0];
        return score;
    }

    @Benchmark
    public float pair() {
        boolean captureFirst = (pairs++ & 1) == 1;
        long t0 = System.nanoTime();
        float a = scorePass(captureFirst ? ForwardOptions.Capture.LAST_ROW : ForwardOptions.Capture.NONE);
        long t1 = System.nanoTime();
        float b = scorePass(captureFirst ? ForwardOptions.Capture.NONE : ForwardOptions.Capture.LAST_ROW);
        long t2 = System.nanoTime();
        if (recording) {
            long with = captureFirst ? t1 - t0 : t2 - t1, without = captureFirst ? t2 - t1 : t1 - t0;
            if (count == ratios.length) ratios = Arrays.copyOf(ratios, count * 2);
            ratios[count++] = (double) with / without;
        }
        return a + b;
    }

    /** The mean of the first {@code n} values and the half-width of its 95 % interval, 1.96 standard errors. */
    static double[] meanAndHalfWidth(double[] values, int n) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += values[i];
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) var += (values[i] - mean) * (values[i] - mean);
        return new double[] {mean, 1.96 * Math.sqrt(var / (n - 1) / n)};
    }

    @TearDown
    public void tearDown() throws IOException {
        model.close();
        backend.close();
        if (count < 2) {
            System.out.printf(Locale.ROOT, "%nCAPTURE: only %d measured pair(s), too few for an interval; measure longer%n", count);
            return;
        }
        double[] stats = meanAndHalfWidth(ratios, count);
        double mean = stats[0], halfWidth = stats[1];
        System.out.printf(Locale.ROOT, "%nCAPTURE with/without = %.5f +- %.5f (95%% CI over %d interleaved pairs): capture costs %+.3f %% +- %.3f %% of the reward pass%n",
                mean, halfWidth, count, (mean - 1) * 100, halfWidth * 100);
        String out = System.getProperty("capture.out");
        if (out != null) {
            String line = String.format(Locale.ROOT, "{\"ratio\": %.6f, \"ci95\": %.6f, \"pairs\": %d, \"sequences\": %d, \"length\": %d, \"threads\": %d}%n",
                    mean, halfWidth, count, sequences, length, threads);
            Path file = Path.of(out);
            Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), "capture", ".tmp");
            String previous = Files.exists(file) ? Files.readString(file) : "";
            Files.writeString(tmp, previous + line);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
