package org.densify.rlhf.credit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reward pass on a tiny random reward model, against direct forwards of the same model. */
class RewardScorerTest {
    @TempDir
    static Path dir;
    static Backend backend;
    static RewardModel rm;
    static int[][] prompts, completions;

    @BeforeAll
    static void setUp() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        Path model = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 9);
        backend = Backends.create("cpu");
        rm = RewardModel.load(backend, model);
        var tok = rm.tokenizer();
        prompts = new int[][] {tok.encode("The film was"), tok.encode("I"), tok.encode("The acting and the plot")};
        completions = new int[][] {tok.encode(" wonderful and clever."), tok.encode(" hated it"), tok.encode(" were dreadful. I loved it, review 7.")};
    }

    @AfterAll
    static void tearDown() {
        rm.close();
        backend.close();
    }

    static int[] join(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static float rewardOf(int[] ids) {
        return RewardModel.scalar(rm.model().forward(Batch.of(ids), ForwardOptions.forInference()).scores()[0]);
    }

    @Test
    void rewardsAttentionAndPrefixScoresMatchDirectForwards() {
        ScoredCompletion[] got = new RewardScorer(rm, rm.tokenizer()).score(prompts, completions, true, true);
        Gpt2Model m = rm.model();
        int L = m.config().nLayer(), NH = m.config().nHead();
        for (int s = 0; s < prompts.length; s++) {
            int[] ids = join(prompts[s], completions[s]);
            int T = ids.length, P = prompts[s].length, N = completions[s].length;
            Outputs out = m.forward(Batch.of(ids), ForwardOptions.forInference().withCapture(ForwardOptions.Capture.ALL_LAYERS));
            assertEquals(RewardModel.scalar(out.scores()[0]), got[s].reward(), 1e-5, "reward " + s);
            float[] maps = out.attention(0, L - 1); // [NH][T][T]
            float[] expected = new float[N];
            for (int t = 0; t < N; t++) {
                double mean = 0;
                for (int h = 0; h < NH; h++) mean += maps[(h * T + T - 1) * T + P + t];
                expected[t] = (float) (mean / NH);
            }
            assertArrayEquals(expected, got[s].rewardAttention(), 1e-6f, "attention " + s);
            assertEquals(rewardOf(prompts[s]), got[s].promptReward(), 1e-5, "prompt score " + s);
            for (int t = 0; t < N; t++) {
                assertEquals(rewardOf(Arrays.copyOf(ids, P + t + 1)), got[s].prefixRewards()[t], 1e-5, "prefix " + s + ", " + t);
            }
            double abc = 0;
            for (float r : new Credit.Abc(0.8).assign(got[s])) abc += r;
            assertEquals(got[s].reward(), abc, 1e-5, "ABC credit sums to R");
        }
    }

    @Test
    void rereadingTheTextGivesTheSameResultWhenTheTokensAreCanonical() {
        RewardScorer direct = new RewardScorer(rm, rm.tokenizer());
        assertTrue(direct.sharesTokenizer());
        RewardScorer reread = new RewardScorer(rm, rm.tokenizer(), true);
        assertFalse(reread.sharesTokenizer());
        ScoredCompletion[] a = direct.score(prompts, completions, true, true), b = reread.score(prompts, completions, true, true);
        for (int s = 0; s < a.length; s++) {
            assertEquals(a[s].reward(), b[s].reward(), 0f);
            assertArrayEquals(a[s].rewardAttention(), b[s].rewardAttention(), 0f);
            assertArrayEquals(a[s].prefixRewards(), b[s].prefixRewards(), 0f);
        }
    }

    @Test
    void rereadingMapsMergedTokensOntoThePolicyTokensTheyStartIn() {
        // The policy split " wonderful" into single characters; the reward model reads its own tokens and
        // each of them is credited to the character token it starts in.
        var tok = rm.tokenizer();
        int[] chars = " wonderful".chars().map(c -> tok.encode(Character.toString(c))[0]).toArray();
        ScoredCompletion[] got = new RewardScorer(rm, tok, true).score(new int[][] {prompts[0]}, new int[][] {chars}, true, true);
        int[] ids = join(prompts[0], tok.encode(" wonderful"));
        assertEquals(rewardOf(ids), got[0].reward(), 1e-5);
        int nonZero = 0;
        double mass = 0;
        for (float a : got[0].rewardAttention()) {
            if (a != 0) nonZero++;
            mass += a;
        }
        assertEquals(tok.encode(" wonderful").length, nonZero, "one policy token per reward-model token receives mass");
        assertTrue(mass > 0 && mass <= 1, "mass " + mass);
        assertEquals(got[0].reward(), got[0].prefixRewards()[chars.length - 1], 1e-5, "the last prefix is the whole text");
    }

    /**
     * A completion that ends on end-of-text is scored as Hugging Face's classifier scores it with
     * pad_token_id = end-of-text: at the last token before it. Its end-of-text tokens get no attention
     * and no prefix score of their own; a completion of end-of-text only is the prompt's score, and
     * ABC then leaves the reward on the last token.
     */
    @Test
    void endOfTextThatEndsACompletionIsNotScored() throws IOException {
        var tok = rm.tokenizer();
        int eot = tok.eotId();
        Path tokenizer = dir.resolve("tokenizer");
        Path folder = TinyFixtures.writeModel(dir.resolve("rm-padded"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER,
                TinyFixtures.config(64).toBuilder().padTokenId(eot).build(), 9);
        try (RewardModel padded = RewardModel.load(backend, folder)) {
            int[] plain = completions[0], ended = join(plain, new int[]{eot, eot});
            for (boolean reread : new boolean[]{false, true}) {
                RewardScorer scorer = new RewardScorer(padded, tok, reread);
                ScoredCompletion[] got = scorer.score(new int[][]{prompts[0], prompts[0], prompts[1]},
                        new int[][]{plain, ended, {eot}}, true, true);
                String path = reread ? "re-read text: " : "same ids: ";
                int N = plain.length;
                assertEquals(got[0].reward(), got[1].reward(), 0f, path + "the trailing end-of-text does not change the reward");
                assertArrayEquals(got[0].rewardAttention(), Arrays.copyOf(got[1].rewardAttention(), N), 0f, path + "nor the attention");
                assertArrayEquals(new float[]{0, 0}, Arrays.copyOfRange(got[1].rewardAttention(), N, N + 2), 0f, path + "which skips the end-of-text");
                assertArrayEquals(got[0].prefixRewards(), Arrays.copyOf(got[1].prefixRewards(), N), 0f, path);
                assertEquals(got[0].reward(), got[1].prefixRewards()[N + 1], 0f, path + "the prefix through the end-of-text is the whole text");
                float[] prefixCredit = new Credit.PrefixDiff().assign(got[1]);
                assertEquals(0f, prefixCredit[N], 0f, path);
                assertEquals(0f, prefixCredit[N + 1], 0f, path);
                float[] abc = new Credit.Abc(0.8).assign(got[1]);
                assertEquals(0.2f * got[1].reward(), abc[N + 1], 1e-6f, path + "(1 - beta) R still lands on the last token");
                // only end-of-text: the reward model reads the prompt alone
                promptOnly(got[2], padded, prompts[1], path);
            }
            // Without a pad token the reward model reads the policy's ids to their end, as Hugging Face does.
            ScoredCompletion unpadded = new RewardScorer(rm, tok).score(new int[][]{prompts[0]}, new int[][]{ended}, false, false)[0];
            assertEquals(rewardOf(join(prompts[0], ended)), unpadded.reward(), 1e-5f);
        }
    }

    /** The checks of a completion that is end-of-text only. */
    private static void promptOnly(ScoredCompletion s, RewardModel padded, int[] prompt, String path) {
        float promptScore = RewardModel.scalar(padded.model().forward(Batch.of(prompt), ForwardOptions.forInference()).scores()[0]);
        assertEquals(promptScore, s.reward(), 1e-5f, path + "the reward of an end-of-text completion is the prompt's");
        assertArrayEquals(new float[]{0}, s.rewardAttention(), 0f, path);
        assertArrayEquals(new float[]{s.reward()}, new Credit.Abc(0.8).assign(s), 0f, path + "ABC has nothing to spread over");
        assertArrayEquals(new float[]{0f}, new Credit.PrefixDiff().assign(s), 1e-6f, path);
    }

    @Test
    void emptyCompletionsAndOverlongInputsAreRefused() {
        RewardScorer scorer = new RewardScorer(rm, rm.tokenizer());
        assertThrows(IllegalArgumentException.class, () -> scorer.score(new int[][] {prompts[0]}, new int[][] {{}}, false, false));
        int[] longOne = new int[70];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> scorer.score(new int[][] {prompts[0]}, new int[][] {longOne}, false, false));
        assertTrue(e.getMessage().contains("n_positions"), e.getMessage());
    }
}
