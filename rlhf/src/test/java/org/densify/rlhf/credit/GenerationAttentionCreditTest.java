package org.densify.rlhf.credit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ABC-D on a small random policy: the rows recorded during generation against the rows of a training
 * forward's full attention maps of the same sequences, position by position, and the credit of both
 * against the authors' formula; teacher forcing (what {@code densify score} uses) gives the same.
 */
class GenerationAttentionCreditTest {
    @TempDir
    Path dir;

    @Test
    void abcDFromGenerationMatchesTheFullAttentionMapsOfTheSameSequences() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        Path policy = TinyFixtures.writeModel(dir.resolve("policy"), tokenizer, ModelKind.LM, 48, 17);
        try (Backend backend = Backends.create("cpu"); ModelFolder folder = ModelFolder.open(policy);
             Gpt2Model m = Gpt2Model.load(backend, folder, Heads.NONE, 0)) {
            int[][] prompts = {{5, 9, 40}, {7}, {3, 3, 8, 100, 21, 6}};
            int[] min = {6, 4, 5}, max = {12, 9, 5};
            Generator g = new Generator(m);
            Generator.Result r = g.generate(prompts, min, max, Sampler.multinomial(), 11, -1, Generator.Recording.LAST_LAYER_ROWS, null);
            Generator.Result forced = g.teacherForce(prompts, r.tokens(), Generator.Recording.LAST_LAYER_ROWS);
            int L = m.config().nLayer(), H = m.config().nHead();
            for (int s = 0; s < prompts.length; s++) {
                int P = prompts[s].length, N = r.tokens()[s].length;
                assertTrue(N >= min[s]);
                int[] seq = Arrays.copyOf(prompts[s], P + N);
                System.arraycopy(r.tokens()[s], 0, seq, P, N);
                Outputs out = m.forward(Batch.of(seq), ForwardOptions.forTraining());
                float[] maps = out.attention(0, L - 1);
                int T = seq.length;
                float[][] fromMaps = new float[N][];
                for (int k = 0; k < N; k++) {
                    int query = P - 1 + k;
                    fromMaps[k] = new float[k];
                    for (int j = 0; j < k; j++) {
                        double sum = 0;
                        for (int h = 0; h < H; h++) sum += maps[(h * T + query) * T + P + j];
                        fromMaps[k][j] = (float) (sum / H);
                    }
                }
                float[][] recorded = ScoredCompletion.completionColumns(r.attentionRows()[s], P);
                for (int k = 0; k < N; k++) assertArrayEquals(fromMaps[k], recorded[k], 2e-6f, "sequence " + s + " step " + k);
                float reward = 1.7f;
                ScoredCompletion generated = new ScoredCompletion(N, reward, null, null, recorded, null, Float.NaN);
                ScoredCompletion teacher = new ScoredCompletion(N, reward, null, null,
                        ScoredCompletion.completionColumns(forced.attentionRows()[s], P), null, Float.NaN);
                for (boolean lastOnly : new boolean[] {false, true}) {
                    Credit credit = lastOnly ? new Credit.AbcD2(0.8) : new Credit.AbcD(0.8);
                    double[] authors = CreditTest.authorsDistribution(fromMaps, lastOnly);
                    float[] got = credit.assign(generated);
                    for (int t = 0; t < N; t++) {
                        assertEquals(0.8 * reward * authors[t] + (t == N - 1 ? 0.2 * reward : 0), got[t], 1e-5,
                                credit.name() + " sequence " + s + " token " + t);
                    }
                    assertEquals(0f, got[0], 0f, credit.name() + ": the first token gets nothing from attention");
                    assertArrayEquals(got, credit.assign(teacher), credit.name() + ": teacher forcing gives what generation recorded");
                }
            }
        }
    }
}
