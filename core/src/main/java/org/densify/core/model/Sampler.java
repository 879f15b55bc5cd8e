package org.densify.core.model;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Draws the next token from one row of logits: temperature, then top-k, then top-p (nucleus), then
 * a multinomial draw, in that order as Hugging Face's samplers apply them. Temperature 0 is greedy.
 * Everything is computed in double in vocabulary order, so a seeded generator gives the same
 * tokens on every machine.
 *
 * @param temperature divides the logits; 0 means argmax
 * @param topK        keep the k most likely tokens; 0 keeps all
 * @param topP        keep the most likely tokens whose probabilities reach p; 1 keeps all
 */
public record Sampler(float temperature, int topK, float topP) {

    public Sampler {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be finite and >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1] (1 = off), got " + topP);
    }

    /** Plain sampling from the model's distribution. */
    public static Sampler multinomial() {
        return new Sampler(1f, 0, 1f);
    }

    /** A drawn token with its log-probability under the model's own distribution. */
    public record Draw(int token, double logProbability) {}

    public int sample(float[] logits, RandomGenerator random) {
        checkFinite(logits);
        if (temperature == 0) return argmax(logits);
        double max = max(logits);
        return drawFrom(weights(logits, max), random);
    }

    /**
     * {@link #sample} and {@link #logProbability} of the drawn token in one call; the token is the
     * one {@code sample} draws from the same generator state, and the log-probability has the same
     * bits as {@code logProbability} gives.
     */
    public Draw draw(float[] logits, RandomGenerator random) {
        checkFinite(logits);
        if (temperature == 0) {
            int token = argmax(logits);
            return new Draw(token, logProbability(logits, token));
        }
        double max = max(logits);
        double[] p = weights(logits, max);
        if (temperature != 1) {
            int token = drawFrom(p, random);
            return new Draw(token, logProbability(logits, token));
        }
        // At temperature 1 the weights before truncation are exp(logit - max), term for term the
        // softmax's denominator: summing them here saves the second pass over the vocabulary.
        double sum = 0;
        for (double x : p) sum += x;
        int token = drawFrom(p, random);
        return new Draw(token, logits[token] - max - Math.log(sum));
    }

    /**
     * {@link #draw(float[], RandomGenerator)} with {@code bannedToken} excluded from the draw (its
     * logit taken as -inf before temperature and truncation, as Hugging Face's {@code min_new_tokens}
     * processor bans end-of-text), while the log-probability stays that of the model's own
     * distribution with every token in it: PPO's old log-probabilities come from a plain forward
     * pass, which no logits processor touches. {@code bannedToken < 0} bans nothing and gives the same
     * bits as {@link #draw(float[], RandomGenerator)}.
     */
    public Draw draw(float[] logits, int bannedToken, RandomGenerator random) {
        if (bannedToken < 0 || bannedToken >= logits.length) return draw(logits, random);
        checkFinite(logits);
        if (logits.length < 2) throw new IllegalArgumentException("cannot ban token " + bannedToken + ": it is the only token");
        if (temperature == 0) {
            int token = argmaxExcept(logits, bannedToken);
            return new Draw(token, logProbability(logits, token));
        }
        // The weights are taken against the largest allowed logit, so that a banned token far above
        // the rest cannot push every allowed weight to zero.
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) if (i != bannedToken) max = Math.max(max, logits[i]);
        double[] p = weights(logits, max);
        p[bannedToken] = 0;
        if (temperature != 1) {
            int token = drawFrom(p, random);
            return new Draw(token, logProbability(logits, token));
        }
        double allowed = 0;
        for (double x : p) allowed += x;
        int token = drawFrom(p, random);
        // log of the full softmax denominator: logaddexp(max + log(allowed), banned logit)
        double a = max + Math.log(allowed), b = logits[bannedToken];
        double logSum = Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
        return new Draw(token, logits[token] - logSum);
    }

    private static int argmaxExcept(float[] logits, int banned) {
        int best = banned == 0 ? 1 : 0;
        for (int i = best + 1; i < logits.length; i++) if (i != banned && logits[i] > logits[best]) best = i;
        return best;
    }

    private double[] weights(float[] logits, double max) {
        double[] p = new double[logits.length];
        for (int i = 0; i < logits.length; i++) p[i] = Math.exp((logits[i] - max) / temperature);
        return p;
    }

    /** Truncates the weights (top-k, then top-p) in place and draws one index in proportion to them. */
    private int drawFrom(double[] p, RandomGenerator random) {
        int V = p.length;
        if (topK > 0 && topK < V) keepTopK(p, topK);
        if (topP < 1) keepTopP(p, topP);
        double total = 0;
        for (double x : p) total += x;
        double u = random.nextDouble() * total;
        double cumulative = 0;
        int lastKept = -1;
        for (int i = 0; i < V; i++) {
            if (p[i] == 0) continue;
            cumulative += p[i];
            lastKept = i;
            if (u < cumulative) return i;
        }
        return lastKept; // u landed on the rounding error at the top
    }

    private static double max(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        return max;
    }

    /** log softmax(logits)[token], the model's own log-probability (no temperature or truncation). */
    public static double logProbability(float[] logits, int token) {
        double max = max(logits);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        return logits[token] - max - Math.log(sum);
    }

    /** The index of the largest logit, the first of equal ones (greedy decoding). */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /** Zeroes all but the k largest weights; ties at the threshold are kept (as torch.topk's cut-off does). */
    private static void keepTopK(double[] p, int k) {
        double[] sorted = p.clone();
        Arrays.sort(sorted);
        double threshold = sorted[sorted.length - k];
        for (int i = 0; i < p.length; i++) if (p[i] < threshold) p[i] = 0;
    }

    /**
     * Keeps the most likely tokens until their mass reaches {@code topP} of the total (at least one
     * token; tokens tied with the last one kept stay too), zeroing the rest.
     */
    private static void keepTopP(double[] p, float topP) {
        double[] sorted = p.clone();
        Arrays.sort(sorted);
        double total = 0;
        for (double x : p) total += x;
        double limit = topP * total;
        double cumulative = 0;
        double threshold = sorted[sorted.length - 1];
        for (int r = sorted.length - 1; r >= 0; r--) {
            cumulative += sorted[r];
            threshold = sorted[r];
            if (cumulative >= limit) break;
        }
        for (int i = 0; i < p.length; i++) if (p[i] < threshold) p[i] = 0;
    }

    private static void checkFinite(float[] logits) {
        for (int i = 0; i < logits.length; i++) {
            if (Float.isNaN(logits[i])) throw new IllegalStateException("logit " + i + " is NaN: the model produced NaN");
        }
    }
}
