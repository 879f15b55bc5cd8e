package org.densify.rlhf.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.core.Backend;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.reward.RewardModelEvaluation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code densify eval-rm}: a reward model's accuracy on held-out reviews and on PPO's lengths, and its score against length. */
@Command(name = "eval-rm", mixinStandardHelpOptions = true,
        description = {
                "Evaluates a two-label reward model on the held-out side of the hash split of --data (the reviews 'densify train-rm' and "
                        + "'densify pretrain' hold out with the same fraction): accuracy on the reviews cut to the model's context, accuracy on "
                        + "review openings of the lengths PPO shows it (--openings), and the mean score of random windows of each of --windows "
                        + "lengths, taken from the same reviews for every length, with short minus long paired per review.",
                "A reward model that pays more for short text lets PPO raise its reward by ending completions early."})
final class EvalRmCommand implements Callable<Integer> {

    @Option(names = "--reward-model", required = true, paramLabel = "DIR", description = "A two-label classifier folder (from 'densify train-rm').")
    Path rewardModel;

    @Option(names = "--data", defaultValue = ImdbDataset.BUNDLED_SAMPLE, paramLabel = "FILE|DIR|sample",
            description = "IMDb reviews, as for train-rm (default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--eval-fraction", defaultValue = "0.1", paramLabel = "F",
            description = "The held-out fraction of the hash split; use the one the model was trained with (default: ${DEFAULT-VALUE}).")
    double evalFraction;

    @Option(names = "--openings", defaultValue = "10-22", paramLabel = "MIN-MAX",
            description = "Opening lengths in tokens, both ends included; the default is the paper's PPO setting: prompts of 2-7 tokens "
                    + "and completions of 8-15 (TRL's LengthSampler excludes the upper ends 8 and 16) (default: ${DEFAULT-VALUE}).")
    String openings;

    @Option(names = "--windows", defaultValue = "8,16,32,64,128,256,512", split = ",", paramLabel = "L",
            description = "Window lengths of the length curve, ascending; those beyond the model's context are left out (default: ${DEFAULT-VALUE}).")
    int[] windows;

    @Option(names = "--max-reviews", defaultValue = "0", paramLabel = "N", description = "Read at most N held-out reviews; 0 = all (default: ${DEFAULT-VALUE}).")
    int maxReviews;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of the opening lengths and window starts (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print the report as one JSON object instead of tables.")
    boolean json;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        RewardModelEvaluation.Settings settings;
        try {
            String[] range = openings.split("-", -1);
            if (range.length != 2) throw new IllegalArgumentException("--openings: expected MIN-MAX, got '" + openings + "'");
            int min, max;
            try {
                min = Integer.parseInt(range[0].strip());
                max = Integer.parseInt(range[1].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--openings: expected MIN-MAX with whole numbers, got '" + openings + "'");
            }
            if (!(evalFraction > 0 && evalFraction <= 1)) throw new IllegalArgumentException("--eval-fraction must be in (0, 1], got " + evalFraction);
            settings = new RewardModelEvaluation.Settings(min, max, windows, maxReviews, 16, seed);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        List<Review> heldOut = ImdbDataset.split(ImdbDataset.loadOrSample(data), evalFraction).test();
        PrintWriter out = spec.commandLine().getOut();
        RewardModelEvaluation.Report report;
        try (Backend backend = device.create(); RewardModel rm = RewardModel.load(backend, rewardModel)) {
            RewardModelEvaluation evaluation;
            try {
                evaluation = new RewardModelEvaluation(rm, settings);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(rewardModel + ": " + e.getMessage(), e);
            }
            report = evaluation.evaluate(heldOut);
        }
        if (json) {
            out.println(toJson(report));
        } else {
            out.print(toText(report, settings));
        }
        out.flush();
        return 0;
    }

    static String toText(RewardModelEvaluation.Report r, RewardModelEvaluation.Settings s) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "held-out reviews (cut to %d tokens): %,d, accuracy %.1f %% (mean score %+.3f positive, %+.3f negative)%n",
                r.contextTokens(), r.reviews().count(), 100 * r.reviews().accuracy(), r.reviews().meanPositive(), r.reviews().meanNegative()));
        b.append(String.format(Locale.ROOT, "openings of %d-%d tokens: %,d, accuracy %.1f %% (mean score %+.3f positive, %+.3f negative)%n",
                s.openingMin(), s.openingMax(), r.openings().count(), 100 * r.openings().accuracy(), r.openings().meanPositive(),
                r.openings().meanNegative()));
        int n = r.byLength().isEmpty() ? 0 : r.byLength().getFirst().count();
        b.append(String.format(Locale.ROOT, "score against length: random windows from the same %,d reviews at every length%n", n));
        b.append(String.format(Locale.ROOT, "%8s %10s %8s %10s %10s %9s%n", "tokens", "mean", "+-2se", "positive", "negative", "accuracy"));
        for (RewardModelEvaluation.LengthPoint p : r.byLength()) {
            b.append(String.format(Locale.ROOT, "%8d %+10.3f %8.3f %+10.3f %+10.3f %8.1f%%%n", p.length(), p.meanScore(), 2 * p.standardError(),
                    p.meanPositive(), p.meanNegative(), 100 * p.accuracy()));
        }
        if (!r.byLength().isEmpty()) {
            b.append(String.format(Locale.ROOT, "shortest minus longest window, paired per review: %+.3f +- %.3f (2 se)%n", r.shortVsLong(),
                    2 * r.shortVsLongSe()));
        }
        return b.toString();
    }

    static String toJson(RewardModelEvaluation.Report r) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("context_tokens", r.contextTokens());
        accuracy(root.putObject("reviews"), r.reviews());
        accuracy(root.putObject("openings"), r.openings());
        ArrayNode curve = root.putArray("by_length");
        for (RewardModelEvaluation.LengthPoint p : r.byLength()) {
            ObjectNode o = curve.addObject();
            o.put("tokens", p.length());
            o.put("count", p.count());
            finite(o, "mean_score", p.meanScore());
            finite(o, "standard_error", p.standardError());
            finite(o, "mean_positive", p.meanPositive());
            finite(o, "mean_negative", p.meanNegative());
            finite(o, "accuracy", p.accuracy());
        }
        finite(root, "short_minus_long", r.shortVsLong());
        finite(root, "short_minus_long_se", r.shortVsLongSe());
        return root.toString();
    }

    private static void accuracy(ObjectNode o, RewardModelEvaluation.Accuracy a) {
        o.put("count", a.count());
        finite(o, "accuracy", a.accuracy());
        finite(o, "mean_positive", a.meanPositive());
        finite(o, "mean_negative", a.meanNegative());
    }

    /** JSON has no NaN: an undefined figure (no reviews of a label, fewer than two windows) is null. */
    private static void finite(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) o.put(key, v);
        else o.putNull(key);
    }
}
