package org.densify.rlhf.credit;

/**
 * What the reward pass (and, for the ABC-D methods, the policy's generation or rollout pass) found
 * for one prompt + completion, indexed by the policy's completion tokens.
 *
 * @param reward              the scalar reward R of the whole sequence ({@link RewardModel#scalar})
 * @param rewardAttention     per completion token, the reward model's last-layer, head-averaged attention
 *                            from the last token it was given (summed over the reward model's tokens
 *                            that start inside the policy token when the tokenizers differ), not
 *                            renormalised; or null
 * @param policyAttention     the same from the policy's own last token in a pass over prompt + completion
 *                            after generation; or null
 * @param generationAttention per generation step k (the step that drew completion token k), the policy's
 *                            last-layer, head-averaged attention row of that step's query over completion
 *                            tokens {@code 0 .. k-1} (length k), as recorded during generation; or null
 * @param prefixRewards       per completion token t, the scalar reward of the prefix ending with token t; or null
 * @param promptReward        the scalar reward of the prompt alone (NaN unless prefix rewards were computed)
 */
public record ScoredCompletion(int length, float reward, float[] rewardAttention, float[] policyAttention,
                               float[][] generationAttention, float[] prefixRewards, float promptReward) {
    public ScoredCompletion {
        if (length < 1) throw new IllegalArgumentException("a completion needs at least one token to credit, got " + length);
        for (float[] a : new float[][] {rewardAttention, policyAttention, prefixRewards}) {
            if (a != null && a.length != length) throw new IllegalArgumentException("per-token array of " + a.length + " for " + length + " tokens");
        }
        if (generationAttention != null) {
            if (generationAttention.length != length) {
                throw new IllegalArgumentException(generationAttention.length + " generation steps for " + length + " tokens");
            }
            for (int k = 0; k < length; k++) {
                if (generationAttention[k].length != k) {
                    throw new IllegalArgumentException("generation step " + k + " has a row over " + generationAttention[k].length
                            + " completion tokens; expected " + k);
                }
            }
        }
    }

    public ScoredCompletion withPolicyAttention(float[] attention) {
        return new ScoredCompletion(length, reward, rewardAttention, attention, generationAttention, prefixRewards, promptReward);
    }

    public ScoredCompletion withGenerationAttention(float[][] rows) {
        return new ScoredCompletion(length, reward, rewardAttention, policyAttention, rows, prefixRewards, promptReward);
    }

    /**
     * The completion part of the rows a {@code Generator} recorded for one sequence: row k covers
     * positions {@code 0 .. P + k - 1}; its completion columns are {@code P .. P + k - 1}.
     */
    public static float[][] completionColumns(float[][] generationRows, int promptLength) {
        float[][] out = new float[generationRows.length][];
        for (int k = 0; k < out.length; k++) {
            if (generationRows[k].length != promptLength + k) {
                throw new IllegalArgumentException("generation row " + k + " covers " + generationRows[k].length + " positions; expected "
                        + (promptLength + k));
            }
            out[k] = java.util.Arrays.copyOfRange(generationRows[k], promptLength, promptLength + k);
        }
        return out;
    }
}
