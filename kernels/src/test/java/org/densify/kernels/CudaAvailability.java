package org.densify.kernels;

import org.junit.jupiter.api.Assumptions;

/** One probe of the CUDA backend per test JVM; GPU tests skip with its reason. */
final class CudaAvailability {
    private CudaAvailability() {
    }

    /** Null when a GPU, its driver, the packaged kernels and cuBLAS are all there. */
    static final String REASON = new CudaBackendProvider().unavailableReason();

    static void assumeGpu() {
        Assumptions.assumeTrue(REASON == null, () -> "GPU test skipped: the CUDA backend cannot run here: " + REASON);
    }
}
