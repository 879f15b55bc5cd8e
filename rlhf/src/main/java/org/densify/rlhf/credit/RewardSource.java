package org.densify.rlhf.credit;

import java.util.Set;

/**
 * Where a PPO step's rewards come from: a reward model ({@link RewardScorer}) or a function written
 * in Java ({@link FunctionRewards}). Either gives, per prompt and completion, the scalar reward and
 * what the credit method reads of the reward pass.
 */
public interface RewardSource {
    /**
     * Scores each pair.
     *
     * @param wanted what the credit method reads; a source refuses, naming the input, what it cannot give
     */
    ScoredCompletion[] score(int[][] prompts, int[][] completions, Set<CreditInput> wanted);
}
