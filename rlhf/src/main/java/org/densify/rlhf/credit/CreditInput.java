package org.densify.rlhf.credit;

import java.util.Set;

/**
 * What a credit method reads besides the sequence's reward, and so what the passes before it must
 * capture. The reward pass ({@link RewardScorer#score}) provides the first two; the policy's rollout
 * pass and generation provide the others.
 */
public enum CreditInput {
    /** The reward model's last-layer attention row from its last token (the reward pass). */
    REWARD_ATTENTION,
    /** The classifier applied at every completion position (the reward pass). */
    PREFIX_REWARDS,
    /** The policy's own last attention row, captured in the rollout pass after generation. */
    POLICY_ATTENTION,
    /** The policy's last-layer attention row at every generation step. */
    GENERATION_ATTENTION;

    /** Nothing but the reward: what sparse and uniform read. */
    public static final Set<CreditInput> REWARD_ONLY = Set.of();

    /** Whether this input is the policy's attention (rollout pass or generation) rather than the reward model's. */
    public boolean readsPolicy() {
        return this == POLICY_ATTENTION || this == GENERATION_ATTENTION;
    }
}
