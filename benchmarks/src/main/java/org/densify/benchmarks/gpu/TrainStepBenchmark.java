package org.densify.benchmarks.gpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * One GPT-2 training step, timed end to end on a device, the same work as
 * {@code benchmarks/gpu/torch_train_step.py} (PyTorch eager):
 * <ul>
 *   <li>{@code train}: random-init GPT-2 (124M: 12 layers, d 768, 12 heads, vocab 50257), a batch of
 *       B sequences of T random tokens (the same batch every step, so the loss must fall), forward with
 *       every logit, mean next-token cross-entropy, backward, gradient clipping at 1, AdamW
 *       (lr 1e-4, betas 0.9/0.95, weight decay 0.1 on matrices). Warm-up steps, then timed steps;
 *       tokens/s = B T / median step time;</li>
 *   <li>{@code reward}: the attention-capture overhead of a reward-model pass: the same body with a
 *       one-label classifier head, forward with no logits, scores read back, with {@code Capture.NONE}
 *       against {@code Capture.LAST_ROW} (the last attention row read back too), interleaved,
 *       at B = 16 and each T of {@code --reward-seqs}.</li>
 * </ul>
 * Every timed interval ends with the results on the host (the loss, the gradient norm, the scores),
 * so asynchronous devices are measured in full. Prints one line per figure and optionally writes
 * them as JSON ({@code --json FILE}); {@code --help} lists the options.
 */
public final class TrainStepBenchmark {

    /** The options; {@link #parse} fills and checks them. */
    @Command(name = "TrainStepBenchmark", sortOptions = false, sortSynopsis = false, usageHelpAutoWidth = true,
            description = "One GPT-2 training step (and optionally the reward pass's capture overhead), timed on a device.")
    static final class Options {
        @Mixin
        BenchmarkCli.Common common;

        @Option(names = "--model", defaultValue = "gpt2", paramLabel = "gpt2|tiny",
                description = "gpt2: 124M (12 layers, d 768, 12 heads, vocab 50257); tiny: 2 layers, d 128, 4 heads, vocab 2048, "
                        + "a CPU smoke run (default: ${DEFAULT-VALUE}).")
        String model;

        @Option(names = "--batch", defaultValue = "8", paramLabel = "B", description = "Training sequences per step (default: ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--seq", defaultValue = "1024", paramLabel = "T", description = "Training tokens per sequence, 2..1024 (default: ${DEFAULT-VALUE}).")
        int seq;

        @Option(names = "--warmup", defaultValue = "3", paramLabel = "N", description = "Untimed training steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--steps", defaultValue = "10", paramLabel = "N", description = "Timed training steps (default: ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--work", defaultValue = "train", paramLabel = "train|reward|all", description = "What to time (default: ${DEFAULT-VALUE}).")
        String work;

        @Option(names = "--reward-batch", defaultValue = "16", paramLabel = "B", description = "Reward-pass sequences (default: ${DEFAULT-VALUE}).")
        int rewardBatch;

        @Option(names = "--reward-seqs", defaultValue = "24,512", split = "\\s*,\\s*", splitSynopsisLabel = ",", paramLabel = "T",
                description = "Reward-pass lengths, each 1..1024 (default: ${DEFAULT-VALUE}).")
        int[] rewardSeqs;

        @Option(names = "--reward-reps", defaultValue = "20", paramLabel = "N", description = "Timed reward passes per length (default: ${DEFAULT-VALUE}).")
        int rewardReps;

        @Option(names = "--seed", defaultValue = "1234", paramLabel = "S", description = "Seed of the weights and tokens (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the figures to FILE as JSON.")
        Path json;
    }

    public static void main(String[] args) throws IOException {
        Options o = BenchmarkCli.parseOrExit(TrainStepBenchmark::parse, args);
        Backend backend = o.common.open("TrainStepBenchmark");
        Gpt2Config lm = config(o.model, 0);
        StringBuilder json = new StringBuilder();
        json.append(String.format(Locale.ROOT, "{\"impl\": \"densify\", \"device\": \"%s\", \"backend\": \"%s\", \"tf32\": %b, "
                        + "\"model\": \"%s\", \"java\": \"%s\"", o.common.device, backend.name(), o.common.tf32, o.model,
                System.getProperty("java.version")));
        System.out.printf(Locale.ROOT, "densify: backend %s, tf32 %s, model %s (%d layers, d %d, %d heads, vocab %d), java %s%n",
                backend.name(), o.common.tf32 ? "on" : "off", o.model, lm.nLayer(), lm.nEmbd(), lm.nHead(), lm.vocabSize(),
                System.getProperty("java.version"));
        try {
            if (!o.work.equals("reward")) json.append(", \"train\": ").append(train(backend, lm, o));
            if (!o.work.equals("train")) json.append(", \"reward\": ").append(reward(backend, config(o.model, 1), o));
        } finally {
            backend.close();
        }
        json.append("}\n");
        if (o.json != null) Files.writeString(o.json, json);
    }

    static Gpt2Config config(String model, int labels) {
        Gpt2Config.Builder b = switch (model) {
            case "gpt2" -> Gpt2Config.builder().vocabSize(50257).nPositions(1024).nEmbd(768).nLayer(12).nHead(12);
            case "tiny" -> Gpt2Config.builder().vocabSize(2048).nPositions(1024).nEmbd(128).nLayer(2).nHead(4);
            default -> throw new IllegalArgumentException("--model: expected gpt2 or tiny, got " + model);
        };
        if (labels > 0) return b.kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(labels).build();
        return b.kind(ModelKind.LM).build();
    }

    static int[][] randomSequences(SplittableRandom r, int count, int length, int vocab) {
        int[][] seqs = new int[count][];
        for (int s = 0; s < count; s++) seqs[s] = r.ints(length, 0, vocab).toArray();
        return seqs;
    }

    /** Warm-up and timed training steps; returns the JSON object of the figures. */
    static String train(Backend backend, Gpt2Config config, Options o) {
        Batch batch = Batch.of(randomSequences(new SplittableRandom(o.seed + 1), o.batch, o.seq, config.vocabSize()));
        try (Gpt2Model model = Gpt2Model.create(backend, config, Heads.NONE)) {
            model.initialize(o.seed);
            try (AdamW adamW = new AdamW(model, 0.9f, 0.95f, 1e-8f, 0.1f)) {
                double[] losses = new double[o.warmup + o.steps];
                double[] seconds = new double[o.steps];
                for (int i = 0; i < o.warmup + o.steps; i++) {
                    long t0 = System.nanoTime();
                    model.zeroGradients();
                    Outputs out = model.forward(batch, ForwardOptions.forTraining());
                    losses[i] = model.languageModelLoss(out);
                    model.backward(out, null, null);
                    adamW.step(1e-4f, 1f);
                    backend.synchronize();
                    double s = (System.nanoTime() - t0) / 1e9;
                    if (i >= o.warmup) seconds[i - o.warmup] = s;
                    System.out.printf(Locale.ROOT, "  %s step %d: %.4f s, loss %.4f%n", i < o.warmup ? "warm-up" : "timed", i + 1, s, losses[i]);
                }
                double median = median(seconds);
                double tokensPerS = (double) o.batch * o.seq / median;
                System.out.printf(Locale.ROOT, "train step: B %d x T %d, median %.4f s over %d steps, %.0f tokens/s, loss %.4f -> %.4f%n",
                        o.batch, o.seq, median, o.steps, tokensPerS, losses[0], losses[losses.length - 1]);
                return String.format(Locale.ROOT, "{\"batch\": %d, \"seq\": %d, \"warmup\": %d, \"steps\": %d, \"median_s\": %.6f, "
                                + "\"tokens_per_s\": %.1f, \"loss_first\": %.6f, \"loss_last\": %.6f, \"step_s\": %s}",
                        o.batch, o.seq, o.warmup, o.steps, median, tokensPerS, losses[0], losses[losses.length - 1], list(seconds));
            }
        }
    }

    /** Reward passes with and without the last-row capture, interleaved; returns a JSON array. */
    static String reward(Backend backend, Gpt2Config config, Options o) {
        List<String> rows = new ArrayList<>();
        try (Gpt2Model model = Gpt2Model.create(backend, config, Heads.CLASSIFIER)) {
            model.initialize(o.seed);
            ForwardOptions none = new ForwardOptions(ForwardOptions.Logits.NONE, ForwardOptions.Capture.NONE, false);
            ForwardOptions lastRow = none.withCapture(ForwardOptions.Capture.LAST_ROW);
            for (int T : o.rewardSeqs) {
                Batch batch = Batch.of(randomSequences(new SplittableRandom(o.seed + T), o.rewardBatch, T, config.vocabSize()));
                int warm = Math.max(5, o.rewardReps / 2); // JIT and device warm-up: the T = 24 pass is host-bound
                double[] plain = new double[o.rewardReps], captured = new double[o.rewardReps];
                float checksum = 0;
                for (int i = -warm; i < o.rewardReps; i++) {
                    long t0 = System.nanoTime();
                    checksum += model.forward(batch, none).scores()[0][0];
                    long t1 = System.nanoTime();
                    Outputs out = model.forward(batch, lastRow);
                    checksum += out.scores()[0][0] + out.lastRowAttention()[0][0];
                    long t2 = System.nanoTime();
                    if (i >= 0) {
                        plain[i] = (t1 - t0) / 1e9;
                        captured[i] = (t2 - t1) / 1e9;
                    }
                }
                double a = median(plain), b = median(captured), overhead = (b - a) / a * 100;
                System.out.printf(Locale.ROOT, "reward pass: B %d x T %d, capture none %.3f ms, last row %.3f ms, overhead %+.2f%% (checksum %.3f)%n",
                        o.rewardBatch, T, a * 1e3, b * 1e3, overhead, checksum);
                rows.add(String.format(Locale.ROOT, "{\"batch\": %d, \"seq\": %d, \"reps\": %d, \"none_s\": %.7f, \"last_row_s\": %.7f, "
                        + "\"overhead_pct\": %.3f}", o.rewardBatch, T, o.rewardReps, a, b, overhead));
            }
        }
        return "[" + String.join(", ", rows) + "]";
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static String list(double[] x) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < x.length; i++) b.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.6f", x[i]));
        return b.append(']').toString();
    }

    /**
     * Parses and checks args; a usage error is a {@link ParameterException} naming the option. With
     * {@code --help} the values are left unchecked: the caller prints the usage.
     */
    static CommandLine parse(String... args) {
        Options o = new Options();
        CommandLine cli = new CommandLine(o);
        cli.parseArgs(args);
        if (o.common.help) return cli;
        BenchmarkCli.Usage check = new BenchmarkCli.Usage(cli);
        check.require(List.of("gpt2", "tiny").contains(o.model), "--model: expected gpt2 or tiny, got " + o.model);
        check.require(List.of("train", "reward", "all").contains(o.work), "--work: expected train, reward or all, got " + o.work);
        check.positive("--batch", o.batch);
        check.require(o.seq >= 2 && o.seq <= 1024, "--seq must be within [2, 1024] (n_positions 1024; the loss needs two tokens), got " + o.seq);
        check.require(o.warmup >= 0, "--warmup must be >= 0, got " + o.warmup);
        check.positive("--steps", o.steps);
        check.positive("--reward-batch", o.rewardBatch);
        for (int t : o.rewardSeqs) {
            check.positive("--reward-seqs", t);
            check.require(t <= 1024, "--reward-seqs: " + t + " exceeds n_positions 1024");
        }
        check.positive("--reward-reps", o.rewardReps);
        return cli;
    }
}
