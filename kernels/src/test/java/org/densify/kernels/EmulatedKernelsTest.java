package org.densify.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.regex.Pattern;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Heads;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Outputs;
import org.densify.core.model.llama.LlamaModel;
import org.junit.jupiter.api.Test;

/**
 * The conformance suite on the CPU emulator of the kernels (see src/test/emu/emu.h): the real
 * kernel sources and the real {@link CudaBackend}, on a machine without a GPU. Needs g++; skipped
 * with the reason when the emulator cannot be built.
 */
class EmulatedKernelsTest extends CudaConformance {

    /** Where a GPU is usable, {@link CudaBackendTest} runs the same suite on it: no need to emulate. */
    @Override
    String unavailableReason() {
        if (CudaAvailability.REASON == null) return "a GPU is here: CudaBackendTest runs this suite on it";
        return EmulatedDevice.unavailableReason();
    }

    @Override
    CudaBackend open() {
        return new CudaBackend(new EmulatedDevice());
    }

    /**
     * The emulator runs the threads of a block in a different random order every time, so running
     * twice shows races on shared memory; only kernels whose threads communicate can have them.
     */
    @Override
    List<Case> repeatableCases() {
        return cases().stream().filter(c -> COMMUNICATING.matcher(c.name()).lookingAt()).toList();
    }

    private static final Pattern COMMUNICATING = Pattern.compile("attention(Forward|Backward).* NH=3 |attentionCached.* NH=4 |"
            + "groupedAttention(Forward|Backward).* H=3 |groupedAttentionCached.* H=8 |"
            + "sumOfSquares n=32891|biasBackward M=300|"
            + "embeddingBackward N=37|layerNorm(Forward|Backward) N=300|rmsNorm(Forward|Backward) N=300|crossEntropy N=(37|2 V=50257)|tokenLogProbs N=(37|2 V=50257)");

    @Test
    void trainingStepsAllocateNothingAfterTheFirst() {
        EmulatedDevice device = new EmulatedDevice();
        try (CudaBackend backend = new CudaBackend(device)) {
            try (Gpt2Model m = randomModel(backend, config(1, 16, 2, 23, 8, 0), Heads.NONE, 3)) {
                checkSteadyTraining(device, backend, m);
            }
            try (LlamaModel m = randomModel(backend, llamaConfig("qwen2", 1, 12, 3, 1, 4, 23, ""), Heads.NONE, 3)) {
                checkSteadyTraining(device, backend, m);
            }
        }
        assertEquals(0, device.liveAllocations(), "closing the backend frees everything");
    }

    /** Twenty training steps: device allocations and free memory after the first stay as they are. */
    private static void checkSteadyTraining(EmulatedDevice device, CudaBackend backend, LanguageModel m) {
        try (AdamW adam = AdamW.forPretraining(m)) {
            Batch batch = Batch.of(randomSequences(23, 5, 6, 3));
            int after = -1;
            long free = -1;
            for (int step = 0; step < 20; step++) {
                Outputs out = m.forward(batch, ForwardOptions.forTraining().withCapture(ForwardOptions.Capture.LAST_ROW));
                m.languageModelLoss(out);
                m.zeroGradients();
                m.backward(out, null, null);
                adam.step(1e-3f, 1f);
                if (step == 0) {
                    after = device.liveAllocations();
                    free = backend.memoryInfo()[0];
                }
            }
            assertEquals(after, device.liveAllocations(), m.family() + ": allocations after step 1 vs step 20");
            assertEquals(free, backend.memoryInfo()[0], m.family() + ": free bytes after step 1 vs step 20");
        }
    }
}
