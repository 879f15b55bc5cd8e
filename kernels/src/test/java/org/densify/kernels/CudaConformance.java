package org.densify.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.densify.core.Backend;
import org.densify.core.BackendConformance;
import org.densify.core.Tensor;
import org.densify.core.cpu.VectorBackend;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Heads;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;
import org.densify.core.model.llama.LlamaModel;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.ModelFormatException;
import org.densify.loaders.model.ModelKind;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

/**
 * What a CUDA backend must do: every op against the scalar backend ({@link BackendConformance},
 * from core's test jar), bitwise repeatability, and, against the CPU backend ({@link VectorBackend})
 * on fresh random inputs, the whole GPT-2 and Llama-family models (forward with the captured last
 * row, loss, backward, an AdamW step), generation with the KV cache, and argument checking.
 * Subclasses supply the backend: a real GPU ({@link CudaBackendTest}) or the CPU emulator of the
 * kernels ({@link EmulatedKernelsTest}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class CudaConformance extends BackendConformance {
    static final VectorBackend CPU = new VectorBackend();
    CudaBackend gpu;

    /** Null when the backend under test can run here, else why not (each test is then skipped with it). */
    abstract String unavailableReason();

    /** The backend under test, created once before the first test that runs. */
    abstract CudaBackend open();

    @Override
    protected Backend backend() {
        return gpu;
    }

    /** The op cases to run twice and compare bit for bit. */
    List<Case> repeatableCases() {
        return cases();
    }

    @BeforeEach
    void start() {
        String why = unavailableReason();
        Assumptions.assumeTrue(why == null, () -> getClass().getSimpleName() + " skipped: " + why);
        if (gpu == null) gpu = open();
    }

    @AfterAll
    void stop() {
        if (gpu != null) gpu.close();
    }

    @TestFactory
    Stream<DynamicTest> everyOpIsBitwiseRepeatable() {
        return repeatableCases().stream().map(c -> dynamicTest(c.name(), () -> {
            double[][] one = c.run(gpu), two = c.run(gpu);
            for (int i = 0; i < one.length; i++) {
                for (int j = 0; j < one[i].length; j++) {
                    if (Double.doubleToRawLongBits(one[i][j]) != Double.doubleToRawLongBits(two[i][j])) {
                        throw new AssertionError(c.name() + ", output " + i + "[" + j + "]: " + one[i][j] + " then " + two[i][j]);
                    }
                }
            }
        }));
    }

    // ---- the model ---------------------------------------------------------------------------

    static Gpt2Config config(int layers, int d, int heads, int vocab, int positions, int labels) {
        Gpt2Config.Builder b = Gpt2Config.builder().vocabSize(vocab).nPositions(positions).nEmbd(d).nLayer(layers).nHead(heads)
                .kind(labels > 0 ? ModelKind.SEQUENCE_CLASSIFIER : ModelKind.LM);
        if (labels > 0) b.numLabels(labels).padTokenId(vocab - 1);
        return b.build();
    }

    /** GPT-2's initialisation plus noise on biases and layer-norm parameters, so their paths are exercised. */
    static Gpt2Model randomModel(Backend backend, Gpt2Config config, Heads heads, long seed) {
        Gpt2Model m = Gpt2Model.create(backend, config, heads);
        m.initialize(seed);
        perturbVectors(m, seed + 1);
        return m;
    }

    /** Hugging Face's initialisation plus noise on biases and norm weights, so their paths are exercised. */
    static LlamaModel randomModel(Backend backend, LlamaConfig config, Heads heads, long seed) {
        LlamaModel m = LlamaModel.create(backend, config, heads);
        m.initialize(seed);
        perturbVectors(m, seed + 1);
        return m;
    }

    private static void perturbVectors(LanguageModel m, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (ParameterLayout.Entry e : m.layout().entries()) {
            if (e.isMatrix()) continue;
            float[] v = new float[Math.toIntExact(e.length())];
            m.backend().read(m.parameter(e.name()), 0, v);
            for (int i = 0; i < v.length; i++) v[i] += (float) (0.1 * r.nextGaussian());
            m.backend().write(m.parameter(e.name()), 0, v);
        }
    }

    /**
     * A tiny Llama-family config: {@code family} is the model_type, {@code extra} more JSON fields.
     * Initialised with std 0.2 rather than 0.02 so attention is far from uniform.
     */
    static LlamaConfig llamaConfig(String family, int layers, int d, int heads, int kvHeads, int headDim, int vocab, String extra) {
        String json = "{\"model_type\": \"" + family + "\", \"vocab_size\": " + vocab + ", \"hidden_size\": " + d
                + ", \"intermediate_size\": " + (3 * d) + ", \"num_hidden_layers\": " + layers + ", \"num_attention_heads\": " + heads
                + ", \"num_key_value_heads\": " + kvHeads + ", \"head_dim\": " + headDim + ", \"max_position_embeddings\": 64"
                + ", \"num_labels\": 3, \"pad_token_id\": " + (vocab - 1) + ", \"initializer_range\": 0.2" + extra + "}";
        try {
            return LlamaConfig.parse(json, "test config");
        } catch (ModelFormatException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static int[][] randomSequences(int vocab, long seed, int... lengths) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] seqs = new int[lengths.length][];
        for (int s = 0; s < lengths.length; s++) seqs[s] = r.ints(lengths[s], 0, vocab).toArray();
        return seqs;
    }

    static float[] read(Backend b, Tensor t) {
        float[] out = new float[Math.toIntExact(t.length())];
        b.read(t, 0, out);
        return out;
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    /** Forward (all heads, captured last row) + loss + backward with head gradients + one AdamW step. */
    static float[][] fullPass(LanguageModel m, Batch batch) {
        Outputs out = m.forward(batch, ForwardOptions.forTraining().withCapture(ForwardOptions.Capture.LAST_ROW));
        float[] logits = read(m.backend(), out.logits());
        float[] values = out.values();
        float[][] scores = out.scores();
        float[] row = concat(out.lastRowAttention());
        double loss = m.languageModelLoss(out);
        float[] dvalues = new float[values.length];
        for (int i = 0; i < dvalues.length; i++) dvalues[i] = (float) Math.sin(i);
        float[][] dscores = new float[scores.length][scores[0].length];
        for (int s = 0; s < scores.length; s++) for (int j = 0; j < scores[s].length; j++) dscores[s][j] = 0.5f - s + j;
        m.zeroGradients();
        m.backward(out, dvalues, dscores);
        float[] grads = read(m.backend(), m.gradients());
        float[] updates;
        try (AdamW adam = AdamW.forPretraining(m)) {
            float[] before = read(m.backend(), m.parameters());
            adam.step(1e-2f, 1f);
            updates = read(m.backend(), m.parameters());
            for (int i = 0; i < updates.length; i++) updates[i] -= before[i];
        }
        return new float[][] {logits, values, concat(scores), row, {(float) loss}, grads, updates};
    }

    @Test
    void wholeModelMatchesTheCpuBackend() {
        Gpt2Config c = config(2, 52, 4, 211, 48, 3);
        Batch batch = Batch.of(randomSequences(211, 7, 13, 1, 40, 5));
        float[][] ref, got;
        try (Gpt2Model m = randomModel(CPU, c, Heads.CLASSIFIER_AND_VALUE, 42)) {
            ref = fullPass(m, batch);
        }
        try (Gpt2Model m = randomModel(gpu, c, Heads.CLASSIFIER_AND_VALUE, 42)) {
            got = fullPass(m, batch);
        }
        String[] names = {"logits", "values", "scores", "captured last rows", "loss", "gradients", "AdamW updates"};
        double[] tolerances = {1e-5, 1e-5, 1e-5, 1e-5, 1e-5, 1e-4, 1e-4};
        for (int i = 0; i < names.length; i++) {
            double err = relativeError(got[i], ref[i]);
            assertTrue(err <= tolerances[i], names[i] + ": relative error " + err + " > " + tolerances[i]);
        }
    }

    /**
     * Qwen2 (q/k/v biases, untied head) with GQA 3:1 and head size 6, Qwen3 (per-head q/k norms)
     * with GQA 4:1, and Llama with llama3 rotary scaling and a tied head, on ragged batches.
     */
    @Test
    void wholeLlamaFamilyModelMatchesTheCpuBackend() {
        LlamaConfig[] configs = {
                llamaConfig("qwen2", 2, 20, 3, 1, 6, 97, ""),
                llamaConfig("qwen3", 2, 24, 4, 1, 8, 89, ", \"tie_word_embeddings\": true"),
                llamaConfig("llama", 1, 32, 4, 2, 8, 101, ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 4.0,"
                        + " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 16}")};
        for (LlamaConfig c : configs) {
            Batch batch = Batch.of(randomSequences(c.vocabSize() - 1, 7, 13, 1, 40, 5));
            float[][] ref, got;
            try (LlamaModel m = randomModel(CPU, c, Heads.CLASSIFIER_AND_VALUE, 42)) {
                ref = fullPass(m, batch);
            }
            try (LlamaModel m = randomModel(gpu, c, Heads.CLASSIFIER_AND_VALUE, 42)) {
                got = fullPass(m, batch);
            }
            String[] names = {"logits", "values", "scores", "captured last rows", "loss", "gradients", "AdamW updates"};
            double[] tolerances = {1e-5, 1e-5, 1e-5, 1e-5, 1e-5, 1e-4, 1e-4};
            for (int i = 0; i < names.length; i++) {
                double err = relativeError(got[i], ref[i]);
                assertTrue(err <= tolerances[i], c.family() + " " + names[i] + ": relative error " + err + " > " + tolerances[i]);
            }
        }
    }

    @Test
    void generationWithTheCacheAgreesWithFullForwardPasses() {
        Gpt2Config c = config(2, 24, 3, 89, 40, 0);
        try (Gpt2Model m = randomModel(gpu, c, Heads.NONE, 4)) {
            checkGeneration(m, 89);
        }
    }

    @Test
    void llamaGenerationWithTheCacheAgreesWithFullForwardPasses() {
        LlamaConfig c = llamaConfig("qwen2", 2, 24, 4, 1, 6, 89, "");
        try (LlamaModel m = randomModel(gpu, c, Heads.NONE, 4)) {
            checkGeneration(m, 89);
        }
    }

    /** Greedy generation with the KV cache: each token and its log-probability as full forward passes give them. */
    private static void checkGeneration(LanguageModel m, int vocab) {
        int[][] prompts = randomSequences(vocab, 21, 3, 1, 8);
        int[] maxNew = {4, 6, 0};
        Generator.Result greedy = new Generator(m).generate(prompts, maxNew, new Sampler(0f, 0, 1f), 0, -1, null);
        for (int s = 0; s < prompts.length; s++) {
            assertEquals(maxNew[s], greedy.tokens()[s].length, "sequence " + s + " length");
            int[] seq = prompts[s];
            for (int i = 0; i < maxNew[s]; i++) {
                float[] logits = m.forward(Batch.of(seq), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.LAST)).logitsRow(0);
                assertEquals(argmax(logits), greedy.tokens()[s][i], "greedy token " + i + " of sequence " + s);
                assertEquals(Sampler.logProbability(logits, greedy.tokens()[s][i]), greedy.logProbs()[s][i], 1e-4, "log-probability");
                seq = Arrays.copyOf(seq, seq.length + 1);
                seq[seq.length - 1] = greedy.tokens()[s][i];
            }
        }
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    // ---- argument checks ---------------------------------------------------------------------

    @Test
    void badArgumentsAreRejectedBeforeAnyLaunch() {
        try (Env e = new Env(gpu, 1)) {
            int C = 3, V = 5, maxT = 4;
            Tensor wte = e.random(V * C, 1), wpe = e.random(maxT * C, 1), out = e.nan(2 * C);
            var badToken = assertThrows(IllegalArgumentException.class,
                    () -> gpu.embeddingForward(out, new int[] {0, 5}, new int[] {0, 1}, wte, wpe, C));
            assertTrue(badToken.getMessage().contains("5"), badToken.getMessage());
            var negative = assertThrows(IllegalArgumentException.class,
                    () -> gpu.embeddingBackward(wte, wpe, out, new int[] {-3, 1}, new int[] {0, 1}, C));
            assertTrue(negative.getMessage().contains("-3"), negative.getMessage());
            var badTarget = assertThrows(IllegalArgumentException.class,
                    () -> gpu.crossEntropy(e.nan(2), null, e.random(2 * V, 1), new int[] {1, 17}, 1f, 2, V));
            assertTrue(badTarget.getMessage().contains("17"), badTarget.getMessage());
            var small = assertThrows(IllegalArgumentException.class,
                    () -> gpu.matmul(e.nan(6), e.random(6, 1), e.random(5, 1), null, 2, 3, 3, false, false, false));
            assertTrue(small.getMessage().contains("has 5 floats"), small.getMessage());
            var heads = assertThrows(IllegalArgumentException.class,
                    () -> gpu.attentionForward(e.nan(6), null, null, e.random(18, 1), new int[] {2}, 2, 3));
            assertTrue(heads.getMessage().contains("NH = 2"), heads.getMessage());
            var slice = assertThrows(IndexOutOfBoundsException.class, () -> gpu.write(out, 5, new float[] {1, 2}));
            assertTrue(slice.getMessage().contains("6 floats"), slice.getMessage());
        }
        // nothing above reached the device: it still works
        try (Env e = new Env(gpu, 2)) {
            Tensor x = e.random(10, 1);
            assertEquals(Arrays.stream(e.read(x)).map(v -> v * v).sum(), gpu.sumOfSquares(x, 10), 1e-5);
        }
    }

    @Test
    void foreignAndFreedTensorsAreRejected() {
        Tensor cpuTensor = CPU.allocate(4);
        var foreign = assertThrows(IllegalArgumentException.class, () -> gpu.zero(cpuTensor));
        assertTrue(foreign.getMessage().contains("CpuTensor"), foreign.getMessage());
        CPU.free(cpuTensor);
        Tensor t = gpu.allocate(8);
        assertArrayEquals(new float[8], read(gpu, t), "allocate() zero-fills");
        Tensor part = t.slice(2, 4);
        assertThrows(IllegalArgumentException.class, () -> gpu.free(part), "a slice is not freed");
        gpu.free(t);
        var used = assertThrows(IllegalStateException.class, () -> gpu.scale(part, 2f, 4));
        assertTrue(used.getMessage().contains("after free"), used.getMessage());
    }
}
