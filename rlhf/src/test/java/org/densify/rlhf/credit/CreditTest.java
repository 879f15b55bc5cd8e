package org.densify.rlhf.credit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Each credit method on hand-made reward-pass results. */
class CreditTest {
    // R = 2; the reward model's last row gives the completion 0.1, 0.3, 0.1 (renormalised: 0.2, 0.6, 0.2)
    static final ScoredCompletion SCORED = new ScoredCompletion(3, 2f, new float[] {0.1f, 0.3f, 0.1f}, new float[] {0.5f, 0.25f, 0.25f},
            null, new float[] {0.5f, 1.5f, 2f}, -1f);

    // R = 2; four tokens; generation step k's row over completion tokens 0..k-1 (one attention is exactly 0)
    static final ScoredCompletion GENERATED = new ScoredCompletion(4, 2f, null, null,
            new float[][] {{}, {0.6f}, {0.2f, 0.4f}, {0.1f, 0f, 0.3f}}, null, Float.NaN);

    /**
     * The authors' get_generator_attention_distribution, transcribed: rows 1..N-1 of an N x N matrix
     * hold steps 1..N-1 one column to the right; each column is averaged over its non-zero entries
     * (1/0 taken as 0); or, last only, the last step's row with a 0 in front. Renormalised.
     */
    static double[] authorsDistribution(float[][] steps, boolean lastOnly) {
        int N = steps.length;
        double[] map = new double[N];
        if (lastOnly) {
            for (int j = 0; j < N - 1; j++) map[j + 1] = steps[N - 1][j];
        } else {
            float[][] matrix = new float[N][N];
            for (int i = 0; i + 1 < N; i++) {
                float[] att = steps[i + 1];
                for (int j = 0; j < att.length; j++) matrix[i + 1][1 + j] = att[j];
            }
            for (int c = 0; c < N; c++) {
                int nonZero = 0;
                for (int r = 0; r < N; r++) if (matrix[r][c] != 0) nonZero++;
                double weight = nonZero == 0 ? 0 : 1.0 / nonZero;
                for (int r = 0; r < N; r++) map[c] += matrix[r][c] * weight;
            }
        }
        double sum = 0;
        for (double x : map) sum += x;
        for (int j = 0; j < N; j++) map[j] /= sum;
        return map;
    }

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
    void abcDAveragesEachTokensAttentionOverTheLaterStepsAndShiftsItOneTokenRight() {
        // token 1: mean(0.6, 0.2, 0.1) = 0.3; token 2: mean(0.4) = 0.4 (the exact 0 is not counted);
        // token 3: 0.3; token 0: nothing. Sum 1; beta 0.5, R 2: 0.5 * 2 * w, plus 1 on the last token.
        float[] r = new Credit.AbcD(0.5).assign(GENERATED);
        assertArrayEquals(new float[] {0f, 0.3f, 0.4f, 1.3f}, r, 1e-6f);
        assertEquals(2.0, sum(r), 1e-6);
        double[] authors = authorsDistribution(GENERATED.generationAttention(), false);
        for (int t = 0; t < 4; t++) assertEquals(0.5 * 2 * authors[t] + (t == 3 ? 1 : 0), r[t], 1e-6, "token " + t);
    }

    @Test
    void abcD2TakesTheLastStepsRowShiftedOneTokenRight() {
        // the last step's row [0.1, 0, 0.3] becomes [0, 0.1, 0, 0.3]; renormalised [0, 0.25, 0, 0.75]
        float[] r = new Credit.AbcD2(0.5).assign(GENERATED);
        assertArrayEquals(new float[] {0f, 0.25f, 0f, 1.75f}, r, 1e-6f);
        double[] authors = authorsDistribution(GENERATED.generationAttention(), true);
        for (int t = 0; t < 4; t++) assertEquals(0.5 * 2 * authors[t] + (t == 3 ? 1 : 0), r[t], 1e-6, "token " + t);
    }

    @Test
    void abcDOnOneTokenLeavesTheRewardOnIt() {
        // the authors' code divides 0 by 0 here; the shifted weights of one token are all 0
        ScoredCompletion one = new ScoredCompletion(1, 3f, null, null, new float[][] {{}}, null, Float.NaN);
        assertArrayEquals(new float[] {3f}, new Credit.AbcD(0.8).assign(one));
        assertArrayEquals(new float[] {3f}, new Credit.AbcD2(0.8).assign(one));
    }

    @Test
    void abcPolicyFinalReadsThePolicysAttention() {
        float[] r = new Credit.AbcPolicyFinal(0.5).assign(SCORED);
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
        ScoredCompletion bare = new ScoredCompletion(2, 1f, null, null, null, null, Float.NaN);
        assertTrue(new Credit.Abc(0.8).inputs().contains(CreditInput.REWARD_ATTENTION));
        assertTrue(new Credit.AbcPolicyFinal(0.8).inputs().contains(CreditInput.POLICY_ATTENTION));
        assertTrue(new Credit.AbcD(0.8).inputs().contains(CreditInput.GENERATION_ATTENTION) && new Credit.AbcD2(0.8).inputs().contains(CreditInput.GENERATION_ATTENTION));
        assertThrows(IllegalStateException.class, () -> new Credit.AbcD(0.8).assign(bare));
        assertThrows(IllegalStateException.class, () -> new Credit.AbcD2(0.8).assign(bare));
        assertThrows(IllegalArgumentException.class, () -> new ScoredCompletion(2, 1f, null, null, new float[][] {{}, {}}, null, Float.NaN),
                "step 1 must have a row over one completion token");
        assertTrue(new Credit.PrefixDiff().inputs().contains(CreditInput.PREFIX_REWARDS));
        assertThrows(IllegalStateException.class, () -> new Credit.Abc(0.8).assign(bare));
        assertThrows(IllegalStateException.class, () -> new Credit.AbcPolicyFinal(0.8).assign(bare));
        assertThrows(IllegalStateException.class, () -> new Credit.PrefixDiff().assign(bare));
        assertThrows(IllegalArgumentException.class, () -> new Credit.Abc(1.5));
    }

    @Test
    void namesParse() {
        for (String name : Credit.names()) assertEquals(name, Credit.parse(name, 0.8).name());
        assertInstanceOf(Credit.AbcD.class, Credit.parse("ABC-D", 0.8));
        assertInstanceOf(Credit.AbcPolicyFinal.class, Credit.parse("abc-policy", 0.8), "the older name still reads");
        assertEquals(0.7, Credit.parse("abc-d2", 0.7).beta());
        assertTrue(Double.isNaN(Credit.parse("sparse", 0.7).beta()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Credit.parse("dense", 0.8));
        assertTrue(e.getMessage().contains("sparse, uniform, abc"), e.getMessage());
    }

    /** SCORED with the policy's generation rows too: every input any method reads. */
    private static final ScoredCompletion FULL = new ScoredCompletion(3, 2f, SCORED.rewardAttention(), SCORED.policyAttention(),
            new float[][] {{}, {1f}, {0.4f, 0.6f}}, SCORED.prefixRewards(), SCORED.promptReward());

    @Test
    void everyMethodDescribesItself() {
        for (Credit.Method m : Credit.methods()) {
            Credit c = Credit.parse(m.name(), 0.3);
            assertSame(m, c.method(), m.name() + ": the method it makes is the one described");
            assertEquals(m.takesBeta(), !Double.isNaN(c.beta()), m.name() + ": takes beta exactly when it has one");
            if (m.takesBeta()) assertEquals(0.3, c.beta());
            assertFalse(m.help().isBlank(), m.name() + " has a help line");
            boolean policy = c.inputs().contains(CreditInput.POLICY_ATTENTION) || c.inputs().contains(CreditInput.GENERATION_ATTENTION);
            assertEquals(policy, m.readsPolicy(), m.name());
            // what it needs is what it reads: without any one of its inputs it refuses to assign
            for (CreditInput missing : c.inputs()) {
                assertThrows(IllegalStateException.class, () -> c.assign(without(FULL, missing)), m.name() + " without " + missing);
            }
            assertEquals(FULL.length(), c.assign(FULL).length, m.name());
        }
        assertEquals("abc, abc-d, abc-d2, abc-policy-final", Credit.namesTakingBeta());
        assertEquals("8.68 ± 1.37 / 7.22 / best 9.44 at step 89", Credit.method("sparse").paper().at(0.8, false));
        assertEquals("9.62 ± 0.40 / 8.32 / 41; beta sweep mean 8.64", Credit.method("abc").paper().at(0.8, true));
        assertEquals("beta sweep mean 7.94", Credit.method("abc").paper().at(0, true));
        assertEquals("—", Credit.method("abc").paper().at(0.3, false));
        assertEquals("—", Credit.method("prefix-diff").paper().at(0.8, false));
    }

    private static ScoredCompletion without(ScoredCompletion s, CreditInput missing) {
        return new ScoredCompletion(s.length(), s.reward(), missing == CreditInput.REWARD_ATTENTION ? null : s.rewardAttention(),
                missing == CreditInput.POLICY_ATTENTION ? null : s.policyAttention(),
                missing == CreditInput.GENERATION_ATTENTION ? null : s.generationAttention(),
                missing == CreditInput.PREFIX_REWARDS ? null : s.prefixRewards(), s.promptReward());
    }
}
