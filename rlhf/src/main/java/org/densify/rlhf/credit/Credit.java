package org.densify.rlhf.credit;

import java.util.List;
import java.util.Locale;

/**
 * How a sequence-level reward R is spread over the completion's tokens. Each method reads one {@link
 * ScoredCompletion} (the reward pass's results for one sequence) and returns one reward per
 * completion token; PPO adds the per-token KL penalty to these.
 *
 * <p>Every method but {@code prefix-diff} returns rewards that sum to R. {@code prefix-diff} is
 * anchored at the prompt: its rewards sum to R minus the prompt's own score (a constant for a given
 * prompt, which the policy cannot change).
 */
public sealed interface Credit {

    /** The name the command line uses. */
    String name();

    /** One reward per completion token. */
    float[] assign(ScoredCompletion s);

    /** Whether the reward pass must capture the reward model's last attention row. */
    default boolean needsRewardAttention() {
        return false;
    }

    /** Whether the policy's rollout pass must capture its own last attention row. */
    default boolean needsPolicyAttention() {
        return false;
    }

    /** Whether the reward pass must apply the classifier at every completion position. */
    default boolean needsPrefixRewards() {
        return false;
    }

    /** Classic RLHF: R on the last completion token, 0 elsewhere. */
    record Sparse() implements Credit {
        public String name() {
            return "sparse";
        }

        public float[] assign(ScoredCompletion s) {
            float[] r = new float[s.length()];
            r[r.length - 1] = s.reward();
            return r;
        }
    }

    /** R / N on each of the N completion tokens. */
    record Uniform() implements Credit {
        public String name() {
            return "uniform";
        }

        public float[] assign(ScoredCompletion s) {
            float[] r = new float[s.length()];
            java.util.Arrays.fill(r, s.reward() / r.length);
            return r;
        }
    }

    /**
     * Attention Based Credit (Chan et al. 2024): {@code beta * alpha_t * R} on token t, where alpha is
     * the reward model's last-layer, head-averaged attention from its last token to the completion's
     * tokens, renormalised over the completion; plus {@code (1 - beta) R} on the last token.
     */
    record Abc(double beta) implements Credit {
        public Abc {
            checkBeta(beta);
        }

        public String name() {
            return "abc";
        }

        public float[] assign(ScoredCompletion s) {
            return attentionCredit(s.rewardAttention(), s.reward(), beta, "the reward model's");
        }

        public boolean needsRewardAttention() {
            return true;
        }
    }

    /** ABC-D: as {@link Abc}, with the policy's own last-layer attention over its rollout instead of the reward model's. */
    record AbcPolicy(double beta) implements Credit {
        public AbcPolicy {
            checkBeta(beta);
        }

        public String name() {
            return "abc-policy";
        }

        public float[] assign(ScoredCompletion s) {
            return attentionCredit(s.policyAttention(), s.reward(), beta, "the policy's");
        }

        public boolean needsPolicyAttention() {
            return true;
        }
    }

    /**
     * Token t earns {@code score(prefix to t) - score(prefix to t-1)}, with the classifier applied at
     * every position of the same reward pass; the prefix before the first completion token is the
     * prompt. The rewards telescope to {@code R - score(prompt)}.
     */
    record PrefixDiff() implements Credit {
        public String name() {
            return "prefix-diff";
        }

        public float[] assign(ScoredCompletion s) {
            float[] prefix = s.prefixRewards();
            if (prefix == null) throw new IllegalStateException("prefix-diff needs the reward at every completion position");
            float[] r = new float[prefix.length];
            double previous = s.promptReward();
            for (int t = 0; t < r.length; t++) {
                r[t] = (float) (prefix[t] - previous);
                previous = prefix[t];
            }
            return r;
        }

        public boolean needsPrefixRewards() {
            return true;
        }
    }

    /** The method names the command line accepts. */
    List<String> NAMES = List.of("sparse", "uniform", "abc", "abc-policy", "prefix-diff");

    /** The method called {@code name}; {@code beta} is used by the attention methods. */
    static Credit parse(String name, double beta) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "sparse" -> new Sparse();
            case "uniform" -> new Uniform();
            case "abc" -> new Abc(beta);
            case "abc-policy", "abc-d" -> new AbcPolicy(beta);
            case "prefix-diff" -> new PrefixDiff();
            default -> throw new IllegalArgumentException("unknown credit method '" + name + "'; expected one of " + String.join(", ", NAMES));
        };
    }

    private static void checkBeta(double beta) {
        if (!(beta >= 0 && beta <= 1)) throw new IllegalArgumentException("beta must be in [0, 1], got " + beta);
    }

    /** {@code beta * R * w_t / sum(w)} on each token, {@code (1 - beta) R} more on the last. */
    private static float[] attentionCredit(float[] weights, float reward, double beta, String whose) {
        if (weights == null) throw new IllegalStateException(whose + " attention over the completion was not captured");
        double sum = 0;
        for (float w : weights) sum += w;
        if (!(sum >= 0)) throw new IllegalStateException(whose + " attention on the completion sums to " + sum + "; cannot renormalise it");
        float[] r = new float[weights.length];
        if (sum == 0) {
            // Nothing of the completion was read (a completion that is only end-of-text, which the
            // reward model does not see): there is nothing to spread over, so the reward stays sparse.
            r[r.length - 1] = reward;
            return r;
        }
        for (int t = 0; t < r.length; t++) r[t] = (float) (beta * (weights[t] / sum) * reward);
        r[r.length - 1] += (float) ((1 - beta) * reward);
        return r;
    }
}
