package org.densify.rlhf.ppo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.model.Generator;
import org.densify.core.model.Heads;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.core.model.Sampler;
import org.densify.loaders.data.Review;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.credit.RewardScorer;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.run.ProgressBar;
import org.densify.rlhf.run.TrainingLog;
import org.densify.rlhf.run.OutputFolder;
import org.densify.rlhf.run.OutputPaths;
import org.densify.rlhf.run.RunLock;
import org.densify.rlhf.run.TrainingChecks;

/**
 * A PPO run: each step draws prompts, samples completions from the policy, scores them with the
 * reward model, spreads each reward over the tokens with a {@link Credit} method, and runs one {@link
 * PpoTrainer} step. Writes {@code log.jsonl} (one record per step), atomic checkpoints, and resumes
 * exactly: a step's randomness depends only on the seed and the step number.
 *
 * <p>Output folder: {@code log.jsonl}, {@code run.json} (the settings; a resume must match them),
 * {@code checkpoints/step-N/} (policy with value head, tokenizer, Adam moments, state), and
 * {@code checkpoints/latest}. The folder is locked for the run ({@link RunLock}); a fresh run refuses
 * a folder holding any of these unless told to replace them.
 */
public final class PpoRun {
    /**
     * The state format of PPO checkpoints. 2: sampling with the authors' minimum length and length
     * ranges, and the reward model shown the end-of-text; a run of format 1 sampled and scored
     * otherwise, so it is not resumed under the new rules.
     */
    public static final String FORMAT = "densify-ppo/2";
    /** The entries of a run folder that a run writes. */
    static final String LOG = "log.jsonl", SETTINGS = "run.json", CHECKPOINTS = "checkpoints";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param policy       the initial policy folder (the frozen reference is loaded from it too); a value
     *                     head is added fresh (seeded) if it has none
     * @param checkpointEvery write a checkpoint every this many steps (and after the last)
     * @param existing     whether a fresh run may replace the outputs of an earlier one in {@code out} ({@code --force})
     */
    public record Setup(PpoConfig config, Credit credit, int steps, long seed, Path policy, Path rewardModel,
                        List<Review> reviews, String dataName, Path out, boolean resume, int checkpointEvery, OutputPaths.Existing existing) {}

    /** One step's figures, as written to the log. */
    public record StepRecord(int step, double rewardMean, double rewardStd, double kl, double klCoef, double policyLoss,
                             double valueLoss, double clipFraction, double valueClipFraction, double entropy, double approxKl,
                             double responseLength, double tokensPerSecond, double seconds, double generationSeconds,
                             double rewardSeconds, double referenceSeconds, double updateSeconds) {}

    public record Result(List<StepRecord> steps, Path out, double seconds) {}

    private final Setup setup;

    public PpoRun(Setup setup) {
        this.setup = setup;
    }

    /**
     * Refuses a run folder that cannot be used: {@code --resume} needs a folder; a fresh run one
     * without an earlier run's log, settings or checkpoints, unless they may be replaced.
     */
    public static void checkOutputs(Path out, boolean resume, OutputPaths.Existing existing) {
        OutputPaths.checkFolderPath("--out", out);
        if (resume) return;
        if (existing == OutputPaths.Existing.REFUSE && Files.exists(out.resolve(CHECKPOINTS).resolve(Checkpoints.LATEST))) {
            throw new OutputPaths.Refused("--out " + out + ": holds a PPO run already; pass --resume to continue it, --force to replace it, "
                    + "or choose another --out");
        }
        OutputPaths.checkFolderEntries("--out", out, existing, LOG, SETTINGS, CHECKPOINTS);
    }

    /** Runs the steps, holding the run folder's lock throughout. */
    public Result run(Backend backend, PrintWriter progress) throws IOException {
        checkOutputs(setup.out(), setup.resume(), setup.existing());
        try (RunLock _ = RunLock.inside(setup.out())) {
            checkOutputs(setup.out(), setup.resume(), setup.existing());
            Checkpoints checkpoints = new Checkpoints(setup.out().resolve(CHECKPOINTS), FORMAT);
            checkpoints.cleanStale(progress); // under the lock: nothing else is writing here
            if (!setup.resume()) {
                OutputFolder.deleteTree(checkpoints.root()); // only there when replacing (checked above)
                Files.deleteIfExists(setup.out().resolve(LOG));
            }
            return runLocked(backend, progress, checkpoints);
        }
    }

    private Result runLocked(Backend backend, PrintWriter progress, Checkpoints checkpoints) throws IOException {
        PpoConfig c = setup.config();
        ObjectNode settings = settings();
        Path runFile = setup.out().resolve(SETTINGS);
        int start = 0;
        Path policyDir = setup.policy();
        Checkpoints.Saved saved = null;
        if (setup.resume() && checkpoints.exist()) {
            com.fasterxml.jackson.databind.JsonNode before = JSON.readTree(runFile.toFile());
            com.fasterxml.jackson.databind.JsonNode now = JSON.readTree(JSON.writeValueAsBytes(settings)); // same number types as read back
            List<String> changed = new ArrayList<>();
            now.properties().forEach(e -> {
                if (!e.getValue().equals(before.get(e.getKey()))) changed.add(e.getKey() + " was " + before.get(e.getKey()) + ", now " + e.getValue());
            });
            if (!changed.isEmpty()) {
                throw new IllegalArgumentException(runFile + ": the run was started with other settings; resume with the same ones ("
                        + String.join("; ", changed) + ")");
            }
            saved = checkpoints.latest();
            start = saved.step();
            policyDir = saved.dir();
        } else {
            if (checkpoints.exist()) {
                throw new IllegalArgumentException(setup.out() + " already holds a PPO run; pass --resume to continue it or choose another --out");
            }
            org.densify.loaders.io.AtomicFiles.write(runFile, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(settings));
        }

        Tokenizer tokenizer = Tokenizers.open(setup.policy());
        PromptSource prompts = new PromptSource(setup.reviews(), tokenizer, c.promptMin(), c.promptMax());
        List<StepRecord> records = new ArrayList<>();
        long began = System.nanoTime();
        try (LanguageModel policy = loadPolicy(backend, policyDir);
             LanguageModel reference = loadReference(backend);
             RewardModel rm = RewardModel.load(backend, setup.rewardModel());
             PpoTrainer trainer = new PpoTrainer(policy, reference, c);
             TrainingLog log = start > 0 ? TrainingLog.resume(setup.out().resolve(LOG), start)
                     : TrainingLog.create(setup.out().resolve(LOG))) {
            if (saved != null) {
                String bad = TrainingChecks.firstNonFinite(policy);
                if (bad != null) throw new IOException("checkpoint " + saved.dir() + ": " + bad + ", though checkpoints are written only when finite (a damaged checkpoint)");
                Checkpoints.restoreMoments(saved.dir(), policy, trainer.optimizer(), saved.state().path("adam_steps").asInt());
                trainer.klController().restore(saved.state().path("kl_coef").asDouble());
            }
            Credit credit = setup.credit();
            PpoStep ppoStep = new PpoStep(backend, trainer, new Generator(policy), Sampler.multinomial(), new RewardScorer(rm, tokenizer), credit);
            ProgressBar bar = new ProgressBar(progress, ProgressBar.stderrIsTerminal(), setup.steps(), 10);
            for (int step = start + 1; step <= setup.steps(); step++) {
                SplittableRandom random = new SplittableRandom(mix(setup.seed(), step));
                int[][] queries = prompts.draw(c.batchSize(), random);
                int[] maxNew = new int[c.batchSize()];
                for (int i = 0; i < maxNew.length; i++) maxNew[i] = maxNewTokens(c, random);
                int[] minNew = new int[c.batchSize()];
                Arrays.fill(minNew, c.genMin()); // Hugging Face's min_new_tokens = gen_min, as the authors set it
                int[][] order = new int[c.ppoEpochs()][];
                for (int e = 0; e < order.length; e++) order[e] = permutation(c.batchSize(), random);
                long sampleSeed = random.nextLong();

                PpoStep.Outcome taken = ppoStep.take(new PpoStep.Draws(queries, minNew, maxNew, tokenizer.eotId(), sampleSeed, order));
                PpoTrainer.StepResult result = taken.update();
                double rewardSum = 0, rewardSquares = 0;
                for (float reward : taken.rewards()) {
                    rewardSum += reward;
                    rewardSquares += (double) reward * reward;
                }
                int generated = taken.generatedTokens();

                int B = c.batchSize();
                double mean = rewardSum / B;
                double std = B > 1 ? Math.sqrt(Math.max(0, (rewardSquares - B * mean * mean) / (B - 1))) : 0;
                double seconds = taken.nanos() / 1e9;
                StepRecord record = new StepRecord(step, mean, std, result.meanKl(), result.klCoef(), result.mean(PpoTrainer.MinibatchStats::pgLoss),
                        result.mean(PpoTrainer.MinibatchStats::vfLoss), result.mean(PpoTrainer.MinibatchStats::pgClipFraction),
                        result.mean(PpoTrainer.MinibatchStats::vfClipFraction), result.mean(PpoTrainer.MinibatchStats::entropy),
                        result.mean(PpoTrainer.MinibatchStats::approxKl), (double) generated / B, generated / seconds, seconds,
                        taken.generationNanos() / 1e9, taken.rewardNanos() / 1e9, taken.referenceNanos() / 1e9, taken.updateNanos() / 1e9);
                if (!Double.isFinite(mean) || !Double.isFinite(record.kl())) {
                    throw new IllegalStateException("step " + step + ": reward mean " + mean + ", KL " + record.kl() + " — a NaN or infinity reached the run");
                }
                records.add(record);
                log.append(toJson(record, credit.name()));
                if (step % setup.checkpointEvery() == 0 || step == setup.steps()) {
                    ObjectNode state = JSON.createObjectNode();
                    state.put("format", FORMAT);
                    state.put("step", step);
                    state.put("adam_steps", trainer.optimizer().stepCount());
                    state.put("kl_coef", trainer.klController().value());
                    checkpoints.save(step, policy, trainer.optimizer(), setup.policy(), state);
                }
                double elapsed = (System.nanoTime() - began) / 1e9;
                bar.show(step, String.format(Locale.ROOT, "%s reward %.3f ± %.3f  KL %.3f  %.2fs/step", credit.name(), mean, std, record.kl(), seconds),
                        elapsed / (step - start) * (setup.steps() - step), false);
            }
        }
        return new Result(records, setup.out(), (System.nanoTime() - began) / 1e9);
    }

    /** The frozen reference: the initial policy's language model, without heads. */
    private LanguageModel loadReference(Backend backend) throws IOException {
        return Models.load(backend, setup.policy(), Heads.NONE, 0);
    }

    private LanguageModel loadPolicy(Backend backend, Path dir) throws IOException {
        return Models.load(backend, dir, Heads.VALUE, setup.seed());
    }

    /** The settings a resume must repeat. */
    private ObjectNode settings() {
        ObjectNode o = JSON.valueToTree(setup.config());
        o.put("credit", setup.credit().name());
        o.put("credit_config", setup.credit().toString());
        o.put("seed", setup.seed());
        o.put("policy", setup.policy().toAbsolutePath().normalize().toString());
        o.put("reward_model", setup.rewardModel().toAbsolutePath().normalize().toString());
        o.put("data", setup.dataName());
        return o;
    }

    static ObjectNode toJson(StepRecord r, String credit) {
        ObjectNode o = JSON.createObjectNode();
        o.put("step", r.step());
        o.put("credit", credit);
        o.put("reward_mean", r.rewardMean());
        o.put("reward_std", r.rewardStd());
        o.put("kl", r.kl());
        o.put("kl_coef", r.klCoef());
        o.put("policy_loss", r.policyLoss());
        o.put("value_loss", r.valueLoss());
        o.put("clip_fraction", r.clipFraction());
        o.put("value_clip_fraction", r.valueClipFraction());
        o.put("entropy", r.entropy());
        o.put("approx_kl", r.approxKl());
        o.put("response_length", r.responseLength());
        o.put("tokens_per_s", r.tokensPerSecond());
        o.put("seconds", r.seconds());
        o.put("generation_s", r.generationSeconds());
        o.put("reward_s", r.rewardSeconds());
        o.put("reference_s", r.referenceSeconds());
        o.put("update_s", r.updateSeconds());
        return o;
    }

    /**
     * One completion's maximum of new tokens as the authors draw it, once per query: TRL's {@code
     * LengthSampler(gen_min, gen_max)}, a uniform choice from {@code range(gen_min, gen_max)} (upper end excluded).
     */
    static int maxNewTokens(PpoConfig c, SplittableRandom random) {
        return c.genMin() + random.nextInt(c.genMax() - c.genMin());
    }

    /** A step's own generator: seeds of neighbouring steps share nothing. */
    static long mix(long seed, int step) {
        long z = seed * 0x9E3779B97F4A7C15L + step;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A uniformly random permutation of 0..n-1 (Fisher–Yates): each PPO epoch's minibatch order. */
    public static int[] permutation(int n, SplittableRandom random) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
