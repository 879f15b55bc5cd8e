package org.densify.rlhf.ppo;

import org.densify.core.Backend;
import org.densify.core.model.Generator;
import org.densify.core.model.Sampler;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.credit.CreditInput;
import org.densify.rlhf.credit.RewardSource;
import org.densify.rlhf.credit.ScoredCompletion;

/**
 * One PPO step as the runs take it, given its draws: sample a completion for each prompt, the rollout
 * passes (policy and reference), the reward pass (a reward model or a {@code RewardFunction}: {@link RewardSource}) and the
 * credit, then {@link PpoTrainer#optimize}.
 * {@link PpoRun} draws its prompts from reviews and logs each step; the GPU benchmark draws random ids
 * and reports the phase times; both take the step here. Each phase ends with {@link
 * Backend#synchronize()} before the clock is read, so the times are the device's.
 */
public final class PpoStep {
    private final Backend backend;
    private final PpoTrainer trainer;
    private final Generator generator;
    private final Sampler sampler;
    private final RewardSource rewards;
    private final Credit credit;

    public PpoStep(Backend backend, PpoTrainer trainer, Generator generator, Sampler sampler, RewardSource rewards, Credit credit) {
        this.backend = backend;
        this.trainer = trainer;
        this.generator = generator;
        this.sampler = sampler;
        this.rewards = rewards;
        this.credit = credit;
    }

    /**
     * What a step draws before it starts.
     *
     * @param queries    the prompts' token ids
     * @param minNew     per prompt, the fewest new tokens (the stop token is banned before)
     * @param maxNew     per prompt, the most new tokens
     * @param stopToken  the token that ends a completion, or -1 for none
     * @param sampleSeed the seed of the sampler
     * @param order      per PPO epoch, the permutation of the batch that makes its minibatches
     */
    public record Draws(int[][] queries, int[] minNew, int[] maxNew, int stopToken, long sampleSeed, int[][] order) {}

    /**
     * What a step did.
     *
     * @param responses the completions sampled
     * @param rewards   each sequence's reward, from the reward pass
     * @param update    the trainer's step: KL, losses, statistics
     */
    public record Outcome(int[][] responses, float[] rewards, PpoTrainer.StepResult update, long generationNanos, long referenceNanos,
                          long rewardNanos, long updateNanos) {
        /** The new tokens of all completions. */
        public int generatedTokens() {
            int n = 0;
            for (int[] r : responses) n += r.length;
            return n;
        }

        /** The step's time, its four phases together. */
        public long nanos() {
            return generationNanos + referenceNanos + rewardNanos + updateNanos;
        }
    }

    /** Takes the step. */
    public Outcome take(Draws d) {
        int[][] queries = d.queries();
        backend.synchronize();
        long t0 = System.nanoTime();
        Generator.Result sampled = generator.generate(queries, d.minNew(), d.maxNew(), sampler, d.sampleSeed(), d.stopToken(),
                credit.inputs().contains(CreditInput.GENERATION_ATTENTION) ? Generator.Recording.LAST_LAYER_ROWS : Generator.Recording.NONE, null);
        int[][] responses = sampled.tokens();
        backend.synchronize();
        long t1 = System.nanoTime();
        PpoTrainer.Rollout rollout = trainer.evaluate(queries, responses, credit.inputs());
        backend.synchronize();
        long t2 = System.nanoTime();
        ScoredCompletion[] scored = rewards.score(queries, responses, credit.inputs());
        float[][] scores = new float[scored.length][];
        float[] rewards = new float[scored.length];
        for (int s = 0; s < scored.length; s++) {
            ScoredCompletion sc = rollout.policyAttention() == null ? scored[s] : scored[s].withPolicyAttention(rollout.policyAttention()[s]);
            if (sampled.attentionRows() != null) {
                sc = sc.withGenerationAttention(ScoredCompletion.completionColumns(sampled.attentionRows()[s], queries[s].length));
            }
            scores[s] = credit.assign(sc);
            rewards[s] = sc.reward();
        }
        backend.synchronize();
        long t3 = System.nanoTime();
        PpoTrainer.StepResult update = trainer.optimize(rollout, scores, d.order());
        backend.synchronize();
        long t4 = System.nanoTime();
        return new Outcome(responses, rewards, update, t1 - t0, t2 - t1, t3 - t2, t4 - t3);
    }
}
