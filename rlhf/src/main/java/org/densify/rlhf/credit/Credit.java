package org.densify.rlhf.credit;

import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleFunction;

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

    /** The share of the reward spread by attention when none is given: the paper's beta. */
    double DEFAULT_BETA = 0.8;

    /** The method the commands use when none is given. */
    String DEFAULT_METHOD = "abc";

    /** The name of the one parameter the attention methods take. */
    String BETA = "beta";

    /**
     * What a method is, apart from how it assigns: everything the commands, the experiment files and
     * the reward pass ask of it.
     *
     * @param name       the name the command line and experiment files use
     * @param parameters the settings it reads besides the reward ({@link #BETA} for the attention methods)
     * @param inputs     what the passes before it must capture
     * @param help       one line for the usage text
     * @param paper      its figures in Chan et al. 2024, for the experiment report
     * @param create     the method with a given beta (ignored by those that take none)
     */
    record Method(String name, List<String> parameters, Set<CreditInput> inputs, String help, PaperFigures paper,
                  DoubleFunction<Credit> create) {
        public Method {
            parameters = List.copyOf(parameters);
            inputs = inputs.isEmpty() ? CreditInput.REWARD_ONLY : Collections.unmodifiableSet(EnumSet.copyOf(inputs));
        }

        /** Whether beta changes what it assigns. */
        public boolean takesBeta() {
            return parameters.contains(BETA);
        }

        /** Whether it reads the policy's attention (so the reward model alone cannot score it). */
        public boolean readsPolicy() {
            return inputs.stream().anyMatch(CreditInput::readsPolicy);
        }
    }

    /**
     * A method's figures in the paper's IMDb setting (prompts 2-8, completions 8-16 tokens) as the
     * experiment report prints them: reward at step 100 / mean / first step above sparse's best.
     */
    @FunctionalInterface
    interface PaperFigures {
        /** A dash: the paper ran no such method. */
        PaperFigures NONE = (beta, betaSweep) -> "—";

        /** The figures of a run with this beta; {@code betaSweep} when the study sweeps beta. */
        String at(double beta, boolean betaSweep);

        static PaperFigures fixed(String figures) {
            return (beta, betaSweep) -> figures;
        }
    }

    /** What this method is. */
    Method method();

    /** The name the command line uses. */
    default String name() {
        return method().name();
    }

    /** What the passes before it must capture. */
    default Set<CreditInput> inputs() {
        return method().inputs();
    }

    /** One reward per completion token. */
    float[] assign(ScoredCompletion s);

    /** The spread of an attention method (the share of R spread by attention), or NaN for the others. */
    default double beta() {
        return Double.NaN;
    }

    /** Classic RLHF: R on the last completion token, 0 elsewhere. */
    record Sparse() implements Credit {
        public static final Method METHOD = new Method("sparse", List.of(), CreditInput.REWARD_ONLY,
                "classic RLHF: the reward on the last completion token, 0 elsewhere",
                PaperFigures.fixed("8.68 ± 1.37 / 7.22 / best 9.44 at step 89"), beta -> new Sparse());

        public Method method() {
            return METHOD;
        }

        public float[] assign(ScoredCompletion s) {
            float[] r = new float[s.length()];
            r[r.length - 1] = s.reward();
            return r;
        }
    }

    /** R / N on each of the N completion tokens. */
    record Uniform() implements Credit {
        public static final Method METHOD = new Method("uniform", List.of(), CreditInput.REWARD_ONLY,
                "the reward shared equally by the completion's tokens", PaperFigures.fixed("8.10 ± 0.89 / 6.60 / —"), beta -> new Uniform());

        public Method method() {
            return METHOD;
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

        public static final Method METHOD = new Method("abc", List.of(BETA), Set.of(CreditInput.REWARD_ATTENTION),
                "Attention Based Credit (Chan et al. 2024): beta of the reward spread by the reward model's last attention row, "
                        + "the rest on the last token", Abc::paperFigures, Abc::new);

        public Method method() {
            return METHOD;
        }

        private static String paperFigures(double beta, boolean betaSweep) {
            String sweepMean = beta == 0 ? "7.94" : beta == 0.5 ? "8.48" : beta == 0.8 ? "8.64" : beta == 1 ? "8.80" : null;
            String main = beta == 0.8 ? "9.62 ± 0.40 / 8.32 / 41" : null;
            if (main != null && betaSweep) return main + "; beta sweep mean 8.64";
            if (main != null) return main;
            return sweepMean == null ? "—" : "beta sweep mean " + sweepMean;
        }

        public float[] assign(ScoredCompletion s) {
            return attentionCredit(s.rewardAttention(), s.reward(), beta, "the reward model's");
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

        public static final Method METHOD = new Method("abc-d", List.of(BETA), Set.of(CreditInput.GENERATION_ATTENTION),
                "the authors' abcde: as abc with the policy's attention recorded during generation, averaged over the steps",
                PaperFigures.NONE, AbcD::new);

        public Method method() {
            return METHOD;
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

        public static final Method METHOD = new Method("abc-d2", List.of(BETA), Set.of(CreditInput.GENERATION_ATTENTION),
                "the authors' abcde2: as abc-d with the last generation step's row only", PaperFigures.NONE, AbcD2::new);

        public Method method() {
            return METHOD;
        }

        public float[] assign(ScoredCompletion s) {
            float[][] rows = generationRows(s);
            int N = s.length();
            float[] w = new float[N];
            System.arraycopy(rows[N - 1], 0, w, 1, N - 1);
            return attentionCredit(w, s.reward(), beta, "the policy's generation");
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

        public static final Method METHOD = new Method("abc-policy-final", List.of(BETA), Set.of(CreditInput.POLICY_ATTENTION),
                "as abc with the policy's own attention from its last completion token, after generation (formerly abc-policy)",
                PaperFigures.NONE, AbcPolicyFinal::new);

        public Method method() {
            return METHOD;
        }

        public float[] assign(ScoredCompletion s) {
            return attentionCredit(s.policyAttention(), s.reward(), beta, "the policy's");
        }
    }

    /**
     * Token t earns {@code score(prefix to t) - score(prefix to t-1)}, with the classifier applied at
     * every position of the same reward pass; the prefix before the first completion token is the
     * prompt. The rewards telescope to {@code R - score(prompt)}.
     */
    record PrefixDiff() implements Credit {
        public static final Method METHOD = new Method("prefix-diff", List.of(), Set.of(CreditInput.PREFIX_REWARDS),
                "each token earns the reward of the prefix it ends minus that of the prefix before it", PaperFigures.NONE,
                beta -> new PrefixDiff());

        public Method method() {
            return METHOD;
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
    }

    /** Every method, in the order the usage text lists them ({@link CreditMethods#ALL}). */
    static List<Method> methods() {
        return CreditMethods.ALL;
    }

    /** The method names the command line accepts. */
    static List<String> names() {
        return CreditMethods.NAMES;
    }

    /** Older names still read (run logs and configs written before the authors' ABC-D existed here). */
    Map<String, String> ALIASES = Map.of("abc-policy", "abc-policy-final");

    /** The canonical name of a method name or alias (lower case), or the name itself when unknown. */
    static String canonical(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return ALIASES.getOrDefault(n, n);
    }

    /** The method called {@code name} (or one of its aliases, in any case). */
    static Method method(String name) {
        String canonical = canonical(name);
        for (Method m : methods()) if (m.name().equals(canonical)) return m;
        throw new IllegalArgumentException("unknown credit method '" + name + "'; expected one of " + String.join(", ", names()));
    }

    /** The method called {@code name}; {@code beta} is used by the attention methods. */
    static Credit parse(String name, double beta) {
        return method(name).create().apply(beta);
    }

    /** The names of the methods that take beta, comma-separated. */
    static String namesTakingBeta() {
        return String.join(", ", methods().stream().filter(Method::takesBeta).map(Method::name).toList());
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
