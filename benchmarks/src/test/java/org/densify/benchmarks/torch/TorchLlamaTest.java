package org.densify.benchmarks.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.AdamW;
import org.densify.core.model.Generator;
import org.densify.core.model.Heads;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;
import org.densify.core.model.llama.LlamaModel;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.ModelFormatException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The PyTorch 2.7 peer against Densify on tiny Llama-family models (fast): same losses, same
 * training steps, same samples, for plain Llama (GQA, tied head) and the variants' own pieces.
 */
class TorchLlamaTest {
    private static final int VOCAB = 101;

    /** Tiny configs: 2 layers, d 48, 6 query heads sharing 2 key/value heads, F 96; each variant adds its own pieces. */
    enum Variant {
        /** Plain Llama as SmolLM2 is: tied head, rope_theta 1e5, rms_norm_eps 1e-5. */
        LLAMA("\"model_type\": \"llama\", \"tie_word_embeddings\": true, \"rope_theta\": 100000.0, \"rms_norm_eps\": 1e-5"),
        /**
         * Llama 3.1's rotary rescaling, its bands placed so that hd 8's four wavelengths (6.3, 20, 63, 199 at
         * theta 100) fall one in the kept band, two in the interpolated one and one in the divided one;
         * q/k/v/o biases, untied head.
         */
        LLAMA3_SCALED_WITH_BIASES("\"model_type\": \"llama\", \"tie_word_embeddings\": false, \"attention_bias\": true, "
                + "\"rope_theta\": 100.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
                + "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}"),
        /** Qwen2: q/k/v biases, no o bias, untied head. */
        QWEN2("\"model_type\": \"qwen2\", \"tie_word_embeddings\": false, \"rope_theta\": 1000000.0"),
        /** Qwen3: per-head q/k RMSNorm, head_dim 12 (H x hd = 72 differs from d). */
        QWEN3("\"model_type\": \"qwen3\", \"tie_word_embeddings\": true, \"head_dim\": 12");

        final String fields;

        Variant(String fields) {
            this.fields = fields;
        }

        LlamaConfig config() throws ModelFormatException {
            return LlamaConfig.parse("{" + fields + ", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 48, \"intermediate_size\": 96, "
                    + "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"num_key_value_heads\": 2, "
                    + "\"max_position_embeddings\": 48}", "TorchLlamaTest " + name());
        }
    }

    private Backend backend;
    private NDManager manager;

    @BeforeEach
    void setUp() {
        backend = Backends.create("cpu");
        manager = TorchRuntime.start(2);
    }

    @AfterEach
    void tearDown() {
        manager.close();
        backend.close();
    }

    /**
     * Hugging Face's initialisation, then the vectors it leaves at 1 (norms) or 0 (biases) set to
     * random values, so that the norms' weights and the biases take part in the comparison from the start.
     */
    private LlamaModel model(Variant variant, long seed) throws ModelFormatException {
        LlamaModel model = LlamaModel.create(backend, variant.config(), Heads.NONE);
        model.initialize(seed);
        SplittableRandom r = new SplittableRandom(seed + 100);
        for (ParameterLayout.Entry e : model.layout().entries()) {
            if (e.isMatrix()) continue;
            float[] values = new float[Math.toIntExact(e.length())];
            boolean norm = e.name().endsWith("norm.weight");
            for (int i = 0; i < values.length; i++) values[i] = (float) ((norm ? 1 : 0) + 0.1 * r.nextGaussian());
            backend.write(model.parameters(), e.offset(), values);
        }
        return model;
    }

    private static int[][] randomTokens(int sequences, int length, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] tokens = new int[sequences][];
        for (int s = 0; s < sequences; s++) tokens[s] = r.ints(length, 0, VOCAB).toArray();
        return tokens;
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void lossesAgreeBeforeAndAfterOneTrainingStep(Variant variant) throws ModelFormatException {
        PeerAgreement.Optimizer optimizer = PeerAgreement.Optimizer.PRETRAINING;
        try (LlamaModel model = model(variant, 7); TorchLlama peer = new TorchLlama(manager, model); AdamW adamW = optimizer.densify(model)) {
            PeerAgreement.Losses losses = PeerAgreement.check(model, adamW, peer, randomTokens(3, 20, 1), optimizer);
            // random init predicts about uniformly: the loss is near ln(vocab), and the step lowers it
            assertEquals(Math.log(VOCAB), losses.densifyForward(), 0.5, losses.toString());
            assertTrue(losses.densifyAfterStep() < losses.densifyTraining(), losses.toString());
            assertTrue(losses.worstRelativeDifference() < PeerAgreement.TOLERANCE, losses.toString());
            assertEquals(losses.densifyGradNorm(), losses.torchGradNorm(), 1e-3 * losses.densifyGradNorm(), losses.toString());
            assertParametersAgree(model, peer);
            // the second step runs on the first step's moments on both sides
            PeerAgreement.Losses again = PeerAgreement.check(model, adamW, peer, randomTokens(2, 40, 2), optimizer);
            assertTrue(again.worstRelativeDifference() < PeerAgreement.TOLERANCE, again.toString());
            assertParametersAgree(model, peer);
        }
    }

    /** Every parameter after the optimiser steps, elementwise (AdamW's first steps move each weight by about lr). */
    private void assertParametersAgree(LlamaModel model, TorchLlama peer) {
        for (ParameterLayout.Entry e : model.layout().entries()) {
            float[] ours = new float[Math.toIntExact(e.length())];
            backend.read(model.parameters(), e.offset(), ours);
            float[] theirs = peer.parameterValues(e.name());
            for (int i = 0; i < ours.length; i++) assertEquals(ours[i], theirs[i], 1e-5, e.name() + "[" + i + "]");
        }
    }

    @Test
    void theCheckFailsOnDifferentWeights() throws ModelFormatException {
        try (LlamaModel model = model(Variant.LLAMA, 7); TorchLlama peer = new TorchLlama(manager, model);
             AdamW adamW = PeerAgreement.Optimizer.PRETRAINING.densify(model)) {
            model.initialize(8);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> PeerAgreement.check(model, adamW, peer, randomTokens(2, 16, 3), PeerAgreement.Optimizer.PRETRAINING));
            assertTrue(e.getMessage().contains("disagrees"), e.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(Variant.class)
    void samplingWithTheKvCacheDrawsDensifysTokens(Variant variant) throws ModelFormatException {
        int[][] prompts = randomTokens(4, 6, 4);
        int[] maxNew = new int[prompts.length];
        Arrays.fill(maxNew, 30);
        try (LlamaModel model = model(variant, 9); TorchLlama peer = new TorchLlama(manager, model)) {
            Generator.Result ours = new Generator(model).generate(prompts, maxNew, Sampler.multinomial(), 5, -1, null);
            int[][] theirs = peer.generate(prompts, 30, Sampler.multinomial(), 5);
            for (int s = 0; s < prompts.length; s++) assertArrayEquals(ours.tokens()[s], theirs[s], variant + " sequence " + s);
        }
    }

    @Test
    void refusesAModelWithAValueHead() throws ModelFormatException {
        try (LlamaModel model = LlamaModel.create(backend, Variant.LLAMA.config(), Heads.VALUE)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new TorchLlama(manager, model));
            assertTrue(e.getMessage().contains("value head"), e.getMessage());
        }
    }
}
