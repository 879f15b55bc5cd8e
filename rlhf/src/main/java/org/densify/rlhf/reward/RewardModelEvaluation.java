package org.densify.rlhf.reward;

import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.loaders.data.Review;
import org.densify.rlhf.credit.RewardModel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What a reward model can tell apart, and what it rewards besides sentiment. PPO shows the reward
 * model texts of its own lengths (a 2-8 token review opening plus 8-16 new tokens), not the full
 * reviews it was trained on, and a reward model that scores short text higher than long text hands
 * the policy a way to raise its reward by length alone. So the evaluation reports three things on
 * held-out reviews:
 *
 * <ul>
 *   <li>accuracy on the reviews themselves (cut to the model's context);</li>
 *   <li>accuracy on openings of PPO's lengths (the first {@code k} tokens, {@code k} drawn uniformly
 *       from {@code [openingMin, openingMax]});</li>
 *   <li>the mean score of random windows of each length in {@code windowLengths}, taken from the
 *       same reviews for every length (reviews at least as long as the longest window), so that a
 *       difference between lengths is the length's doing, not a different set of reviews.</li>
 * </ul>
 *
 * <p>Accuracy counts a review as classified correctly when the scalar reward ({@link
 * RewardModel#scalar}) is positive for a positive review and negative for a negative one; it needs a
 * two-label classifier.
 */
public final class RewardModelEvaluation {

    /**
     * @param openingMin    shortest opening, in tokens (PPO: shortest prompt plus shortest completion)
     * @param openingMax    longest opening, inclusive
     * @param windowLengths window lengths for the length curve, ascending
     * @param maxReviews    at most this many held-out reviews are read (the first ones in file order); 0 = all
     * @param batch         sequences per forward pass
     * @param seed          seed of the opening lengths and window starts
     */
    public record Settings(int openingMin, int openingMax, int[] windowLengths, int maxReviews, int batch, long seed) {
        public Settings {
            if (openingMin < 1 || openingMax < openingMin) {
                throw new IllegalArgumentException("opening lengths must satisfy 1 <= min <= max, got " + openingMin + "-" + openingMax);
            }
            if (windowLengths.length == 0) throw new IllegalArgumentException("at least one window length is needed");
            for (int i = 0; i < windowLengths.length; i++) {
                if (windowLengths[i] < 1 || (i > 0 && windowLengths[i] <= windowLengths[i - 1])) {
                    throw new IllegalArgumentException("window lengths must be positive and ascending, got " + Arrays.toString(windowLengths));
                }
            }
            if (maxReviews < 0) throw new IllegalArgumentException("max reviews must be >= 0, got " + maxReviews);
            if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
            windowLengths = windowLengths.clone();
        }

        /** PPO's openings of the paper's IMDb setting (prompts of 2-7 tokens, completions of 8-15), windows from 8 to 512 tokens. */
        public static Settings defaults() {
            return new Settings(10, 22, new int[] {8, 16, 32, 64, 128, 256, 512}, 0, 16, 0);
        }
    }

    /** Accuracy over {@code count} texts; mean scalar reward of the positive and the negative ones. */
    public record Accuracy(int count, double accuracy, double meanPositive, double meanNegative) {}

    /** The mean score of windows of one length over the same reviews, with its standard error. */
    public record LengthPoint(int length, int count, double meanScore, double standardError, double meanPositive, double meanNegative,
                              double accuracy) {}

    /**
     * @param reviews     accuracy on the held-out reviews, cut to {@code contextTokens}
     * @param openings    accuracy on openings of PPO's lengths
     * @param byLength    the length curve, one point per window length that fits the context
     * @param shortVsLong mean over reviews of score(shortest window) - score(longest window), paired per
     *                    review: how much more the model pays for short text
     * @param shortVsLongSe its standard error
     */
    public record Report(int contextTokens, Accuracy reviews, Accuracy openings, List<LengthPoint> byLength, double shortVsLong,
                         double shortVsLongSe) {}

    private final RewardModel rewardModel;
    private final Settings settings;

    public RewardModelEvaluation(RewardModel rewardModel, Settings settings) {
        if (rewardModel.model().numLabels() != 2) {
            throw new IllegalArgumentException("the evaluation needs a two-label classifier (negative, positive); this one has "
                    + rewardModel.model().numLabels() + " label(s)");
        }
        this.rewardModel = rewardModel;
        this.settings = settings;
    }

    /** Evaluates on {@code heldOut} reviews (which the reward model must not have been trained on). */
    public Report evaluate(List<Review> heldOut) {
        int context = rewardModel.model().maxSequenceLength();
        List<Review> reviews = settings.maxReviews() > 0 && heldOut.size() > settings.maxReviews()
                ? heldOut.subList(0, settings.maxReviews()) : heldOut;
        List<int[]> ids = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Review r : reviews) {
            int[] t = rewardModel.tokenizer().encode(r.text());
            if (t.length == 0) continue;
            ids.add(t);
            labels.add(r.label());
        }
        if (ids.isEmpty()) throw new IllegalArgumentException("no held-out review to evaluate on");
        int[] label = labels.stream().mapToInt(Integer::intValue).toArray();
        SplittableRandom random = new SplittableRandom(settings.seed());

        int[][] full = new int[ids.size()][];
        int[][] openings = new int[ids.size()][];
        for (int i = 0; i < full.length; i++) {
            int[] t = ids.get(i);
            full[i] = Arrays.copyOf(t, Math.min(t.length, context));
            int k = settings.openingMin() + random.nextInt(settings.openingMax() - settings.openingMin() + 1);
            openings[i] = Arrays.copyOf(t, Math.min(t.length, Math.min(k, context)));
        }
        Accuracy reviewAccuracy = accuracy(scores(full), label);
        Accuracy openingAccuracy = accuracy(scores(openings), label);

        int[] lengths = Arrays.stream(settings.windowLengths()).filter(l -> l <= context).toArray();
        if (lengths.length == 0) throw new IllegalArgumentException("no window length fits the model's context of " + context + " tokens");
        int longest = lengths[lengths.length - 1];
        List<Integer> longEnough = new ArrayList<>();
        for (int i = 0; i < ids.size(); i++) if (ids.get(i).length >= longest) longEnough.add(i);
        List<LengthPoint> curve = new ArrayList<>();
        double[][] perLength = new double[lengths.length][];
        for (int li = 0; li < lengths.length; li++) {
            int L = lengths[li];
            int[][] windows = new int[longEnough.size()][];
            int[] windowLabels = new int[longEnough.size()];
            for (int w = 0; w < windows.length; w++) {
                int[] t = ids.get(longEnough.get(w));
                int start = random.nextInt(t.length - L + 1);
                windows[w] = Arrays.copyOfRange(t, start, start + L);
                windowLabels[w] = label[longEnough.get(w)];
            }
            double[] s = scores(windows);
            perLength[li] = s;
            Accuracy a = accuracy(s, windowLabels);
            curve.add(new LengthPoint(L, s.length, mean(s), standardError(s), a.meanPositive(), a.meanNegative(), a.accuracy()));
        }
        double[] diff = new double[longEnough.size()];
        for (int w = 0; w < diff.length; w++) diff[w] = perLength[0][w] - perLength[lengths.length - 1][w];
        return new Report(context, reviewAccuracy, openingAccuracy, List.copyOf(curve), mean(diff), standardError(diff));
    }

    /** The scalar reward of each sequence, read at its last token. */
    double[] scores(int[][] sequences) {
        ForwardOptions inference = ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE);
        double[] out = new double[sequences.length];
        for (int from = 0; from < sequences.length; from += settings.batch()) {
            int[][] chunk = Arrays.copyOfRange(sequences, from, Math.min(sequences.length, from + settings.batch()));
            float[][] logits = rewardModel.model().forward(Batch.of(chunk), inference).scores();
            for (int i = 0; i < chunk.length; i++) {
                float r = RewardModel.scalar(logits[i]);
                if (!Float.isFinite(r)) throw new IllegalStateException("the reward model's score is " + r + ": its outputs are not finite");
                out[from + i] = r;
            }
        }
        return out;
    }

    static Accuracy accuracy(double[] scores, int[] labels) {
        int correct = 0, positives = 0, negatives = 0;
        double sumPositive = 0, sumNegative = 0;
        for (int i = 0; i < scores.length; i++) {
            boolean positive = labels[i] == 1;
            if ((scores[i] > 0) == positive) correct++;
            if (positive) {
                positives++;
                sumPositive += scores[i];
            } else {
                negatives++;
                sumNegative += scores[i];
            }
        }
        return new Accuracy(scores.length, scores.length == 0 ? Double.NaN : (double) correct / scores.length,
                positives == 0 ? Double.NaN : sumPositive / positives, negatives == 0 ? Double.NaN : sumNegative / negatives);
    }

    static double mean(double[] x) {
        if (x.length == 0) return Double.NaN;
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    /** Sample standard deviation over sqrt(n); NaN below two values. */
    static double standardError(double[] x) {
        if (x.length < 2) return Double.NaN;
        double m = mean(x), ss = 0;
        for (double v : x) ss += (v - m) * (v - m);
        return Math.sqrt(ss / (x.length - 1) / x.length);
    }
}
