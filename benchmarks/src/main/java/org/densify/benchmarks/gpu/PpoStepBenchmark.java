package org.densify.benchmarks.gpu;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Generator;
import org.densify.core.model.Gpt2Model;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.credit.RewardScorer;
import org.densify.rlhf.credit.ScoredCompletion;
import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.ppo.PpoRun;
import org.densify.rlhf.ppo.PpoTrainer;

/**
 * One RLHF PPO step at the paper's IMDb setting, timed phase by phase on a device; the same work as
 * {@code benchmarks/compare/torch_ppo_peer.py} (PyTorch eager), whose JSON field names it repeats so
 * the two can be paired ({@code benchmarks/gpu/report.py}, {@code benchmarks/compare/compare_ppo.sh}).
 *
 * <p>Three random-init GPT-2s of one shape (default 124M): the policy with a value head, its frozen
 * reference (the same trunk weights) and a 2-label classifier as the reward model. Per step, as
 * {@code PpoRun} runs it: B prompts of random token ids (2..8 tokens), each sampled to its own
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

    private record Options(String device, boolean tf32, int layers, int d, int heads, int vocab, int positions, int batch,
                           int promptMin, int promptMax, int genMin, int genMax, int epochs, int miniBatch, String credit,
                           double beta, int warmup, int steps, long seed, Path json) {}

    private static final List<String> PHASES = List.of("generation", "reward", "reference", "update");

    private static final String USAGE = """
            usage: PpoStepBenchmark [--device cuda|cpu|auto] [--tf32] [--layers L] [--d D] [--heads H] [--vocab V]
                                    [--positions P] [--batch B] [--prompt-min N] [--prompt-max N] [--gen-min N]
                                    [--gen-max N] [--epochs E] [--minibatch M] [--credit abc|sparse|uniform|abc-policy|prefix-diff]
                                    [--beta X] [--warmup N] [--steps N] [--seed S] [--json FILE]
              defaults: --device cuda, GPT-2 124M (--layers 12 --d 768 --heads 12 --vocab 50257 --positions 1024),
                        --batch 16 --prompt-min 2 --prompt-max 8 --gen-min 8 --gen-max 16 --epochs 4 --minibatch 1
                        --credit abc --beta 0.8 --warmup 1 --steps 3
              --tf32 sets -Ddensify.cuda.tf32=true before the backend starts (cuBLAS TF32 tensor-op math)
              peer: torch_ppo_peer.py with the same shape; --capture there is --credit abc here""";

    public static void main(String[] args) throws IOException {
        Options o = parse(args);
        if (o.tf32) System.setProperty("densify.cuda.tf32", "true");
        Backend backend;
        try {
            backend = Backends.create(o.device);
        } catch (RuntimeException e) {
            System.err.println("PpoStepBenchmark: device '" + o.device + "' is not available: " + e.getMessage());
            System.exit(2);
            return;
        }
        double loadBefore = loadAverage();
        System.out.printf(Locale.ROOT, "densify: backend %s, tf32 %s, PPO step: %d layers, d %d, %d heads, vocab %d; batch %d, "
                        + "prompts %d..%d, new tokens %d..%d, %d epochs x minibatch %d, credit %s; java %s, load %.2f%n",
                backend.name(), o.tf32 ? "on" : "off", o.layers, o.d, o.heads, o.vocab, o.batch, o.promptMin, o.promptMax, o.genMin,
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
                o.device, backend.name(), o.tf32, System.getProperty("java.version"), Runtime.getRuntime().availableProcessors(),
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
        PpoConfig config = PpoConfig.trlDefaults().withBatch(o.batch, o.miniBatch).withEpochs(o.epochs)
                .withLengths(o.promptMin, o.promptMax, o.genMin, o.genMax);
        Credit credit = Credit.parse(o.credit, o.beta);
        Gpt2Tokenizer tokenizer = byteTokenizer();
        List<double[]> timed = new ArrayList<>();
        try (Gpt2Model policy = Gpt2Model.create(backend, lm, new Gpt2Model.Heads(false, true));
             Gpt2Model reference = Gpt2Model.create(backend, lm, Gpt2Model.Heads.NONE);
             RewardModel rm = new RewardModel(Gpt2Model.create(backend, classifier, new Gpt2Model.Heads(true, false)), tokenizer);
             PpoTrainer trainer = new PpoTrainer(policy, reference, config)) {
            // the value head comes last in the layout, so the same seed gives the reference the policy's trunk
            policy.initialize(o.seed);
            reference.initialize(o.seed);
            rm.model().initialize(o.seed + 1);
            RewardScorer scorer = new RewardScorer(rm, tokenizer);
            if (!scorer.sharesTokenizer()) throw new IllegalStateException("the reward model must read the policy's ids as they are");
            Generator generator = new Generator(policy);
            Sampler sampler = Sampler.multinomial();
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

                backend.synchronize();
                long t0 = System.nanoTime();
                int[][] responses = generator.generate(queries, maxNew, sampler, sampleSeed, -1, null).tokens();
                backend.synchronize();
                long t1 = System.nanoTime();
                PpoTrainer.Rollout rollout = trainer.evaluate(queries, responses, credit.needsPolicyAttention());
                backend.synchronize();
                long t2 = System.nanoTime();
                ScoredCompletion[] scored = scorer.score(queries, responses, credit.needsRewardAttention(), credit.needsPrefixRewards());
                float[][] scores = new float[o.batch][];
                double rewardSum = 0;
                for (int s = 0; s < o.batch; s++) {
                    ScoredCompletion sc = rollout.policyAttention() == null ? scored[s] : scored[s].withPolicyAttention(rollout.policyAttention()[s]);
                    scores[s] = credit.assign(sc);
                    rewardSum += sc.reward();
                }
                backend.synchronize();
                long t3 = System.nanoTime();
                PpoTrainer.StepResult result = trainer.optimize(rollout, scores, order);
                backend.synchronize();
                long t4 = System.nanoTime();

                double[] seconds = {(t1 - t0) / 1e9, (t3 - t2) / 1e9, (t2 - t1) / 1e9, (t4 - t3) / 1e9, 0};
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

    private static Options parse(String[] args) {
        String device = "cuda", credit = "abc";
        boolean tf32 = false;
        int layers = 12, d = 768, heads = 12, vocab = 50257, positions = 1024, batch = 16;
        int promptMin = 2, promptMax = 8, genMin = 8, genMax = 16, epochs = 4, miniBatch = 1, warmup = 1, steps = 3;
        double beta = 0.8;
        long seed = 1234;
        Path json = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--tf32")) {
                tf32 = true;
                continue;
            }
            if (a.equals("--help") || a.equals("-h")) {
                System.out.println(USAGE);
                System.exit(0);
            }
            if (i + 1 >= args.length) usage("option " + a + " needs a value");
            String v = args[++i];
            try {
                switch (a) {
                    case "--device" -> device = v;
                    case "--layers" -> layers = positive(a, v);
                    case "--d" -> d = positive(a, v);
                    case "--heads" -> heads = positive(a, v);
                    case "--vocab" -> vocab = positive(a, v);
                    case "--positions" -> positions = positive(a, v);
                    case "--batch" -> batch = positive(a, v);
                    case "--prompt-min" -> promptMin = positive(a, v);
                    case "--prompt-max" -> promptMax = positive(a, v);
                    case "--gen-min" -> genMin = positive(a, v);
                    case "--gen-max" -> genMax = positive(a, v);
                    case "--epochs" -> epochs = positive(a, v);
                    case "--minibatch" -> miniBatch = positive(a, v);
                    case "--credit" -> credit = v;
                    case "--beta" -> beta = Double.parseDouble(v);
                    case "--warmup" -> warmup = Integer.parseInt(v);
                    case "--steps" -> steps = positive(a, v);
                    case "--seed" -> seed = Long.parseLong(v);
                    case "--json" -> json = Path.of(v);
                    default -> usage("unknown option " + a);
                }
            } catch (NumberFormatException e) {
                usage(a + ": not a number: " + v);
            }
        }
        if (!Credit.NAMES.contains(credit)) usage("--credit: expected one of " + String.join(", ", Credit.NAMES) + ", got " + credit);
        if (warmup < 0) usage("--warmup must be >= 0");
        if (d % heads != 0) usage("--d " + d + " is not a multiple of --heads " + heads);
        if (promptMax < promptMin || genMax < genMin) usage("need --prompt-min <= --prompt-max and --gen-min <= --gen-max");
        if (promptMax + genMax > positions) usage("--prompt-max + --gen-max (" + (promptMax + genMax) + ") exceed --positions " + positions);
        if (batch % miniBatch != 0) usage("--minibatch " + miniBatch + " must divide --batch " + batch);
        return new Options(device, tf32, layers, d, heads, vocab, positions, batch, promptMin, promptMax, genMin, genMax, epochs,
                miniBatch, credit, beta, warmup, steps, seed, json);
    }

    private static int positive(String option, String v) {
        int n = Integer.parseInt(v);
        if (n < 1) usage(option + " must be >= 1, got " + n);
        return n;
    }

    private static void usage(String problem) {
        System.err.println("PpoStepBenchmark: " + problem + "\n" + USAGE);
        System.exit(64);
    }
}
