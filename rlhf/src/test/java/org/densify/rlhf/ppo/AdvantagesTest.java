package org.densify.rlhf.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** GAE and whitening against their direct definitions in float64. */
class AdvantagesTest {

    @Test
    void gaeEqualsTheDiscountedSumOfTdErrorsAndIsWhitenedOverTheBatch() {
        SplittableRandom r = new SplittableRandom(4);
        int[] lengths = {5, 1, 8};
        double gamma = 0.97, lambda = 0.9;
        double[][] rewards = new double[3][], values = new double[3][];
        for (int s = 0; s < 3; s++) {
            rewards[s] = r.doubles(lengths[s], -2, 2).toArray();
            values[s] = r.doubles(lengths[s], -1, 1).toArray();
        }
        Advantages.Result got = Advantages.compute(rewards, values, gamma, lambda);
        // A_t = sum_l (gamma lambda)^l delta_{t+l}, V after the last token = 0
        double[][] raw = new double[3][];
        double sum = 0;
        int n = 0;
        for (int s = 0; s < 3; s++) {
            int N = lengths[s];
            raw[s] = new double[N];
            for (int t = 0; t < N; t++) {
                double a = 0;
                for (int l = 0; t + l < N; l++) {
                    int k = t + l;
                    double delta = rewards[s][k] + gamma * (k + 1 < N ? values[s][k + 1] : 0) - values[s][k];
                    a += Math.pow(gamma * lambda, l) * delta;
                }
                raw[s][t] = a;
                sum += a;
                n++;
                assertEquals(a + values[s][t], got.returns()[s][t], 1e-12, "returns use the advantage before whitening");
            }
        }
        double mean = sum / n, var = 0;
        for (double[] row : raw) for (double a : row) var += (a - mean) * (a - mean);
        var /= n - 1;
        for (int s = 0; s < 3; s++) {
            for (int t = 0; t < lengths[s]; t++) {
                assertEquals((raw[s][t] - mean) / Math.sqrt(var + 1e-8), got.advantages()[s][t], 1e-12);
            }
        }
    }

    @Test
    void withGammaOneAndZeroValuesTheReturnIsTheRewardToGo() {
        double[][] rewards = {{1, 2, 3}, {4, 0}};
        double[][] values = {{0, 0, 0}, {0, 0}};
        Advantages.Result got = Advantages.compute(rewards, values, 1, 1);
        assertEquals(6, got.returns()[0][0], 0);
        assertEquals(5, got.returns()[0][1], 0);
        assertEquals(3, got.returns()[0][2], 0);
        assertEquals(4, got.returns()[1][0], 0);
    }

    @Test
    void klControllerFollowsTheProportionalRule() {
        KlController kl = KlController.adaptive(0.2, 6, 10_000);
        kl.update(9, 16); // error clipped to 0.2
        assertEquals(0.2 * (1 + 0.2 * 16 / 10_000.0), kl.value(), 1e-15);
        double before = kl.value();
        kl.update(4.5, 256); // error 4.5/6 - 1 = -0.25 -> -0.2
        assertEquals(before * (1 - 0.2 * 256 / 10_000.0), kl.value(), 1e-15);
        before = kl.value();
        kl.update(6.6, 16); // error 0.1
        assertEquals(before * (1 + 0.1 * 16 / 10_000.0), kl.value(), 1e-15);
        KlController fixed = KlController.fixed(0.05);
        fixed.update(100, 16);
        assertEquals(0.05, fixed.value(), 0);
    }
}
