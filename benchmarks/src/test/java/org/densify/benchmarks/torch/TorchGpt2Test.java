package org.densify.benchmarks.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.AdamW;
import org.densify.core.model.Generator;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The PyTorch 2.7 peer against Densify on a tiny GPT-2 (fast): same losses, same training step, same samples. */
class TorchGpt2Test {
    private static final int VOCAB = 211;

    private Backend backend;
    private Gpt2Model model;
    private NDManager manager;

    @BeforeEach
    void setUp() {
        backend = Backends.create("cpu");
        Gpt2Config config = Gpt2Config.builder().vocabSize(VOCAB).nPositions(48).nEmbd(48).nLayer(2).nHead(4)
                .kind(ModelKind.LM).build();
        model = Gpt2Model.create(backend, config, Heads.NONE);
        model.initialize(7);
        manager = TorchRuntime.start(2);
    }

    @AfterEach
    void tearDown() {
        manager.close();
        model.close();
        backend.close();
    }

    private static int[][] randomTokens(int sequences, int length, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] tokens = new int[sequences][];
        for (int s = 0; s < sequences; s++) tokens[s] = r.ints(length, 0, VOCAB).toArray();
        return tokens;
    }

    @Test
    void lossesAgreeBeforeAndAfterOneTrainingStep() {
        PeerAgreement.Optimizer optimizer = PeerAgreement.Optimizer.PRETRAINING;
        try (TorchGpt2 peer = new TorchGpt2(manager, model); AdamW adamW = optimizer.densify(model)) {
            PeerAgreement.Losses losses = PeerAgreement.check(model, adamW, peer, randomTokens(3, 20, 1), optimizer);
            // random init predicts about uniformly: the loss is near ln(vocab), and the step lowers it
            assertEquals(Math.log(VOCAB), losses.densifyForward(), 0.5, losses.toString());
            assertTrue(losses.densifyAfterStep() < losses.densifyTraining(), losses.toString());
            assertTrue(losses.worstRelativeDifference() < PeerAgreement.TOLERANCE, losses.toString());
            assertEquals(losses.densifyGradNorm(), losses.torchGradNorm(), 1e-3 * losses.densifyGradNorm(), losses.toString());
            assertParametersAgree(peer);
            // the second step runs on the first step's moments on both sides
            PeerAgreement.Losses again = PeerAgreement.check(model, adamW, peer, randomTokens(2, 33, 2), optimizer);
            assertTrue(again.worstRelativeDifference() < PeerAgreement.TOLERANCE, again.toString());
            assertParametersAgree(peer);
        }
    }

    /** Every parameter after the optimiser steps, elementwise (AdamW's first steps move each weight by about lr). */
    private void assertParametersAgree(TorchGpt2 peer) {
        for (ParameterLayout.Entry e : model.layout().entries()) {
            float[] ours = new float[Math.toIntExact(e.length())];
            backend.read(model.parameters(), e.offset(), ours);
            float[] theirs = peer.parameterValues(e.name());
            for (int i = 0; i < ours.length; i++) assertEquals(ours[i], theirs[i], 1e-5, e.name() + "[" + i + "]");
        }
    }

    @Test
    void theCheckFailsOnDifferentWeights() {
        try (TorchGpt2 peer = new TorchGpt2(manager, model); AdamW adamW = PeerAgreement.Optimizer.PRETRAINING.densify(model)) {
            model.initialize(8);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> PeerAgreement.check(model, adamW, peer, randomTokens(2, 16, 3), PeerAgreement.Optimizer.PRETRAINING));
            assertTrue(e.getMessage().contains("disagrees"), e.getMessage());
        }
    }

    @Test
    void samplingWithTheKvCacheDrawsDensifysTokens() {
        int[][] prompts = randomTokens(4, 6, 4);
        int[] maxNew = new int[prompts.length];
        Arrays.fill(maxNew, 12);
        Generator.Result ours = new Generator(model).generate(prompts, maxNew, Sampler.multinomial(), 5, -1, null);
        try (TorchGpt2 peer = new TorchGpt2(manager, model)) {
            int[][] theirs = peer.generate(prompts, 12, Sampler.multinomial(), 5);
            for (int s = 0; s < prompts.length; s++) assertArrayEquals(ours.tokens()[s], theirs[s], "sequence " + s);
        }
    }

    @Test
    void runsAtTheRequestedThreadCount() {
        assertTrue(TorchRuntime.describe().contains("libtorch " + TorchRuntime.LIBTORCH_VERSION), TorchRuntime.describe());
        assertTrue(TorchRuntime.describe().contains("2 intra-op threads"), TorchRuntime.describe());
    }
}
