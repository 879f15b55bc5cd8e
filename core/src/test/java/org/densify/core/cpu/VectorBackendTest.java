package org.densify.core.cpu;

import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.util.stream.Stream;
import org.densify.core.Backend;
import org.densify.core.BackendConformance;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * {@link VectorBackend} (on two threads) against {@link ScalarBackend}: the conformance suite, and
 * every case bitwise the same on 1, 2 and 3 threads. GEMM's tile edges are {@link GemmTest}'s.
 */
class VectorBackendTest extends BackendConformance {
    private static final VectorBackend[] BY_THREADS = {
            new VectorBackend(new CpuThreads(1)), new VectorBackend(new CpuThreads(2)), new VectorBackend(new CpuThreads(3))};

    @Override
    protected Backend backend() {
        return BY_THREADS[1];
    }

    @TestFactory
    Stream<DynamicTest> bitwiseSameForAnyThreadCount() {
        return cases().stream().map(c -> dynamicTest(c.name(), () -> {
            double[][] one = c.run(BY_THREADS[0]);
            for (int k = 1; k < BY_THREADS.length; k++) {
                double[][] other = c.run(BY_THREADS[k]);
                for (int i = 0; i < one.length; i++) {
                    for (int j = 0; j < one[i].length; j++) {
                        if (Double.doubleToRawLongBits(one[i][j]) != Double.doubleToRawLongBits(other[i][j])) {
                            throw new AssertionError(c.name() + ", output " + i + "[" + j + "]: " + one[i][j]
                                    + " on 1 thread, " + other[i][j] + " on " + (k + 1));
                        }
                    }
                }
            }
        }));
    }
}
