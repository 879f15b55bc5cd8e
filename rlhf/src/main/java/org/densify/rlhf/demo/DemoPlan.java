package org.densify.rlhf.demo;

import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.pretrain.PretrainSettings;
import org.densify.rlhf.reward.RewardModelTrainer;

/**
 * The sizes and settings of each stage of the demo: the full one (about 10 minutes on 2 cores from
 * nothing) and the quick one (about a minute, for smoke tests).
 *
 * @param vocab        tokenizer vocabulary
 * @param pretrain     the policy's pretraining hyper-parameters
 * @param rmReviews    reviews the reward model trains on (0 = all of the training side)
 * @param rewardModel  reward-model training settings
 * @param ppo          PPO settings (shared by every credit method)
 * @param ppoSteps     PPO steps per method
 */
public record DemoPlan(String name, int vocab, PretrainSettings pretrain, int rmReviews, RewardModelTrainer.Settings rewardModel,
                       PpoConfig ppo, int ppoSteps) {

    /**
     * The full demo. The PPO learning rate is 10x TRL's default: that default is tuned for the
     * 124M-parameter GPT-2, and this 1M-parameter policy barely moves with it in 50 steps.
     */
    public static DemoPlan full() {
        PretrainSettings policy = PretrainSettings.defaults().toBuilder().steps(1500).evalEvery(500).evalTokens(8192)
                .checkpointEvery(500).build();
        // Three epochs: a small causal model reading the classifier at the last token learns sentiment slowly
        // (about 55 % held-out after one epoch, 60 % after two, 65 % after three on the bundled sample).
        RewardModelTrainer.Settings rm = RewardModelTrainer.Settings.defaults().toBuilder().maxTokens(128).epochs(3).batch(16)
                .lr(1e-3).warmup(20).seed(0).build();
        PpoConfig ppo = PpoConfig.trlDefaults().toBuilder().learningRate(1.41e-4).build();
        return new DemoPlan("full", 4096, policy, 0, rm, ppo, 50);
    }

    /** A one-minute version with tiny models, for smoke tests. */
    public static DemoPlan quick() {
        PretrainSettings policy = PretrainSettings.defaults().toBuilder().layers(2).dModel(64).heads(2).context(64).steps(120)
                .warmup(10).evalEvery(0).evalTokens(1024).checkpointEvery(0).build();
        RewardModelTrainer.Settings rm = RewardModelTrainer.Settings.defaults().toBuilder().maxTokens(48).epochs(1).batch(16)
                .lr(1e-3).seed(0).build();
        PpoConfig ppo = PpoConfig.trlDefaults().toBuilder().batch(8, 2).epochs(2).learningRate(1e-3)
                .promptLengths(2, 7).genLengths(4, 9).build(); // prompts of 2-6 tokens, 4-8 new tokens
        return new DemoPlan("quick", 512, policy, 600, rm, ppo, 6);
    }
}
