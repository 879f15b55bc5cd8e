package org.densify.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.util.List;
import java.util.stream.Stream;
import org.densify.core.model.Heads;
import org.densify.core.Tensor;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Outputs;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The conformance suite on a real GPU (device {@code -Ddensify.cuda.device}, fp32 GEMMs), plus
 * what only a GPU can show: TF32 GEMMs within their bound, no device-memory growth over 1,000
 * training steps, and an out-of-memory error that names the sizes. Skipped with the probe's
 * reason where the CUDA backend cannot run.
 */
class CudaBackendTest extends CudaConformance {
    private static final double TF32 = 3e-3;

    @Override
    String unavailableReason() {
        return CudaAvailability.REASON == null ? null : "no GPU: " + CudaAvailability.REASON;
    }

    @Override
    CudaBackend open() {
        CudaBackend b = new CudaBackend(Integer.getInteger("densify.cuda.device", 0), false);
        System.out.println("CUDA tests on " + b.deviceDescription());
        return b;
    }

    @TestFactory
    Stream<DynamicTest> tf32MatmulIsWithinItsBound() {
        List<Case> cases = matmulCases(TF32);
        CudaBackend tf32 = new CudaBackend(Integer.getInteger("densify.cuda.device", 0), true);
        return cases.stream().map(c -> dynamicTest(c.name(), () -> {
            double[][] ref = c.run(CPU), got = c.run(tf32);
            double err = relativeError(got[0], ref[0]);
            assertTrue(err <= TF32, c.name() + ": relative error " + err);
        })).onClose(tf32::close);
    }

    @Test
    void deviceMemoryDoesNotGrowOverAThousandTrainingSteps() {
        try (Gpt2Model m = randomModel(gpu, config(2, 64, 4, 97, 32, 0), Heads.NONE, 3);
             AdamW adam = AdamW.forPretraining(m)) {
            Batch batch = Batch.of(randomSequences(97, 5, 17, 3, 32));
            long before = 0;
            for (int step = 0; step < 1000; step++) {
                Outputs out = m.forward(batch, ForwardOptions.forTraining().withCapture(ForwardOptions.Capture.LAST_ROW));
                m.languageModelLoss(out);
                m.zeroGradients();
                m.backward(out, null, null);
                adam.step(1e-3f, 1f);
                if (step == 0) {
                    gpu.synchronize();
                    before = gpu.memoryInfo()[0];
                }
            }
            gpu.synchronize();
            long drift = before - gpu.memoryInfo()[0];
            assertTrue(Math.abs(drift) <= 4L << 20, "free device memory moved by " + drift + " bytes over 999 steps");
        }
    }

    @Test
    void outOfMemoryNamesTheSizes() {
        long total = gpu.memoryInfo()[1];
        var e = assertThrows(OutOfMemoryError.class, () -> gpu.allocate(total / 4 * 2)); // 2x the device, in floats
        assertTrue(e.getMessage().contains(String.valueOf(total / 4 * 2 * 4)) && e.getMessage().contains("free of"), e.getMessage());
        Tensor t = gpu.allocate(3); // the backend is still usable
        gpu.write(t, 0, new float[] {1, 2, 3});
        float[] back = new float[3];
        gpu.read(t, 0, back);
        assertArrayEquals(new float[] {1, 2, 3}, back);
        gpu.free(t);
    }
}
