package org.densify.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CaptureCostBenchmarkTest {
    @Test
    void intervalIsOnePointNineSixStandardErrorsOfTheMean() {
        // 1, 2, 3 and a value past n that must be ignored: mean 2, sample sd 1, se 1/sqrt(3)
        double[] stats = CaptureCostBenchmark.meanAndHalfWidth(new double[] {1, 2, 3, 100}, 3);
        assertEquals(2.0, stats[0], 1e-12);
        assertEquals(1.96 / Math.sqrt(3), stats[1], 1e-12);
    }
}
