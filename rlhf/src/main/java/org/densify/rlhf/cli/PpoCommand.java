package org.densify.rlhf.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.loaders.io.InputFiles;
import org.densify.core.model.ModelShape;
import org.densify.rlhf.run.Checkpoints;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.ppo.PpoRun;
import org.densify.rlhf.run.OutputPaths;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code densify ppo}: fine-tunes a policy against a reward model with PPO and a credit-assignment method. */
@Command(name = "ppo", mixinStandardHelpOptions = true, defaultValueProvider = PpoCommand.Defaults.class,
        description = {
                "Fine-tunes a policy (GPT-2 or Llama family) with PPO (TRL 0.7.4's algorithm and defaults) against a reward model, spreading each "
                        + "sequence's reward over its tokens with the chosen credit method.",
                "Each step draws --batch prompts (the first N tokens of training reviews longer than 200 characters, N drawn from "
                        + "range(--prompt-min, --prompt-max), upper end excluded, as TRL's LengthSampler draws), samples at least --gen-min "
                        + "and at most M new tokens for each, M drawn from range(--gen-min, --gen-max) (pure sampling; <|endoftext|> is "
                        + "banned until --gen-min tokens exist, as Hugging Face's min_new_tokens, and then ends a completion), "
                        + "scores prompt + completion with the reward model (one pass, attention captured when the method needs it), "
                        + "and runs --ppo-epochs epochs of minibatch updates with a KL penalty against the frozen initial policy.",
                "Writes DIR/log.jsonl (one record per step), DIR/run.json and DIR/checkpoints/step-N/ (policy with value head; "
                        + "'latest' names the newest). --resume continues exactly. No dropout anywhere (the authors' loop samples with GPT-2's "
                        + "0.1 active; TRL's PPO passes run in eval mode)."})
final class PpoCommand implements Callable<Integer> {
    /** Where every PPO option's default comes from. */
    private static final PpoConfig DEFAULTS = PpoConfig.trlDefaults();

    /** The PPO options' defaults, read from {@link PpoConfig#trlDefaults()} through {@link PpoConfig.Setting}. */
    static final class Defaults extends SettingsDefaults {
        @Override
        Map<String, ?> values() {
            Map<String, Number> m = new LinkedHashMap<>();
            for (PpoConfig.Setting s : PpoConfig.Setting.values()) if (s.option() != null) m.put(s.option().substring(2), s.in(DEFAULTS));
            return m;
        }
    }

    @Option(names = "--policy", required = true, paramLabel = "DIR", description = "Initial policy: a language-model folder (any family) with its tokenizer; also the frozen reference.")
    Path policy;

    @Option(names = "--reward-model", required = true, paramLabel = "DIR", description = "Sequence classifier folder (any family) with its tokenizer (e.g. from 'densify train-rm').")
    Path rewardModel;

    @Mixin
    CreditOptions credit;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run folder: log, settings, checkpoints.")
    Path out;

    @Option(names = "--data", defaultValue = ImdbDataset.BUNDLED_SAMPLE, paramLabel = "FILE|DIR|sample",
            description = "Reviews the prompts come from (training side of the hash split) (default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--steps", defaultValue = "100", paramLabel = "N", description = "PPO steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch", paramLabel = "N", description = "Sequences per PPO step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--minibatch", paramLabel = "N", description = "Sequences per optimiser step (default: ${DEFAULT-VALUE}).")
    int minibatch;

    @Option(names = "--ppo-epochs", paramLabel = "N", description = "Passes over each batch (default: ${DEFAULT-VALUE}).")
    int ppoEpochs;

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--kl-init", paramLabel = "F", description = "Initial KL coefficient (default: ${DEFAULT-VALUE}).")
    double klInit;

    @Option(names = "--kl-target", paramLabel = "F", description = "Target KL of the adaptive controller (default: ${DEFAULT-VALUE}).")
    double klTarget;

    @Option(names = "--kl-horizon", paramLabel = "N", description = "Horizon of the adaptive controller (default: ${DEFAULT-VALUE}).")
    double klHorizon;

    @Option(names = "--fixed-kl", description = "Keep the KL coefficient at --kl-init.")
    boolean fixedKl;

    @Option(names = "--prompt-min", paramLabel = "N", description = "Shortest prompt in tokens (default: ${DEFAULT-VALUE}).")
    int promptMin;

    @Option(names = "--prompt-max", paramLabel = "N", description = "Prompt lengths are drawn below this, excluded (default: ${DEFAULT-VALUE}).")
    int promptMax;

    @Option(names = "--gen-min", paramLabel = "N", description = "Fewest new tokens: end-of-text is banned before (default: ${DEFAULT-VALUE}).")
    int genMin;

    @Option(names = "--gen-max", paramLabel = "N", description = "Each completion's maximum is drawn below this, excluded (default: ${DEFAULT-VALUE}).")
    int genMax;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of prompts, sampling and minibatch order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--checkpoint-every", defaultValue = "10", paramLabel = "N", description = "Checkpoint every N steps and at the end (default: ${DEFAULT-VALUE}).")
    int checkpointEvery;

    @Mixin
    ResumableRunOptions run;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Main.requireSeed(seed);
        Credit method = credit.method();
        PpoConfig config;
        try {
            config = DEFAULTS.toBuilder().batch(batch, minibatch).epochs(ppoEpochs).learningRate(lr)
                    .kl(klInit, fixedKl ? PpoConfig.KlControl.FIXED : PpoConfig.KlControl.ADAPTIVE, klTarget, klHorizon)
                    .promptLengths(promptMin, promptMax).genLengths(genMin, genMax).build();
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        if (steps < 1) throw new Main.UsageException("--steps must be >= 1, got " + steps);
        if (checkpointEvery < 1) throw new Main.UsageException("--checkpoint-every must be >= 1, got " + checkpointEvery);
        OutputPaths.Existing existing = run.existing();
        ForceOption.check(() -> PpoRun.checkOutputs(out, run.resume, existing));
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ModelShape policyConfig = ModelShape.read(InputFiles.requireFolder(policy));
        ModelShape rmConfig = ModelShape.read(InputFiles.requireFolder(rewardModel));
        String lengths = "--prompt-max " + promptMax + " plus --gen-max " + genMax;
        ContextCheck.fits(lengths, promptMax + (long) genMax, "the policy's", policyConfig.maxSequenceLength());
        ContextCheck.fits(lengths, promptMax + (long) genMax, "the reward model's", rmConfig.maxSequenceLength());
        MemoryBudget budget = budget(policyConfig, rmConfig, promptMax + (long) genMax);
        List<Review> reviews = ImdbDataset.split(ImdbDataset.loadOrSample(data), 0.1).train();
        try (Backend backend = device.create()) {
            budget.check(backend);
            PpoRun.Result result = new PpoRun(new PpoRun.Setup(config, method, steps, seed, policy, rewardModel, reviews, data, out, run.resume,
                    checkpointEvery, existing)).run(backend, err);
            if (!result.steps().isEmpty()) {
                PpoRun.StepRecord first = result.steps().getFirst(), last = result.steps().getLast();
                o.printf(Locale.ROOT, "%s: reward %.3f at step %d -> %.3f at step %d, KL %.3f, %.2f s/step; log in %s%n", method.name(),
                        first.rewardMean(), first.step(), last.rewardMean(), last.step(), last.kl(), result.seconds() / result.steps().size(),
                        out.resolve("log.jsonl"));
            } else {
                Checkpoints.Saved latest = new Checkpoints(out.resolve("checkpoints"), PpoRun.FORMAT).latest();
                o.printf(Locale.ROOT, "the run in %s is already finished (step %d of %d); its policy is %s%n", out, latest.step(), steps,
                        latest.dir());
            }
        }
        return 0;
    }

    /**
     * The policy with its value head, gradients and Adam moments, the frozen reference and the reward
     * model; the KV cache and the rollout pass over the whole batch; one training pass per minibatch.
     */
    private MemoryBudget budget(ModelShape policyConfig, ModelShape rmConfig, long length) {
        return MemoryBudget.of("ppo --batch " + batch)
                .add("policy, gradients and Adam moments", 4 * MemoryBudget.parameters(policyConfig, Heads.VALUE))
                .add("reference and reward model", MemoryBudget.parameters(policyConfig, Heads.NONE) + MemoryBudget.parameters(rmConfig, Heads.CLASSIFIER))
                .add("KV cache", MemoryBudget.kvCache(policyConfig, batch, length))
                .add("activations", Math.max(MemoryBudget.activations(policyConfig, (double) batch * length, length, (long) batch * length, MemoryBudget.Pass.INFERENCE),
                        MemoryBudget.activations(policyConfig, (double) minibatch * length, length, (long) minibatch * length, MemoryBudget.Pass.TRAINING)));
    }
}
