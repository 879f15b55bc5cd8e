package org.densify.rlhf.cli;

import org.densify.core.Backend;
import org.densify.loaders.data.ImdbDataset;
import org.densify.rlhf.run.ProgressBar;
import org.densify.rlhf.reward.RewardData;
import org.densify.rlhf.reward.RewardModelTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code densify train-rm}: a reward model (sequence classifier) trained from a language model of any family. */
@Command(name = "train-rm", mixinStandardHelpOptions = true, defaultValueProvider = TrainRmCommand.Defaults.class,
        description = {
                "Trains a reward model: a sequence classifier (GPT2ForSequenceClassification, LlamaForSequenceClassification, ...) on the trunk of the language model in --init "
                        + "with a fresh score head, or, when --init is already a classifier, that classifier trained further (its head kept).",
                "Reviews (IMDb: labels 0 negative, 1 positive) train the classifier with the softmax cross-entropy of its logits at each review's "
                        + "last token; JSON Lines of preference pairs {\"prompt\", \"chosen\", \"rejected\"} train a scalar reward with the Bradley-Terry "
                        + "loss -log sigmoid(r(prompt+chosen) - r(prompt+rejected)). The format is told from the first record.",
                "Each text is cut to its first --max-tokens tokens: the BEGINNING of a review is kept, the rest dropped.",
                "AdamW (decay on matrices only), linear warm-up then linear decay; a hash split holds out --eval-fraction of the data, scored "
                        + "after every epoch (accuracy; for pairs the fraction whose chosen text gets the higher reward).",
                "Writes OUT as a Hugging Face classifier folder (config.json, model.safetensors, the tokenizer of --init), with train_rm.json "
                        + "(settings and metrics) and train_rm.jsonl (one record per step), all at once when training ends."})
final class TrainRmCommand implements Callable<Integer> {
    /** The options' defaults: {@link RewardModelTrainer.Settings#defaults()}. */
    static final class Defaults extends SettingsDefaults {
        @Override
        Map<String, ?> values() {
            return RewardModelTrainer.Settings.defaults().asOptions();
        }
    }


    @Option(names = "--init", required = true, paramLabel = "DIR",
            description = "Model folder to start from (a language model of any family such as one from 'densify pretrain', or a classifier), with its tokenizer files.")
    Path init;

    @Option(names = "--data", defaultValue = ImdbDataset.BUNDLED_SAMPLE, paramLabel = "FILE|DIR|sample",
            description = "IMDb reviews (a JSON / JSONL file of {\"t\",\"s\"} or {\"text\",\"label\"}, gzipped or not; an aclImdb folder; or "
                    + "'sample' for the bundled sample), or a JSONL file of {\"prompt\",\"chosen\",\"rejected\"} preference pairs "
                    + "(default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder; must not exist or be empty unless --force.")
    Path out;

    @Option(names = "--max-tokens", paramLabel = "N",
            description = "Keep each text's first N tokens (and at most the model's n_positions) (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--epochs", paramLabel = "N", description = "Passes over the training data (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch", paramLabel = "N",
            description = "Reviews (or pairs) per optimiser step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--warmup", paramLabel = "N",
            description = "Linear warm-up steps, then a linear decay towards 0 at the end (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--eval-fraction", paramLabel = "F",
            description = "Fraction held out by the hash split and scored after each epoch; 0 = none (default: ${DEFAULT-VALUE}).")
    double evalFraction;

    @Option(names = "--labels", paramLabel = "2|1",
            description = "Classifier labels for a new head: 2 (negative, positive; default for reviews) or 1 (a scalar reward; default for pairs).")
    Integer labels;

    @Option(names = "--openings", paramLabel = "N",
            description = "Reviews only: also train on one opening of each training review, its first 8..N tokens (drawn per review), "
                    + "labelled as the review, so that the reward model scores short texts by what they say; 0 = none (default: ${DEFAULT-VALUE}).")
    int openings;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the new head and of the batch order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--log", paramLabel = "FILE", description = "Write the per-step JSONL log here (outside OUT; it grows as training runs) instead of OUT/train_rm.jsonl.")
    Path log;

    @Mixin
    OptimizerOptions optimizer;

    @Mixin
    ForceOption force;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Main.requireSeed(seed);
        RewardModelTrainer.Settings settings = new RewardModelTrainer.Settings(maxTokens, epochs, batch, optimizer.lr, warmup, optimizer.weightDecay,
                optimizer.gradClip,
                evalFraction, seed, labels, log, force.force, openings);
        List<String> problems = settings.problems();
        if (!problems.isEmpty()) throw new Main.UsageException(problems.getFirst());
        ForceOption.check(() -> RewardModelTrainer.checkOutputs(out, settings));
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        RewardData rewardData = RewardData.load(data);
        try (Backend backend = device.create()) {
            RewardModelTrainer.Result r = RewardModelTrainer.train(backend, settings, init, rewardData, out, err, ProgressBar.stderrIsTerminal());
            String metric = rewardData instanceof RewardData.Preference ? "preference accuracy" : "accuracy";
            if (Double.isNaN(r.accuracy())) {
                o.printf(Locale.ROOT, "done: %d steps in %s; train loss %.4f (no held-out set)%n", r.steps(), ProgressBar.duration(r.seconds()), r.trainLoss());
            } else {
                o.printf(Locale.ROOT, "done: %d steps in %s; held-out %s %.2f%% (%,d %s), loss %.4f%n", r.steps(), ProgressBar.duration(r.seconds()),
                        metric, 100 * r.accuracy(), r.heldOutExamples(), rewardData instanceof RewardData.Preference ? "pairs" : "reviews", r.loss());
            }
            o.printf("wrote %s%n", out);
            o.flush();
        }
        return 0;
    }
}
