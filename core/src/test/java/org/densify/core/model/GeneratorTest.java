package org.densify.core.model;

import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.gpt2.Gpt2ReferenceTest;

import static org.densify.core.model.gpt2.Gpt2ModelTest.config;
import static org.densify.core.model.gpt2.Gpt2ModelTest.randomModel;
import static org.densify.core.model.gpt2.Gpt2ModelTest.randomSequences;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.cpu.ScalarBackend;
import org.densify.core.cpu.VectorBackend;
import org.densify.loaders.model.Gpt2Config;
import org.junit.jupiter.api.Test;

/** The minimum completion length (Hugging Face's min_new_tokens), the attention rows recorded during generation, teacher forcing. */
class GeneratorTest {

    @Test
    void aBannedTokenIsNeverDrawnButKeepsItsShareOfTheLogProbability() {
        float[] logits = {0f, 6f, 1f, 0.5f}; // token 1 holds about 99 % of the mass
        double[] counts = new double[4];
        SplittableRandom random = new SplittableRandom(3);
        int draws = 20_000;
        for (int i = 0; i < draws; i++) {
            Sampler.Draw d = Sampler.multinomial().draw(logits, 1, random);
            counts[d.token()]++;
            assertEquals(Sampler.logProbability(logits, d.token()), d.logProbability(), 1e-12, "the raw model's log-probability");
        }
        assertEquals(0, counts[1], "the banned token is never drawn");
        // the others in proportion to exp(logit), renormalised without the banned one
        double z = Math.exp(0) + Math.exp(1) + Math.exp(0.5);
        assertEquals(Math.exp(1) / z, counts[2] / draws, 0.015);
        assertEquals(Math.exp(0.5) / z, counts[3] / draws, 0.015);
        assertEquals(2, new Sampler(0f, 0, 1f).draw(logits, 1, random).token(), "greedy takes the best allowed token");
        // a banned logit far above the rest must leave the others drawable, and the log-probability finite
        float[] extreme = {0f, 2000f, 1f};
        Sampler.Draw d = Sampler.multinomial().draw(extreme, 1, new SplittableRandom(1));
        assertNotEquals(1, d.token());
        assertEquals(Sampler.logProbability(extreme, d.token()), d.logProbability(), 1e-9);
        // no ban: the same token and the same bits as the plain draw
        Sampler.Draw plain = Sampler.multinomial().draw(logits, new SplittableRandom(9));
        Sampler.Draw none = Sampler.multinomial().draw(logits, -1, new SplittableRandom(9));
        assertEquals(plain, none);
    }

    @Test
    void theStopTokenIsBannedUntilTheMinimumLengthAndTheLogProbabilitiesStayRaw() {
        Gpt2Config c = config(2, 32, 2, 41, 48, 0);
        int[][] prompts = randomSequences(41, 13, 3, 5);
        Sampler greedy = new Sampler(0f, 0, 1f);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 6)) {
            Generator g = new Generator(m);
            // the stop token is sequence 0's first greedy choice: without a minimum it ends at once
            int stop = g.generate(prompts, new int[] {1, 1}, greedy, 0, -1, null).tokens()[0][0];
            Generator.Result free = g.generate(prompts, new int[] {10, 10}, greedy, 0, stop, null);
            assertEquals(1, free.tokens()[0].length, "without a minimum the first token ends the sequence");
            int[] min = {4, 2};
            Generator.Result held = g.generate(prompts, min, new int[] {10, 10}, greedy, 0, stop, Generator.Recording.NONE, null);
            for (int s = 0; s < prompts.length; s++) {
                int[] y = held.tokens()[s];
                assertTrue(y.length >= min[s], "sequence " + s + " has " + y.length + " tokens, fewer than its minimum " + min[s]);
                int[] seq = prompts[s];
                for (int i = 0; i < y.length; i++) {
                    float[] logits = m.forward(Batch.of(seq), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.LAST)).logitsRow(0);
                    if (i < min[s]) {
                        assertNotEquals(stop, y[i], "sequence " + s + " token " + i + " is inside the minimum");
                        float[] banned = logits.clone();
                        banned[stop] = Float.NEGATIVE_INFINITY;
                        assertEquals(Sampler.argmax(banned), y[i], "the best token other than the stop token");
                    } else {
                        assertEquals(Sampler.argmax(logits), y[i]);
                    }
                    // the model's own distribution (a plain forward), not the one the ban drew from
                    assertEquals(Sampler.logProbability(logits, y[i]), held.logProbs()[s][i], 1e-4, "log-probability " + s + "/" + i);
                    seq = Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = y[i];
                }
            }
            assertThrows(IllegalArgumentException.class,
                    () -> g.generate(prompts, new int[] {5, 0}, new int[] {4, 4}, greedy, 0, stop, Generator.Recording.NONE, null));
        }
    }

    @Test
    void recordedRowsAreTheLastLayerRowsOfTheFullAttentionMapsAndTeacherForcingRepeatsThem() {
        Gpt2Config c = config(3, 48, 4, 57, 40, 0);
        int[][] prompts = randomSequences(57, 31, 4, 1, 7);
        int[] min = {2, 3, 0};
        int[] max = {9, 6, 5};
        for (Backend b : new Backend[] {new ScalarBackend(), new VectorBackend()}) {
            try (b; Gpt2Model m = randomModel(b, c, Heads.NONE, 12)) {
                Generator g = new Generator(m);
                int stop = 7;
                Generator.Result r = g.generate(prompts, min, max, Sampler.multinomial(), 5, stop, Generator.Recording.LAST_LAYER_ROWS, null);
                for (int s = 0; s < prompts.length; s++) {
                    int P = prompts[s].length, N = r.tokens()[s].length;
                    assertEquals(N, r.attentionRows()[s].length, "one row per new token");
                    int[] seq = Arrays.copyOf(prompts[s], P + N);
                    System.arraycopy(r.tokens()[s], 0, seq, P, N);
                    Outputs out = m.forward(Batch.of(seq), ForwardOptions.forInference().withCapture(ForwardOptions.Capture.ALL_LAYERS));
                    float[] maps = out.attention(0, c.nLayer() - 1);
                    int T = seq.length, H = c.nHead();
                    for (int k = 0; k < N; k++) {
                        int query = P - 1 + k;
                        float[] expected = new float[P + k];
                        for (int j = 0; j < P + k; j++) {
                            double sum = 0;
                            for (int h = 0; h < H; h++) sum += maps[(h * T + query) * T + j];
                            expected[j] = (float) (sum / H);
                        }
                        Gpt2ReferenceTest.assertClose(expected, r.attentionRows()[s][k], 1e-5, b.name() + " sequence " + s + " row " + k);
                    }
                }
                Generator.Result forced = g.teacherForce(prompts, r.tokens(), Generator.Recording.LAST_LAYER_ROWS);
                assertTrue(Arrays.deepEquals(r.tokens(), forced.tokens()));
                assertTrue(Arrays.deepEquals(r.logProbs(), forced.logProbs()), "the same passes give the same log-probabilities");
                assertTrue(Arrays.deepEquals(r.attentionRows(), forced.attentionRows()), "the same passes give the same rows, bit for bit");
                assertEquals(null, g.generate(prompts, max, Sampler.multinomial(), 5, stop, null).attentionRows(), "recorded only on request");
            }
        }
    }

    @Test
    void recordingChangesNothingElse() {
        Gpt2Config c = config(2, 32, 2, 45, 32, 0);
        int[][] prompts = randomSequences(45, 2, 2, 6);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 1)) {
            Generator g = new Generator(m);
            Generator.Result plain = g.generate(prompts, new int[] {1, 2}, new int[] {8, 8}, Sampler.multinomial(), 4, 3, Generator.Recording.NONE, null);
            Generator.Result recorded = g.generate(prompts, new int[] {1, 2}, new int[] {8, 8}, Sampler.multinomial(), 4, 3,
                    Generator.Recording.LAST_LAYER_ROWS, null);
            assertTrue(Arrays.deepEquals(plain.tokens(), recorded.tokens()));
            for (int s = 0; s < 2; s++) assertArrayEquals(plain.logProbs()[s], recorded.logProbs()[s]);
        }
    }
}
