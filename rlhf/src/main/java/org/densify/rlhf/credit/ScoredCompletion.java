package org.densify.rlhf.credit;

/**
 * What the reward pass (and, for ABC-D, the policy's rollout pass) found for one prompt + completion,
 * indexed by the policy's completion tokens.
 *
 * @param reward          the scalar reward R of the whole sequence ({@link RewardModel#scalar})
 * @param rewardAttention per completion token, the reward model's last-layer, head-averaged attention
 *                        from its last token (summed over the reward model's tokens that start inside
 *                        the policy token when the tokenizers differ), not renormalised; or null
 * @param policyAttention the same from the policy's own last token; or null
 * @param prefixRewards   per completion token t, the scalar reward of the prefix ending with token t; or null
 * @param promptReward    the scalar reward of the prompt alone (NaN unless prefix rewards were computed)
 */
public record ScoredCompletion(int length, float reward, float[] rewardAttention, float[] policyAttention,
                               float[] prefixRewards, float promptReward) {
    public ScoredCompletion {
        if (length < 1) throw new IllegalArgumentException("a completion needs at least one token to credit, got " + length);
        for (float[] a : new float[][] {rewardAttention, policyAttention, prefixRewards}) {
            if (a != null && a.length != length) throw new IllegalArgumentException("per-token array of " + a.length + " for " + length + " tokens");
        }
    }

    public ScoredCompletion withPolicyAttention(float[] attention) {
        return new ScoredCompletion(length, reward, rewardAttention, attention, prefixRewards, promptReward);
    }
}
