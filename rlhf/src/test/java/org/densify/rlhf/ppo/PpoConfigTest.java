package org.densify.rlhf.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The builder changes only what it is told; a refusal names the setting as each reader calls it. */
class PpoConfigTest {
    @Test
    void theBuilderChangesOnlyWhatItIsTold() {
        PpoConfig d = PpoConfig.trlDefaults();
        PpoConfig c = d.toBuilder().batch(8, 2).genLengths(4, 9).build();
        assertEquals(new PpoConfig(8, 2, d.ppoEpochs(), d.learningRate(), d.initKlCoef(), d.adaptiveKl(), d.klTarget(), d.klHorizon(), d.gamma(),
                d.lambda(), d.clipRange(), d.valueClipRange(), d.vfCoef(), d.ratioThreshold(), d.adamBeta1(), d.adamBeta2(), d.adamEps(),
                d.promptMin(), d.promptMax(), 4, 9), c);
        assertEquals(d, d.toBuilder().build());
        assertEquals(false, d.toBuilder().kl(0.1, PpoConfig.KlControl.FIXED, 6, 10_000).build().adaptiveKl());
        for (PpoConfig.Setting s : PpoConfig.Setting.values()) {
            if (s.option() != null) assertEquals(s, PpoConfig.Setting.ofOption(s.option()).orElseThrow());
        }
        assertEquals(16, PpoConfig.Setting.BATCH.in(d));
        assertEquals(1.41e-5, PpoConfig.Setting.LR.in(d));
    }

    @Test
    void aRefusalNamesTheSettingForTheCommandLineAndForAnExperimentFile() {
        PpoConfig.InvalidSetting e = assertThrows(PpoConfig.InvalidSetting.class, () -> PpoConfig.trlDefaults().toBuilder().genLengths(8, 8).build());
        assertEquals(PpoConfig.Setting.GEN_MAX, e.setting());
        assertEquals("--gen-max must be > --gen-min (8): lengths are drawn from range(--gen-min, --gen-max), got 8", e.getMessage());
        assertEquals("must be > gen_min (8): lengths are drawn from range(gen_min, gen_max), got 8", e.problem());
        e = assertThrows(PpoConfig.InvalidSetting.class, () -> PpoConfig.trlDefaults().toBuilder().batch(4, 3).build());
        assertEquals("--minibatch must divide --batch (4), got 3", e.getMessage());
        assertEquals("must divide batch (4), got 3", e.problem());
        e = assertThrows(PpoConfig.InvalidSetting.class, () -> PpoConfig.trlDefaults().toBuilder().learningRate(1e39).build());
        assertEquals(PpoConfig.Setting.LR, e.setting());
        assertEquals("--lr 1.0E39 is beyond the float range (at most " + Float.MAX_VALUE + "): the first step would make every weight infinite",
                e.getMessage());
        e = assertThrows(PpoConfig.InvalidSetting.class, () -> PpoConfig.trlDefaults().toBuilder().kl(Double.POSITIVE_INFINITY,
                PpoConfig.KlControl.ADAPTIVE, 6, 10_000).build());
        assertEquals("kl_init", e.setting().key());
    }
}
