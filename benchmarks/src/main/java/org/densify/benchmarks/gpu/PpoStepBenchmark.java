package org.densify.benchmarks.gpu;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.model.Generator;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.credit.RewardScorer;
import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.ppo.PpoRun;
import org.densify.rlhf.ppo.PpoStep;
import org.densify.rlhf.ppo.PpoTrainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * One RLHF PPO step at the paper's IMDb setting, timed phase by phase on a device; the same work as
 * {@code benchmarks/compare/torch_ppo_peer.py} (PyTorch eager), whose JSON field names it repeats so
 * the two can be paired ({@code benchmarks/gpu/report.py}, {@code benchmarks/compare/compare_ppo.sh}).
 *
 * <p>Three random-init GPT-2s of one shape (default 124M): the policy with a value head, its frozen
 * reference (the same trunk weights) and a 2-label classifier as the reward model. Per step, the
 * runs' own {@link PpoStep}: B prompts of random token ids (2..8 tokens), each sampled to its own
 * 8..16 new tokens (pure sampling, KV cache, no stop token) = {@code generation}; the policy's
 * rollout forward (log-probs, values) and the reference's forward = {@code reference}; the reward
 * model's pass (with the last attention row for ABC) and the credit = {@code reward}; rewards minus
 * the KL penalty, GAE, then {@code epochs} passes of minibatch forward, backward and Adam =
 * {@code update}. (The peer counts the rewards and GAE in {@code reference}: microseconds.)
 *
 * <p>Prompts are token ids, so no text is involved: the reward model shares the policy's tokenizer
 * object (a byte-level vocabulary built in memory) and reads the ids as they are. Every phase ends
 * with {@link Backend#synchronize()} before the clock is read. Prints one line per step, a summary,
 * and last the medians as one JSON line ({@code --json FILE} also writes them with every step).
 */
public final class PpoStepBenchmark {

    /** The options; {@link #parse} fills and checks them. */
    @Command(name = "PpoStepBenchmark", sortOptions = false, sortSynopsis = false, usageHelpAutoWidth = true,
            description = "One RLHF PPO step (policy with value head, reference, reward model), timed phase by phase on a device.",
            footer = "peer: benchmarks/compare/torch_ppo_peer.py with the same shape; --capture there is --credit abc here.")
    static final class Options {
        /** The PPO settings' defaults, the runs' own. */
        private static final PpoConfig DEFAULTS = PpoConfig.trlDefaults();

        @Mixin
        BenchmarkCli.Common common;

        @Option(names = "--layers", defaultValue = "12", paramLabel = "L", description = "Transformer blocks of each model (default: ${DEFAULT-VALUE}).")
        int layers;

        @Option(names = "--d", defaultValue = "768", paramLabel = "D", description = "Embedding width; a multiple of --heads (default: ${DEFAULT-VALUE}).")
        int d;

        @Option(names = "--heads", defaultValue = "12", paramLabel = "H", description = "Attention heads (default: ${DEFAULT-VALUE}).")
        int heads;

        @Option(names = "--vocab", defaultValue = "50257", paramLabel = "V", description = "Vocabulary size (default: ${DEFAULT-VALUE}).")
        int vocab;

        @Option(names = "--positions", defaultValue = "1024", paramLabel = "P",
                description = "n_positions; at least --prompt-max + --gen-max (default: ${DEFAULT-VALUE}).")
        int positions;

        @Option(names = "--batch", paramLabel = "B", description = "Prompts per PPO step (default: ${DEFAULT-VALUE}).")
        int batch = DEFAULTS.batchSize();

        @Option(names = "--prompt-min", paramLabel = "N", description = "Fewest prompt tokens (default: ${DEFAULT-VALUE}).")
        int promptMin = DEFAULTS.promptMin();

        @Option(names = "--prompt-max", paramLabel = "N", description = "Most prompt tokens (default: ${DEFAULT-VALUE}).")
        int promptMax = DEFAULTS.promptMax();

        @Option(names = "--gen-min", paramLabel = "N", description = "Fewest new tokens per response (default: ${DEFAULT-VALUE}).")
        int genMin = DEFAULTS.genMin();

        @Option(names = "--gen-max", paramLabel = "N", description = "Most new tokens per response (default: ${DEFAULT-VALUE}).")
        int genMax = DEFAULTS.genMax();

        @Option(names = "--epochs", paramLabel = "E", description = "PPO epochs per step (default: ${DEFAULT-VALUE}).")
        int epochs = DEFAULTS.ppoEpochs();

        @Option(names = "--minibatch", paramLabel = "M", description = "Sequences per minibatch; divides --batch (default: ${DEFAULT-VALUE}).")
        int miniBatch = DEFAULTS.miniBatchSize();

        @Option(names = "--credit", defaultValue = Credit.DEFAULT_METHOD, paramLabel = "METHOD", completionCandidates = CreditNames.class,
                description = "Credit method: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
        String credit;

        @Option(names = "--beta", defaultValue = "" + Credit.DEFAULT_BETA, paramLabel = "X", description = "The credit's beta (default: ${DEFAULT-VALUE}).")
        double beta;

        @Option(names = "--warmup", defaultValue = "1", paramLabel = "N", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--steps", defaultValue = "3", paramLabel = "N", description = "Timed steps (default: ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--seed", defaultValue = "1234", paramLabel = "S", description = "Seed of the weights, prompts and sampling (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--json", paramLabel = "FILE", description = "Also write the medians and every step to FILE as JSON.")
        Path json;
    }

    /** The credit methods, for the usage text. */
    static final class CreditNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Credit.names().iterator();
        }
    }

    private static final List<String> PHASES = List.of("generation", "reward", "reference", "update");

    public static void main(String[] args) throws IOException {
        Options o = BenchmarkCli.parseOrExit(PpoStepBenchmark::parse, args);
        Backend backend = o.common.open("PpoStepBenchmark");
        double loadBefore = loadAverage();
        System.out.printf(Locale.ROOT, "densify: backend %s, tf32 %s, PPO step: %d layers, d %d, %d heads, vocab %d; batch %d, "
                        + "prompts %d..%d, new tokens %d..%d, %d epochs x minibatch %d, credit %s; java %s, load %.2f%n",
                backend.name(), o.common.tf32 ? "on" : "off", o.layers, o.d, o.heads, o.vocab, o.batch, o.promptMin, o.promptMax, o.genMin,
                o.genMax, o.epochs, o.miniBatch, o.credit, System.getProperty("java.version"), loadBefore);
        List<double[]> runs;
        try {
            runs = run(backend, o);
        } finally {
            backend.close();
        }
        double[] medians = new double[PHASES.size() + 1];
        for (int p = 0; p < medians.length; p++) {
            double[] x = new double[runs.size()];
            for (int i = 0; i < x.length; i++) x[i] = runs.get(i)[p];
            medians[p] = TrainStepBenchmark.median(x);
        }
        System.out.printf(Locale.ROOT, "ppo step: median %.3f s over %d steps (generation %.3f, reward %.3f, reference %.3f, update %.3f)%n",
                medians[4], o.steps, medians[0], medians[1], medians[2], medians[3]);
        String result = String.format(Locale.ROOT, "{\"what\": \"densify PPO step (PpoTrainer, TRL 0.7.4 math)\", \"impl\": \"densify\", "
                        + "\"setting\": {\"device\": \"%s\", \"backend\": \"%s\", \"tf32\": %b, \"java\": \"%s\", \"cpus\": %d, "
                        + "\"loadavg_1min_before\": %.2f, \"loadavg_1min_after\": %.2f}, "
                        + "\"model\": {\"layers\": %d, \"d\": %d, \"heads\": %d, \"vocab\": %d, \"positions\": %d, \"value_head\": true, "
                        + "\"reward_model\": \"same shape, 2 labels\", \"weights\": \"random float32\"}, "
                        + "\"ppo\": {\"batch\": %d, \"prompt_tokens\": \"%d..%d\", \"new_tokens\": \"%d..%d\", \"epochs\": %d, "
                        + "\"mini_batch\": %d, \"credit\": \"%s\", \"lr\": %s}, \"steps\": %d, \"warmup\": %d, \"seconds_per_step\": %s",
                o.common.device, backend.name(), o.common.tf32, System.getProperty("java.version"), Runtime.getRuntime().availableProcessors(),
                loadBefore, loadAverage(), o.layers, o.d, o.heads, o.vocab, o.positions, o.batch, o.promptMin, o.promptMax, o.genMin,
                o.genMax, o.epochs, o.miniBatch, o.credit, PpoConfig.trlDefaults().learningRate(), o.steps, o.warmup, phases(medians));
        if (o.json != null) {
            List<String> all = new ArrayList<>();
            for (double[] r : runs) all.add(phases(r));
            Files.writeString(o.json, result + ", \"runs\": [" + String.join(", ", all) + "]}\n");
        }
        System.out.println(result + "}");
    }

    /** Warm-up and timed steps; per timed step the seconds of each phase of {@link #PHASES}, then the total. */
    static List<double[]> run(Backend backend, Options o) {
        Gpt2Config.Builder shape = Gpt2Config.builder().vocabSize(o.vocab).nPositions(o.positions).nEmbd(o.d).nLayer(o.layers).nHead(o.heads);
        Gpt2Config lm = shape.kind(ModelKind.LM).build();
        Gpt2Config classifier = shape.kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(2).build();
        PpoConfig config = PpoConfig.trlDefaults().toBuilder().batch(o.batch, o.miniBatch).epochs(o.epochs)
                .promptLengths(o.promptMin, o.promptMax).genLengths(o.genMin, o.genMax).build();
        Credit credit = Credit.parse(o.credit, o.beta);
        Gpt2Tokenizer tokenizer = byteTokenizer();
        List<double[]> timed = new ArrayList<>();
        try (Gpt2Model policy = Gpt2Model.create(backend, lm, Heads.VALUE);
             Gpt2Model reference = Gpt2Model.create(backend, lm, Heads.NONE);
             RewardModel rm = new RewardModel(Gpt2Model.create(backend, classifier, Heads.CLASSIFIER), tokenizer);
             PpoTrainer trainer = new PpoTrainer(policy, reference, config)) {
            // the value head comes last in the layout, so the same seed gives the reference the policy's trunk
            policy.initialize(o.seed);
            reference.initialize(o.seed);
            rm.model().initialize(o.seed + 1);
            RewardScorer scorer = new RewardScorer(rm, tokenizer);
            if (!scorer.sharesTokenizer()) throw new IllegalStateException("the reward model must read the policy's ids as they are");
            PpoStep ppoStep = new PpoStep(backend, trainer, new Generator(policy), Sampler.multinomial(), scorer, credit);
            for (int i = 0; i < o.warmup + o.steps; i++) {
                SplittableRandom random = new SplittableRandom(o.seed * 1_000_003L + i);
                int[][] queries = new int[o.batch][];
                int[] maxNew = new int[o.batch];
                int promptTokens = 0, newTokens = 0;
                for (int s = 0; s < o.batch; s++) {
                    queries[s] = random.ints(o.promptMin + random.nextInt(o.promptMax - o.promptMin + 1), 0, o.vocab).toArray();
                    maxNew[s] = o.genMin + random.nextInt(o.genMax - o.genMin + 1);
                    promptTokens += queries[s].length;
                    newTokens += maxNew[s];
                }
                int[][] order = new int[o.epochs][];
                for (int e = 0; e < o.epochs; e++) order[e] = PpoRun.permutation(o.batch, random);
                long sampleSeed = random.nextLong();

                // no stop token and no minimum: every completion runs to its drawn length, as the peer's
                PpoStep.Outcome taken = ppoStep.take(new PpoStep.Draws(queries, new int[o.batch], maxNew, -1, sampleSeed, order));
                PpoTrainer.StepResult result = taken.update();
                double rewardSum = 0;
                for (float reward : taken.rewards()) rewardSum += reward;

                double[] seconds = {taken.generationNanos() / 1e9, taken.rewardNanos() / 1e9, taken.referenceNanos() / 1e9,
                        taken.updateNanos() / 1e9, 0};
                seconds[4] = seconds[0] + seconds[1] + seconds[2] + seconds[3];
                if (!Double.isFinite(result.meanKl()) || !Double.isFinite(rewardSum)) {
                    throw new IllegalStateException("step " + i + ": KL " + result.meanKl() + ", reward sum " + rewardSum + ": a NaN reached the step");
                }
                StringBuilder line = new StringBuilder(i < o.warmup ? "warmup " : "step ").append(i).append(": ");
                for (int p = 0; p < PHASES.size(); p++) line.append(String.format(Locale.ROOT, "%s %.3f s, ", PHASES.get(p), seconds[p]));
                System.out.printf(Locale.ROOT, "%stotal %.3f s  (%d prompt + %d new tokens, mean reward %.4f, mean_kl %.4f, kl_coef %.6f, "
                                + "mean loss %.4f)%n", line, seconds[4], promptTokens, newTokens, rewardSum / o.batch, result.meanKl(),
                        result.klCoefAfter(), result.mean(PpoTrainer.MinibatchStats::loss));
                if (i >= o.warmup) timed.add(seconds);
            }
        }
        return timed;
    }

    /**
     * A byte-level BPE vocabulary of the 256 byte tokens and {@code <|endoftext|>}, no merges: what
     * the scorer's constructor needs. Never used to encode here, since both models read the same ids.
     */
    static Gpt2Tokenizer byteTokenizer() {
        StringBuilder vocab = new StringBuilder("{");
        int id = 0, moved = 0;
        // GPT-2's order: the printable bytes as themselves, then the others moved to U+0100.. in byte order
        for (int b = 0; b < 256; b++) if (printable(b)) vocab.append(String.format(Locale.ROOT, "\"\\u%04x\": %d, ", b, id++));
        for (int b = 0; b < 256; b++) if (!printable(b)) vocab.append(String.format(Locale.ROOT, "\"\\u%04x\": %d, ", 256 + moved++, id++));
        vocab.append("\"").append(Gpt2Tokenizer.END_OF_TEXT).append("\": ").append(id).append('}');
        try {
            return Gpt2Tokenizer.read(new ByteArrayInputStream(vocab.toString().getBytes(StandardCharsets.UTF_8)), "byte vocab.json",
                    new ByteArrayInputStream(new byte[0]), "no merges.txt");
        } catch (IOException e) {
            throw new IllegalStateException("the in-memory byte vocabulary is malformed: " + e.getMessage(), e);
        }
    }

    private static boolean printable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    private static String phases(double[] seconds) {
        StringBuilder b = new StringBuilder("{");
        for (int p = 0; p < PHASES.size(); p++) b.append(String.format(Locale.ROOT, "\"%s\": %.6f, ", PHASES.get(p), seconds[p]));
        return b.append(String.format(Locale.ROOT, "\"total\": %.6f}", seconds[PHASES.size()])).toString();
    }

    /** The 1-minute load average from /proc (Linux), or -1: the CPU comparison is only as good as the machine is quiet. */
    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
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
        check.positive("--layers", o.layers);
        check.positive("--d", o.d);
        check.positive("--heads", o.heads);
        check.positive("--vocab", o.vocab);
        check.positive("--positions", o.positions);
        check.positive("--batch", o.batch);
        check.positive("--prompt-min", o.promptMin);
        check.positive("--prompt-max", o.promptMax);
        check.positive("--gen-min", o.genMin);
        check.positive("--gen-max", o.genMax);
        check.positive("--epochs", o.epochs);
        check.positive("--minibatch", o.miniBatch);
        check.positive("--steps", o.steps);
        check.require(o.warmup >= 0, "--warmup must be >= 0, got " + o.warmup);
        check.require(Credit.names().contains(o.credit), "--credit: expected one of " + String.join(", ", Credit.names()) + ", got " + o.credit);
        check.require(o.d % o.heads == 0, "--d " + o.d + " is not a multiple of --heads " + o.heads);
        check.require(o.promptMax >= o.promptMin && o.genMax >= o.genMin, "need --prompt-min <= --prompt-max and --gen-min <= --gen-max");
        check.require(o.promptMax + o.genMax <= o.positions,
                "--prompt-max + --gen-max (" + (o.promptMax + o.genMax) + ") exceed --positions " + o.positions);
        check.require(o.batch % o.miniBatch == 0, "--minibatch " + o.miniBatch + " must divide --batch " + o.batch);
        return cli;
    }
}
