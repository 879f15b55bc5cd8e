package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.pretrain.PretrainSettings;
import org.densify.rlhf.reward.RewardModelTrainer;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Each command's options take their defaults from its job's settings type, the one place they are written. */
class SettingsDefaultsTest {
    @Test
    void pretrainsOptionsStartAtPretrainSettingsDefaults() {
        PretrainCommand c = new PretrainCommand();
        new CommandLine(c).parseArgs("--tokenizer", "t", "--out", "o");
        PretrainSettings d = PretrainSettings.defaults();
        assertEquals(d, new PretrainSettings(c.layers, c.dModel, c.heads, c.context, c.steps, c.batchTokens, c.optimizer.lr, c.warmup,
                c.minLrRatio, c.optimizer.weightDecay, c.optimizer.gradClip, c.evalEvery, c.evalTokens, c.checkpointEvery, c.seed));
    }

    @Test
    void trainRmsOptionsStartAtTheTrainersDefaults() {
        TrainRmCommand c = new TrainRmCommand();
        new CommandLine(c).parseArgs("--init", "i", "--out", "o");
        RewardModelTrainer.Settings d = RewardModelTrainer.Settings.defaults();
        assertEquals(d, new RewardModelTrainer.Settings(c.maxTokens, c.epochs, c.batch, c.optimizer.lr, c.warmup, c.optimizer.weightDecay,
                c.optimizer.gradClip, c.evalFraction, c.seed, c.labels, c.log, false, c.openings));
    }

    @Test
    void ppoOptionsStartAtTrlDefaults() {
        PpoCommand c = new PpoCommand();
        new CommandLine(c).parseArgs("--policy", "p", "--reward-model", "r", "--out", "o");
        PpoConfig d = PpoConfig.trlDefaults();
        assertEquals(d, d.toBuilder().batch(c.batch, c.minibatch).epochs(c.ppoEpochs).learningRate(c.lr)
                .kl(c.klInit, c.fixedKl ? PpoConfig.KlControl.FIXED : PpoConfig.KlControl.ADAPTIVE, c.klTarget, c.klHorizon)
                .promptLengths(c.promptMin, c.promptMax).genLengths(c.genMin, c.genMax).build());
        // every setting the command line sets has an option here
        for (PpoConfig.Setting s : PpoConfig.Setting.values()) {
            if (s.option() != null) assertEquals(s.option(), new CommandLine(new PpoCommand()).getCommandSpec().findOption(s.option()).longestName());
        }
    }

    @Test
    void defaultsAreShownAsTheyWouldBeTyped() {
        assertEquals("16", SettingsDefaults.plain(16));
        assertEquals("10000", SettingsDefaults.plain(10_000.0));
        assertEquals("5e-5", SettingsDefaults.plain(5e-5));
        assertEquals("1.41e-5", SettingsDefaults.plain(1.41e-5));
        assertEquals("0.003", SettingsDefaults.plain(3e-3));
        assertEquals("0.1", SettingsDefaults.plain(0.1));
    }
}
