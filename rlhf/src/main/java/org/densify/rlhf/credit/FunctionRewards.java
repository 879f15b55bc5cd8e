package org.densify.rlhf.credit;

import java.util.Set;
import org.densify.loaders.tokenizer.Tokenizer;

/**
 * Rewards from a {@link RewardFunction}: the function gives each completion its scalar reward; when
 * the credit method reads the reward model's attention (abc), a reward model scores the same pairs
 * alongside and only its attention row is kept, so ABC spreads the function's reward by what the
 * reward model attends to. The classifier's per-prefix scores (prefix-diff) have no counterpart in a
 * function and are refused.
 */
public final class FunctionRewards implements RewardSource {
    private final RewardFunction function;
    private final Tokenizer policyTokenizer;
    private final RewardScorer attentionFrom;

    private FunctionRewards(RewardFunction function, Tokenizer policyTokenizer, RewardScorer attentionFrom) {
        this.function = function;
        this.policyTokenizer = policyTokenizer;
        this.attentionFrom = attentionFrom;
    }

    /** The function alone: for credit methods that read only the reward (sparse, uniform). */
    public static FunctionRewards of(RewardFunction function, Tokenizer policyTokenizer) {
        return new FunctionRewards(function, policyTokenizer, null);
    }

    /** The function's rewards with {@code attentionFrom}'s reward-model attention (for abc). */
    public static FunctionRewards withAttention(RewardFunction function, Tokenizer policyTokenizer, RewardScorer attentionFrom) {
        return new FunctionRewards(function, policyTokenizer, attentionFrom);
    }

    @Override
    public ScoredCompletion[] score(int[][] prompts, int[][] completions, Set<CreditInput> wanted) {
        if (completions.length != prompts.length) {
            throw new IllegalArgumentException(prompts.length + " prompts but " + completions.length + " completions");
        }
        if (wanted.contains(CreditInput.PREFIX_REWARDS)) {
            throw new IllegalArgumentException("a reward function gives one number per completion, not the reward of every prefix "
                    + "that prefix-diff reads: use sparse, uniform or abc");
        }
        boolean attention = wanted.contains(CreditInput.REWARD_ATTENTION);
        if (attention && attentionFrom == null) {
            throw new IllegalArgumentException("abc reads a reward model's attention: give the reward function a reward model alongside "
                    + "(FunctionRewards.withAttention), or use sparse or uniform");
        }
        ScoredCompletion[] alongside = attention ? attentionFrom.score(prompts, completions, Set.of(CreditInput.REWARD_ATTENTION)) : null;
        ScoredCompletion[] out = new ScoredCompletion[prompts.length];
        for (int s = 0; s < prompts.length; s++) {
            if (completions[s].length == 0) throw new IllegalArgumentException("completion " + s + " is empty: there is no token to credit");
            Completion c = new Completion(s, prompts[s].clone(), completions[s].clone(), policyTokenizer.decode(prompts[s]),
                    policyTokenizer.decodeSkippingSpecial(completions[s]));
            double r = function.reward(c);
            if (!Double.isFinite(r) || Math.abs(r) > Float.MAX_VALUE) {
                throw new IllegalArgumentException("the reward function gave " + r + " for completion " + s + " (\"" + c.completionText()
                        + "\"): a reward must be a finite number in float range");
            }
            out[s] = new ScoredCompletion(completions[s].length, (float) r, alongside == null ? null : alongside[s].rewardAttention(), null,
                    null, null, Float.NaN);
        }
        return out;
    }
}
