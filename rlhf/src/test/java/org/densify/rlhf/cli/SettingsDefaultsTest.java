package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.densify.rlhf.demo.DemoPlan;
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

    @Test
    void theDemosSettingsChangeOnlyWhatTheyName() {
        // written out in full, component by component, as the plans gave them before the builders
        assertEquals(new PretrainSettings(4, 128, 4, 128, 1500, 512, 3e-3, 50, 0.1, 0.1, 1.0, 500, 8192, 500, 0), DemoPlan.full().pretrain());
        assertEquals(new PretrainSettings(2, 64, 2, 64, 120, 512, 3e-3, 10, 0.1, 0.1, 1.0, 0, 1024, 0, 0), DemoPlan.quick().pretrain());
        assertEquals(new RewardModelTrainer.Settings(128, 3, 16, 1e-3, 20, 0.0, 1.0, 0.1, 0, null, null, false, 0), DemoPlan.full().rewardModel());
        assertEquals(new RewardModelTrainer.Settings(48, 1, 16, 1e-3, 0, 0.0, 1.0, 0.1, 0, null, null, false, 0), DemoPlan.quick().rewardModel());
        PpoConfig d = PpoConfig.trlDefaults();
        assertEquals(new PpoConfig(8, 2, 2, 1e-3, d.initKlCoef(), d.adaptiveKl(), d.klTarget(), d.klHorizon(), d.gamma(), d.lambda(), d.clipRange(),
                d.valueClipRange(), d.vfCoef(), d.ratioThreshold(), d.adamBeta1(), d.adamBeta2(), d.adamEps(), 2, 7, 4, 9), DemoPlan.quick().ppo());
    }
}
