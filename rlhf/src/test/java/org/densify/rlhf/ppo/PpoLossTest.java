package org.densify.rlhf.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The clipped PPO losses and their gradients on hand-made numbers and by finite differences. */
class PpoLossTest {
    static final double LN15 = Math.log(1.5), LN05 = Math.log(0.5);

    @Test
    void handMadeTokensCoverEveryBranchOfTheClipping() {
        // ratios 1 (tie), 1.5 with A > 0 (clipped), 1.5 with A < 0 (unclipped), 0.5 with A > 0 (unclipped)
        float[] old = {-1, -2, -2, -1};
        float[] lp = {-1, (float) (-2 + LN15), (float) (-2 + LN15), (float) (-1 + LN05)};
        double[] adv = {0.5, 1, -1, 1};
        // values: tie inside the clip range, unclipped larger, clipped larger but outside (no gradient), tie inside
        float[] v = {1, 1.5f, 1.5f, 0.9f}, oldV = {1, 1, 1, 1};
        double[] ret = {0, 0, 2, 0.95};
        PpoLoss.Result r = PpoLoss.compute(lp, old, v, oldV, adv, ret, 0.2, 0.2, 0.1, 10);
        double ratio15 = Math.exp((double) lp[1] - old[1]), ratio05 = Math.exp((double) lp[3] - old[3]);
        assertEquals((-0.5 - 1.2 + ratio15 - ratio05) / 4, r.pgLoss(), 1e-6);
        double v4 = 0.9f - 0.95;
        assertEquals(0.5 * (1 + 2.25 + 0.64 + v4 * v4) / 4, r.vfLoss(), 1e-6);
        assertEquals(r.pgLoss() + 0.1 * r.vfLoss(), r.loss(), 1e-12);
        assertEquals(0.25, r.pgClipFraction(), 0);
        assertEquals(0.25, r.vfClipFraction(), 0);
        assertArrayEquals(new float[] {-0.5f / 4, 0, (float) (ratio15 / 4), (float) (-ratio05 / 4)}, r.dLogProbs(), 1e-6f);
        assertArrayEquals(new float[] {0.05f * 2 / 4, 0.05f * 3 / 4, 0, (float) (0.05 * 2 * v4 / 4)}, r.dValues(), 1e-6f);
        double lr1 = (double) lp[1] - old[1], lr3 = (double) lp[3] - old[3];
        assertEquals(0.5 * (2 * lr1 * lr1 + lr3 * lr3) / 4, r.approxKl(), 1e-9);
        assertEquals(-(2 * lr1 + lr3) / 4, r.policyKl(), 1e-9);
        assertFalse(r.skipped());
    }

    @Test
    void gradientsMatchFiniteDifferencesAwayFromTheKinks() {
        SplittableRandom random = new SplittableRandom(11);
        int n = 9;
        float[] old = new float[n], lp = new float[n], v = new float[n], oldV = new float[n];
        double[] adv = new double[n], ret = new double[n];
        for (int i = 0; i < n; i++) {
            old[i] = (float) random.nextDouble(-3, -0.5);
            lp[i] = old[i] + (float) random.nextDouble(-0.5, 0.5);
            adv[i] = random.nextDouble(-2, 2);
            oldV[i] = (float) random.nextDouble(-1, 1);
            v[i] = oldV[i] + (float) random.nextDouble(-0.5, 0.5);
            ret[i] = random.nextDouble(-1, 1);
        }
        PpoLoss.Result r = PpoLoss.compute(lp, old, v, oldV, adv, ret, 0.2, 0.2, 0.1, 10);
        double h = 1e-3;
        for (int i = 0; i < n; i++) {
            float[] up = lp.clone(), down = lp.clone();
            up[i] += (float) h;
            down[i] -= (float) h;
            double numeric = (loss(up, old, v, oldV, adv, ret) - loss(down, old, v, oldV, adv, ret)) / ((double) up[i] - down[i]);
            assertEquals(numeric, r.dLogProbs()[i], 2e-4, "dlogp " + i);
            float[] vu = v.clone(), vd = v.clone();
            vu[i] += (float) h;
            vd[i] -= (float) h;
            numeric = (loss(lp, old, vu, oldV, adv, ret) - loss(lp, old, vd, oldV, adv, ret)) / ((double) vu[i] - vd[i]);
            assertEquals(numeric, r.dValues()[i], 2e-4, "dvalue " + i);
        }
    }

    static double loss(float[] lp, float[] old, float[] v, float[] oldV, double[] adv, double[] ret) {
        return PpoLoss.compute(lp, old, v, oldV, adv, ret, 0.2, 0.2, 0.1, 10).loss();
    }

    @Test
    void aRunawayRatioZeroesTheLossAsTrlDoes() {
        float[] old = {-5, -5}, lp = {0, 0}; // ratio e^5 = 148
        PpoLoss.Result r = PpoLoss.compute(lp, old, new float[] {1, 1}, new float[] {0, 0}, new double[] {1, 1}, new double[] {0, 0},
                0.2, 0.2, 0.1, 10);
        assertTrue(r.skipped());
        assertEquals(0, r.loss(), 0);
        assertArrayEquals(new float[2], r.dLogProbs());
        assertArrayEquals(new float[2], r.dValues());
        assertTrue(r.ratioMean() > 100);
    }
}
