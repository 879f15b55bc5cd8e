package org.densify.rlhf.credit;

import java.util.List;
import java.util.Locale;
import java.util.Map;

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

    /** Whether generation must record the policy's last-layer attention row at every step. */
    default boolean needsGenerationAttention() {
        return false;
    }

    /** The spread of an attention method (the share of R spread by attention), or NaN for the others. */
    default double beta() {
        return Double.NaN;
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

    /**
     * ABC-D as the authors' {@code abcde}: the policy's own last-layer attention, recorded during
     * generation. Generation step k (its query is completion token k - 1) attends to completion tokens
     * {@code 0 .. k-1}; token j's attention is averaged over the steps that paid it any (zeros are not
     * counted, as their code counts non-zero entries) and credited to token {@code j + 1}: the weights
     * are shifted one token right and token 0 gets none. Then renormalised and spread as {@link Abc}.
     */
    record AbcD(double beta) implements Credit {
        public AbcD {
            checkBeta(beta);
        }

        public String name() {
            return "abc-d";
        }

        public float[] assign(ScoredCompletion s) {
            float[][] rows = generationRows(s);
            int N = s.length();
            float[] w = new float[N];
            for (int j = 0; j + 1 < N; j++) {
                double sum = 0;
                int paid = 0;
                for (int k = j + 1; k < N; k++) {
                    float a = rows[k][j];
                    if (a != 0) {
                        sum += a;
                        paid++;
                    }
                }
                w[j + 1] = paid == 0 ? 0f : (float) (sum / paid);
            }
            return attentionCredit(w, s.reward(), beta, "the policy's generation");
        }

        public boolean needsGenerationAttention() {
            return true;
        }
    }

    /**
     * ABC-D as the authors' {@code abcde2}: only the last generation step's row (its query is
     * completion token N - 2) over completion tokens {@code 0 .. N-2}, with a 0 put in front (the same
     * shift as {@link AbcD}), renormalised and spread as {@link Abc}.
     */
    record AbcD2(double beta) implements Credit {
        public AbcD2 {
            checkBeta(beta);
        }

        public String name() {
            return "abc-d2";
        }

        public float[] assign(ScoredCompletion s) {
            float[][] rows = generationRows(s);
            int N = s.length();
            float[] w = new float[N];
            System.arraycopy(rows[N - 1], 0, w, 1, N - 1);
            return attentionCredit(w, s.reward(), beta, "the policy's generation");
        }

        public boolean needsGenerationAttention() {
            return true;
        }
    }

    /**
     * Not one of the authors' variants: as {@link Abc} with the policy's own last-layer attention
     * from its last completion token (the end-of-text when there is one, a query generation never
     * computes) over the whole completion, unshifted, taken in the rollout pass after generation.
     * It is the policy-side mirror of {@code abc}, and the method the first studies ran as
     * {@code abc-policy}.
     */
    record AbcPolicyFinal(double beta) implements Credit {
        public AbcPolicyFinal {
            checkBeta(beta);
        }

        public String name() {
            return "abc-policy-final";
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
    List<String> NAMES = List.of("sparse", "uniform", "abc", "abc-d", "abc-d2", "abc-policy-final", "prefix-diff");

    /** Older names still read (run logs and configs written before the authors' ABC-D existed here). */
    Map<String, String> ALIASES = Map.of("abc-policy", "abc-policy-final");

    /** The canonical name of a method name or alias (lower case), or the name itself when unknown. */
    static String canonical(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return ALIASES.getOrDefault(n, n);
    }

    /** The method called {@code name}; {@code beta} is used by the attention methods. */
    static Credit parse(String name, double beta) {
        return switch (canonical(name)) {
            case "sparse" -> new Sparse();
            case "uniform" -> new Uniform();
            case "abc" -> new Abc(beta);
            case "abc-d" -> new AbcD(beta);
            case "abc-d2" -> new AbcD2(beta);
            case "abc-policy-final" -> new AbcPolicyFinal(beta);
            case "prefix-diff" -> new PrefixDiff();
            default -> throw new IllegalArgumentException("unknown credit method '" + name + "'; expected one of " + String.join(", ", NAMES));
        };
    }

    private static float[][] generationRows(ScoredCompletion s) {
        if (s.generationAttention() == null) throw new IllegalStateException("the policy's attention during generation was not recorded");
        return s.generationAttention();
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
            // No attention on the completion (ABC-D on a one-token completion: the shifted weights are
            // all 0, and the authors' division would give NaN): nothing to spread over, so the reward
            // stays sparse.
            r[r.length - 1] = reward;
            return r;
        }
        for (int t = 0; t < r.length; t++) r[t] = (float) (beta * (weights[t] / sum) * reward);
        r[r.length - 1] += (float) ((1 - beta) * reward);
        return r;
    }
}
