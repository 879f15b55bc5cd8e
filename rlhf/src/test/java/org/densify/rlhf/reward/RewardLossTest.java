package org.densify.rlhf.reward;

import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.loaders.model.Gpt2Config;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

import static org.junit.jupiter.api.Assertions.*;

class RewardLossTest {
    private static final double TOL = 1e-6;

    @Test
    void twoLabelCrossEntropyMatchesHandComputedValues() {
        float[] g = new float[2];
        assertEquals(Math.log(2), RewardLoss.classification(new float[]{0, 0}, 1, g, 1), TOL);
        assertArrayEquals(new float[]{0.5f, -0.5f}, g, 1e-7f);

        // logits [1, 3], label 0: log(e + e^3) - 1 = 2.126928; softmax [0.119203, 0.880797]
        assertEquals(2.1269280110429727, RewardLoss.classification(new float[]{1, 3}, 0, g, 1), TOL);
        assertArrayEquals(new float[]{-0.8807971f, 0.8807971f}, g, 1e-6f);

        // the gradient carries the batch's 1/B scale
        RewardLoss.classification(new float[]{1, 3}, 0, g, 0.25);
        assertArrayEquals(new float[]{-0.8807971f / 4, 0.8807971f / 4}, g, 1e-6f);
    }

    @Test
    void oneLabelIsTheLogisticLossOfTheScalarReward() {
        float[] g = new float[1];
        assertEquals(0.12692801104297263, RewardLoss.classification(new float[]{2}, 1, g, 1), TOL); // log(1 + e^-2)
        assertEquals(-0.11920292f, g[0], 1e-7f);
        assertEquals(2.1269280110429727, RewardLoss.classification(new float[]{2}, 0, g, 1), TOL); // log(1 + e^2)
        assertEquals(0.8807971f, g[0], 1e-6f);
        // the 2-label loss is the same function of logit1 - logit0
        assertEquals(RewardLoss.classification(new float[]{2}, 1, null, 1), RewardLoss.classification(new float[]{-0.5f, 1.5f}, 1, null, 1), 1e-12);
    }

    @Test
    void bradleyTerryMatchesHandComputedValues() {
        float[] gc = new float[1], gr = new float[1];
        // d = 2 - 0.5 = 1.5: -log sigmoid(1.5) = 0.201413; dL/dd = -sigmoid(-1.5) = -0.182426
        assertEquals(0.20141327798275246, RewardLoss.bradleyTerry(new float[]{2}, new float[]{0.5f}, gc, gr, 1), TOL);
        assertEquals(-0.18242552f, gc[0], 1e-7f);
        assertEquals(0.18242552f, gr[0], 1e-7f);

        // two labels: r = logit1 - logit0, so r_chosen = 1, r_rejected = -1, d = 2
        float[] gc2 = new float[2], gr2 = new float[2];
        assertEquals(0.12692801104297263, RewardLoss.bradleyTerry(new float[]{0, 1}, new float[]{1, 0}, gc2, gr2, 0.5), TOL);
        float h = 0.11920292f / 2;
        assertArrayEquals(new float[]{h, -h}, gc2, 1e-7f);
        assertArrayEquals(new float[]{-h, h}, gr2, 1e-7f);
        assertTrue(RewardLoss.prefers(new float[]{0, 1}, new float[]{1, 0}));
        assertFalse(RewardLoss.prefers(new float[]{3}, new float[]{3}), "a tie is not a preference");
    }

    @Test
    void extremeLogitsStayFinite() {
        float[] g = new float[2];
        assertEquals(2000, RewardLoss.classification(new float[]{1000, -1000}, 1, g, 1), 1e-9);
        assertArrayEquals(new float[]{1, -1}, g);
        assertEquals(0, RewardLoss.classification(new float[]{-1000, 1000}, 1, g, 1), 1e-12);
        float[] one = new float[1];
        assertEquals(500, RewardLoss.classification(new float[]{-500}, 1, one, 1), 1e-9);
        assertEquals(-1, one[0], 1e-7f);
        float[] gc = new float[1], gr = new float[1];
        assertEquals(100, RewardLoss.bradleyTerry(new float[]{-50}, new float[]{50}, gc, gr, 1), 1e-9);
        assertEquals(-1, gc[0], 1e-7f);
        assertTrue(Double.isNaN(RewardLoss.classification(new float[]{Float.NaN, 0}, 0, g, 1)), "a NaN logit must give a NaN loss, never a number");
    }

    @Test
    void accuracyReadsTheSignOfTheReward() {
        assertTrue(RewardLoss.correct(new float[]{0, 1}, 1));
        assertFalse(RewardLoss.correct(new float[]{0, 1}, 0));
        assertTrue(RewardLoss.correct(new float[]{0.5f, 0.5f}, 0), "a tie is argmax label 0");
        assertTrue(RewardLoss.correct(new float[]{-0.1f}, 0));
        assertTrue(RewardLoss.correct(new float[]{0.1f}, 1));
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        SplittableRandom random = new SplittableRandom(7);
        for (int trial = 0; trial < 20; trial++) {
            int labels = 1 + trial % 2;
            float[] a = randomLogits(random, labels), b = randomLogits(random, labels);
            int label = trial / 2 % 2;
            float[] g = new float[labels];
            RewardLoss.classification(a, label, g, 1);
            checkGradient(a, g, x -> RewardLoss.classification(x, label, null, 1));

            float[] gc = new float[labels], gr = new float[labels];
            RewardLoss.bradleyTerry(a, b, gc, gr, 1);
            checkGradient(a, gc, x -> RewardLoss.bradleyTerry(x, b, null, null, 1));
            checkGradient(b, gr, x -> RewardLoss.bradleyTerry(a, x, null, null, 1));
        }
    }

    /** The Bradley–Terry gradient taken through the whole model (score head and trunk) matches a finite difference of the loss. */
    @Test
    void bradleyTerryGradientThroughTheModelMatchesFiniteDifferences() {
        Gpt2Config config = Gpt2Config.builder().vocabSize(40).nPositions(16).nEmbd(16).nLayer(1).nHead(2).numLabels(1).dropout(0, 0, 0).build();
        try (Backend backend = Backends.create("cpu"); Gpt2Model model = Gpt2Model.create(backend, config, Heads.CLASSIFIER)) {
            model.initialize(3);
            float[] head = new float[16];
            for (int i = 0; i < head.length; i++) head[i] = (i % 3 - 1) * 0.5f;
            backend.write(model.parameter("score.weight"), 0, head);
            // two pairs, chosen rows first: the trainer's layout
            Batch batch = Batch.of(new int[]{1, 5, 9}, new int[]{2, 7}, new int[]{1, 5, 8, 3}, new int[]{2, 6});
            ToDoubleFunction<float[][]> loss = s -> (RewardLoss.bradleyTerry(s[0], s[2], null, null, 1) + RewardLoss.bradleyTerry(s[1], s[3], null, null, 1)) / 2;

            model.zeroGradients();
            Outputs o = model.forward(batch, new ForwardOptions(ForwardOptions.Logits.NONE, ForwardOptions.Capture.NONE, true));
            float[][] s = o.scores(), ds = new float[4][1];
            RewardLoss.bradleyTerry(s[0], s[2], ds[0], ds[2], 0.5);
            RewardLoss.bradleyTerry(s[1], s[3], ds[1], ds[3], 0.5);
            model.backward(o, null, ds);

            for (String name : new String[]{"score.weight", "h.0.mlp.c_fc.weight", "wte.weight"}) {
                float[] grad = new float[Math.toIntExact(model.layout().get(name).length())];
                backend.read(model.gradient(name), 0, grad);
                float[] p = new float[grad.length];
                backend.read(model.parameter(name), 0, p);
                int at = name.equals("wte.weight") ? 5 * 16 + 3 : 7; // token 5 appears in both pairs
                float eps = 1e-2f, keep = p[at];
                double[] f = new double[2];
                for (int side = 0; side < 2; side++) {
                    p[at] = keep + (side == 0 ? eps : -eps);
                    backend.write(model.parameter(name), 0, p);
                    f[side] = loss.applyAsDouble(model.forward(batch, ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)).scores());
                }
                p[at] = keep;
                backend.write(model.parameter(name), 0, p);
                double numeric = (f[0] - f[1]) / (2 * eps);
                assertTrue(Math.abs(grad[at]) > 1e-4, name + ": the checked gradient should not be ~0 (" + grad[at] + ")");
                assertEquals(numeric, grad[at], 2e-3 + 2e-2 * Math.abs(numeric), name + "[" + at + "]");
            }
        }
    }

    private static float[] randomLogits(SplittableRandom random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (random.nextGaussian() * 3);
        return x;
    }

    private static void checkGradient(float[] x, float[] grad, ToDoubleFunction<float[]> f) {
        for (int i = 0; i < x.length; i++) {
            float keep = x[i];
            float up = keep + 1e-2f, down = keep - 1e-2f;
            x[i] = up;
            double fu = f.applyAsDouble(x);
            x[i] = down;
            double fd = f.applyAsDouble(x);
            x[i] = keep;
            double numeric = (fu - fd) / ((double) up - down);
            assertEquals(numeric, grad[i], 1e-4 + 1e-4 * Math.abs(numeric), "d/dx[" + i + "] at " + java.util.Arrays.toString(x));
        }
    }
}
