package org.densify.core.model.gpt2;

import org.densify.core.model.Heads;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;

import static org.densify.core.model.gpt2.Gpt2ReferenceTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.densify.core.Backend;
import org.densify.core.cpu.CpuThreads;
import org.densify.core.cpu.ScalarBackend;
import org.densify.core.cpu.VectorBackend;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model on fresh random weights: fast backend vs scalar, ragged batches, the KV cache, determinism, save/load. */
public class Gpt2ModelTest {

    public static Gpt2Config config(int layers, int d, int heads, int vocab, int positions, int labels) {
        Gpt2Config.Builder b = Gpt2Config.builder().vocabSize(vocab).nPositions(positions).nEmbd(d).nLayer(layers).nHead(heads)
                .kind(labels > 0 ? ModelKind.SEQUENCE_CLASSIFIER : ModelKind.LM);
        if (labels > 0) b.numLabels(labels).padTokenId(vocab - 1);
        return b.build();
    }

    public static Gpt2Model randomModel(Backend backend, Gpt2Config config, Heads heads, long seed) {
        Gpt2Model m = Gpt2Model.create(backend, config, heads);
        m.initialize(seed);
        // Non-zero biases and layer-norm parameters, so their paths are exercised.
        SplittableRandom r = new SplittableRandom(seed + 1);
        for (ParameterLayout.Entry e : m.layout().entries()) {
            if (e.isMatrix()) continue;
            float[] v = new float[Math.toIntExact(e.length())];
            backend.read(m.parameter(e.name()), 0, v);
            for (int i = 0; i < v.length; i++) v[i] += (float) (0.1 * r.nextGaussian());
            backend.write(m.parameter(e.name()), 0, v);
        }
        return m;
    }

    public static int[][] randomSequences(int vocab, long seed, int... lengths) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] seqs = new int[lengths.length][];
        for (int s = 0; s < lengths.length; s++) seqs[s] = r.ints(lengths[s], 0, vocab).toArray();
        return seqs;
    }

    static float[] read(Backend b, org.densify.core.Tensor t) {
        float[] out = new float[Math.toIntExact(t.length())];
        b.read(t, 0, out);
        return out;
    }

    /** Forward (all heads, captured row) + loss + backward with head gradients; returns everything flattened. */
    static float[][] fullPass(Gpt2Model m, Batch batch) {
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
        return new float[][]{logits, values, concat(scores), row, {(float) loss}, read(m.backend(), m.gradients())};
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

    @Test
    void vectorBackendMatchesScalarOnEveryOutputAndGradient() {
        Gpt2Config c = config(2, 52, 4, 211, 48, 3);
        Batch batch = Batch.of(randomSequences(211, 7, 13, 1, 40, 5));
        float[][] ref, fast;
        try (Backend b = new ScalarBackend(); Gpt2Model m = randomModel(b, c, Heads.CLASSIFIER_AND_VALUE, 42)) {
            ref = fullPass(m, batch);
        }
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.CLASSIFIER_AND_VALUE, 42)) {
            fast = fullPass(m, batch);
        }
        String[] names = {"logits", "values", "scores", "captured row", "loss", "gradients"};
        for (int i = 0; i < names.length; i++) assertClose(ref[i], fast[i], i == 5 ? 1e-4 : 1e-5, names[i]);
    }

    @Test
    void resultsAreBitwiseTheSameForAnyThreadCount() {
        Gpt2Config c = config(2, 40, 5, 97, 64, 2);
        Batch batch = Batch.of(randomSequences(97, 3, 33, 2, 17));
        float[][] one = null;
        for (int threads : new int[]{1, 2, 3}) {
            try (Backend b = new VectorBackend(new CpuThreads(threads));
                 Gpt2Model m = randomModel(b, c, Heads.CLASSIFIER_AND_VALUE, 5)) {
                float[][] got = fullPass(m, batch);
                if (one == null) one = got;
                else for (int i = 0; i < got.length; i++) assertArrayEquals(one[i], got[i], "output " + i + " with " + threads + " threads");
            }
        }
    }

    @Test
    void scoresAtEveryTokenAreTheScoresOfEachPrefix() {
        Gpt2Config c = config(2, 36, 3, 101, 32, 2);
        int[][] seqs = randomSequences(101, 17, 6, 1, 9);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.CLASSIFIER, 3)) {
            float[][] every = m.forward(Batch.of(seqs), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)).scoresAtEveryToken();
            assertEquals(16, every.length);
            int at = 0;
            for (int[] seq : seqs) {
                for (int t = 1; t <= seq.length; t++) {
                    float[] prefixScore = m.forward(Batch.of(Arrays.copyOf(seq, t)), ForwardOptions.forInference()).scores()[0];
                    assertClose(prefixScore, every[at + t - 1], 1e-5, "prefix of " + t + " tokens");
                }
                at += seq.length;
            }
        }
    }

    @Test
    void scoresAtChosenTokensAreTheScoresOfThosePrefixes() {
        Gpt2Config c = config(2, 36, 3, 101, 32, 2);
        int[][] seqs = randomSequences(101, 19, 6, 1, 9);
        int[] positions = {2, 0, 8};
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.CLASSIFIER, 3)) {
            float[][] chosen = m.forward(Batch.of(seqs), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)).scoresAt(positions);
            for (int s = 0; s < seqs.length; s++) {
                float[] prefixScore = m.forward(Batch.of(Arrays.copyOf(seqs[s], positions[s] + 1)), ForwardOptions.forInference()).scores()[0];
                assertClose(prefixScore, chosen[s], 1e-5, "sequence " + s + " at token " + positions[s]);
            }
            Outputs out = m.forward(Batch.of(seqs), ForwardOptions.forInference());
            assertThrows(IllegalArgumentException.class, () -> out.scoresAt(new int[] {6, 0, 0}), "past the end of sequence 0");
        }
    }

    @Test
    void aRaggedBatchEqualsEachSequenceOnItsOwn() {
        Gpt2Config c = config(2, 36, 3, 101, 32, 0);
        int[][] seqs = randomSequences(101, 11, 9, 1, 30, 4);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 1)) {
            float[] together = read(b, m.forward(Batch.of(seqs), ForwardOptions.forInference()).logits());
            int at = 0;
            for (int[] seq : seqs) {
                float[] alone = read(b, m.forward(Batch.of(seq), ForwardOptions.forInference()).logits());
                assertClose(alone, Arrays.copyOfRange(together, at, at + alone.length), 1e-6, "sequence at " + at);
                at += alone.length;
            }
        }
    }

    @Test
    void lastLogitsEqualTheLastRowsOfAllLogits() {
        Gpt2Config c = config(1, 32, 2, 67, 32, 0);
        int[][] seqs = randomSequences(67, 12, 5, 9, 1);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 2)) {
            Batch batch = Batch.of(seqs);
            float[] all = read(b, m.forward(batch, ForwardOptions.forInference()).logits());
            Outputs lastOnly = m.forward(batch, ForwardOptions.forInference().withLogits(ForwardOptions.Logits.LAST));
            int[] last = batch.lastIndices();
            for (int s = 0; s < seqs.length; s++) {
                assertClose(Arrays.copyOfRange(all, last[s] * 67, (last[s] + 1) * 67), lastOnly.logitsRow(s), 1e-6, "sequence " + s);
            }
        }
    }

    @Test
    void generationWithTheCacheAgreesWithFullForwardPasses() {
        Gpt2Config c = config(2, 48, 3, 89, 40, 0);
        int[][] prompts = randomSequences(89, 21, 3, 1, 8);
        int[] maxNew = {6, 9, 0};
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 4)) {
            Generator.Result greedy = new Generator(m).generate(prompts, maxNew, new Sampler(0f, 0, 1f), 0, -1, null);
            for (int s = 0; s < prompts.length; s++) {
                assertEquals(maxNew[s], greedy.tokens()[s].length, "sequence " + s + " length");
                int[] seq = prompts[s];
                for (int i = 0; i < maxNew[s]; i++) {
                    float[] logits = m.forward(Batch.of(seq), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.LAST)).logitsRow(0);
                    assertEquals(Sampler.argmax(logits), greedy.tokens()[s][i], "greedy token " + i + " of sequence " + s);
                    assertEquals(Sampler.logProbability(logits, greedy.tokens()[s][i]), greedy.logProbs()[s][i], 1e-4, "log-probability");
                    seq = Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = greedy.tokens()[s][i];
                }
            }
        }
    }

    @Test
    void samplingIsReproducibleInTheSeedAndStopsAtTheStopToken() {
        Gpt2Config c = config(1, 32, 2, 50, 64, 0);
        int[][] prompts = randomSequences(50, 5, 4, 4, 2, 7);
        int[] maxNew = {30, 30, 30, 30};
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 9)) {
            Generator g = new Generator(m);
            Sampler sampler = new Sampler(1.3f, 20, 0.9f);
            Generator.Result a = g.generate(prompts, maxNew, sampler, 77, -1, null);
            Generator.Result again = g.generate(prompts, maxNew, sampler, 77, -1, null);
            Generator.Result other = g.generate(prompts, maxNew, sampler, 78, -1, null);
            assertTrue(Arrays.deepEquals(a.tokens(), again.tokens()), "same seed, same tokens");
            assertTrue(!Arrays.deepEquals(a.tokens(), other.tokens()), "another seed, other tokens");
            int at = 3; // the first draw of a token that sequence 0 has not drawn before, from index 3 on
            while (contains(Arrays.copyOf(a.tokens()[0], at), a.tokens()[0][at])) at++;
            int stop = a.tokens()[0][at];
            int[] streamed = new int[4];
            Generator.Result stopped = g.generate(prompts, maxNew, sampler, 77, stop, (s, token, lp) -> streamed[s]++);
            assertEquals(at + 1, stopped.tokens()[0].length, "sequence 0 stops on drawing the stop token");
            assertEquals(stop, stopped.tokens()[0][at]);
            for (int s = 0; s < 4; s++) assertEquals(stopped.tokens()[s].length, streamed[s], "every token streamed");
        }
    }

    static boolean contains(int[] values, int v) {
        for (int x : values) if (x == v) return true;
        return false;
    }

    @Test
    void topKAndTopPKeepOnlyTheMostLikelyTokens() {
        float[] logits = {0f, 3f, 1f, 2.9f, -5f};
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 200; i++) {
            int t = new Sampler(1f, 2, 1f).sample(logits, r);
            assertTrue(t == 1 || t == 3, "top-2 drew " + t);
            // probabilities 0.024, 0.478, 0.064, 0.433, 0.0002: 0.4 of the mass is reached by token 1 alone
            assertEquals(1, new Sampler(1f, 0, 0.4f).sample(logits, r), "top-p 0.4");
            int p = new Sampler(1f, 0, 0.5f).sample(logits, r);
            assertTrue(p == 1 || p == 3, "top-p 0.5 needs the two most likely tokens, drew " + p);
        }
        assertEquals(1, new Sampler(0f, 0, 1f).sample(logits, r), "temperature 0 is greedy");
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1f, 0, 0f));
        assertThrows(IllegalStateException.class, () -> Sampler.multinomial().sample(new float[]{0, Float.NaN}, r));
    }

    @Test
    void drawGivesTheTokenSampleDrawsAndTheBitsOfLogProbability() {
        SplittableRandom logitSource = new SplittableRandom(5);
        Sampler[] samplers = {Sampler.multinomial(), new Sampler(0.7f, 0, 1f), new Sampler(1f, 50, 1f),
                new Sampler(1f, 0, 0.9f), new Sampler(1.3f, 20, 0.8f), new Sampler(0f, 0, 1f)};
        for (Sampler sampler : samplers) {
            for (int trial = 0; trial < 50; trial++) {
                float[] logits = new float[301];
                for (int i = 0; i < logits.length; i++) logits[i] = (float) (logitSource.nextGaussian() * 4 - 20);
                long seed = logitSource.nextLong();
                Sampler.Draw draw = sampler.draw(logits, new SplittableRandom(seed));
                int token = sampler.sample(logits, new SplittableRandom(seed));
                assertEquals(token, draw.token(), sampler + ": same token as sample");
                assertEquals(Double.doubleToRawLongBits(Sampler.logProbability(logits, token)),
                        Double.doubleToRawLongBits(draw.logProbability()), sampler + ": same log-probability bits");
            }
        }
    }

    @Test
    void saveThenLoadGivesTheSameParameters(@TempDir Path dir) throws IOException {
        Gpt2Config c = config(2, 24, 2, 61, 16, 2);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.CLASSIFIER_AND_VALUE, 8)) {
            m.save(dir, ModelKind.SEQUENCE_CLASSIFIER);
            try (Gpt2Model back = Gpt2Model.load(b, dir)) {
                assertTrue(back.hasClassifier() && back.hasValueHead());
                assertArrayEquals(read(b, m.parameters()), read(b, back.parameters()));
            }
        }
    }

    @Test
    void badInputIsRefusedWithAClearMessage() {
        Gpt2Config c = config(1, 16, 2, 30, 8, 0);
        try (Backend b = new VectorBackend(); Gpt2Model m = randomModel(b, c, Heads.NONE, 1)) {
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(Batch.of(new int[]{1, 30}), ForwardOptions.forInference()));
            assertTrue(e.getMessage().contains("token id 30"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(Batch.of(new int[9]), ForwardOptions.forInference()));
            assertTrue(e.getMessage().contains("n_positions 8"), e.getMessage());
            Outputs out = m.forward(Batch.of(new int[]{1, 2}), ForwardOptions.forInference());
            assertThrows(IllegalStateException.class, () -> m.backward(out, null, null), "no backward after an inference pass");
            assertThrows(IllegalStateException.class, out::scores, "no classifier head");
            assertNotEquals(0, out.logitsRow(1).length);
            m.forward(Batch.of(new int[]{3}), ForwardOptions.forInference());
            var stale = assertThrows(IllegalStateException.class, () -> out.logitsRow(0), "outputs of an earlier pass");
            assertTrue(stale.getMessage().contains("stale"), stale.getMessage());
        }
    }
}
