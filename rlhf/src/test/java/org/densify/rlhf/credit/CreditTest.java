package org.densify.rlhf.credit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Each credit method on hand-made reward-pass results. */
class CreditTest {
    // R = 2; the reward model's last row gives the completion 0.1, 0.3, 0.1 (renormalised: 0.2, 0.6, 0.2)
    static final ScoredCompletion SCORED = new ScoredCompletion(3, 2f, new float[] {0.1f, 0.3f, 0.1f}, new float[] {0.5f, 0.25f, 0.25f},
            new float[] {0.5f, 1.5f, 2f}, -1f);

    static double sum(float[] x) {
        double s = 0;
        for (float v : x) s += v;
        return s;
    }

    @Test
    void sparsePutsTheRewardOnTheLastToken() {
        assertArrayEquals(new float[] {0, 0, 2}, new Credit.Sparse().assign(SCORED));
    }

    @Test
    void uniformSplitsTheRewardEvenly() {
        assertArrayEquals(new float[] {2f / 3, 2f / 3, 2f / 3}, new Credit.Uniform().assign(SCORED), 1e-7f);
    }

    @Test
    void abcFollowsTheRenormalisedAttentionAndKeepsOneMinusBetaForTheLastToken() {
        // beta 0.8: 0.8 * [0.2, 0.6, 0.2] * 2 = [0.32, 0.96, 0.32], + 0.2 * 2 on the last
        float[] r = new Credit.Abc(0.8).assign(SCORED);
        assertArrayEquals(new float[] {0.32f, 0.96f, 0.72f}, r, 1e-6f);
        assertEquals(2.0, sum(r), 1e-6);
        assertArrayEquals(new Credit.Sparse().assign(SCORED), new Credit.Abc(0).assign(SCORED), 1e-7f, "beta 0 is sparse");
        assertArrayEquals(new float[] {0.4f, 1.2f, 0.4f}, new Credit.Abc(1).assign(SCORED), 1e-6f);
    }

    @Test
    void abcPolicyReadsThePolicysAttention() {
        float[] r = new Credit.AbcPolicy(0.5).assign(SCORED);
        assertArrayEquals(new float[] {0.5f, 0.25f, 1.25f}, r, 1e-6f);
        assertEquals(2.0, sum(r), 1e-6);
    }

    @Test
    void prefixDifferencesTelescopeToTheRewardMinusThePromptsScore() {
        float[] r = new Credit.PrefixDiff().assign(SCORED);
        assertArrayEquals(new float[] {1.5f, 1f, 0.5f}, r, 1e-6f);
        assertEquals(SCORED.reward() - SCORED.promptReward(), sum(r), 1e-6);
    }

    @Test
    void methodsSayWhatTheyNeedAndRefuseWhatIsMissing() {
        ScoredCompletion bare = new ScoredCompletion(2, 1f, null, null, null, Float.NaN);
        assertTrue(new Credit.Abc(0.8).needsRewardAttention());
        assertTrue(new Credit.AbcPolicy(0.8).needsPolicyAttention());
        assertTrue(new Credit.PrefixDiff().needsPrefixRewards());
        assertThrows(IllegalStateException.class, () -> new Credit.Abc(0.8).assign(bare));
        assertThrows(IllegalStateException.class, () -> new Credit.AbcPolicy(0.8).assign(bare));
        assertThrows(IllegalStateException.class, () -> new Credit.PrefixDiff().assign(bare));
        assertThrows(IllegalArgumentException.class, () -> new Credit.Abc(1.5));
    }

    @Test
    void namesParse() {
        for (String name : Credit.NAMES) assertEquals(name, Credit.parse(name, 0.8).name());
        assertInstanceOf(Credit.AbcPolicy.class, Credit.parse("ABC-D", 0.8));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Credit.parse("dense", 0.8));
        assertTrue(e.getMessage().contains("sparse, uniform, abc"), e.getMessage());
    }
}
