package org.densify.rlhf.credit;

/**
 * A reward written in Java: one number for a completion, in place of a reward model's score. PPO
 * reads it through {@link FunctionRewards}; the credit methods that need only the number (sparse,
 * uniform) work with it alone, and ABC with a reward model's attention alongside.
 *
 * <p>It is called once per completion, on the thread that runs the step. It must return a finite
 * number; anything else stops the step with an error that names the completion.
 */
@FunctionalInterface
public interface RewardFunction {
    /** The reward of {@code completion} given its prompt. */
    double reward(Completion completion);
}
