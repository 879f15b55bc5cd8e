package org.densify.loaders.model;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FiniteWeightsTest {

    /** Every position (vector body and scalar tail, lengths around the vector width) and every kind of non-finite value is found. */
    @Test
    void findsEachNonFiniteValueWhereverItIs() {
        SplittableRandom random = new SplittableRandom(7);
        for (int n : new int[] {1, 3, 8, 15, 16, 17, 33, 100}) {
            float[] values = new float[n];
            for (int i = 0; i < n; i++) values[i] = (float) (random.nextGaussian() * 1e30);
            assertDoesNotThrow(() -> FiniteWeights.check(values, "w", "f.safetensors"));
            for (int at = 0; at < n; at++) {
                for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                    float keep = values[at];
                    values[at] = bad;
                    int where = at;
                    ModelFormatException e = assertThrows(ModelFormatException.class, () -> FiniteWeights.check(values, "h.0.attn.c_attn.weight", "m.safetensors"));
                    assertTrue(e.getMessage().equals("m.safetensors: tensor 'h.0.attn.c_attn.weight' holds " + bad + " at element " + where
                            + " (of " + n + "): the model's weights must be finite"), e.getMessage());
                    values[at] = keep;
                }
            }
        }
    }

    @Test
    void theLargestFiniteValuesPass() {
        assertDoesNotThrow(() -> FiniteWeights.check(new float[] {Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, 0f, -0f}, "w", "f"));
    }
}
