package org.densify.rlhf.credit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import org.densify.core.Backend;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Outputs;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reward pass on a tiny random reward model, against direct forwards of the same model. */
class RewardScorerTest {
    /** Everything the reward pass can capture: the last attention row and the reward at every prefix. */
    private static final Set<CreditInput> BOTH_INPUTS = Set.of(CreditInput.REWARD_ATTENTION, CreditInput.PREFIX_REWARDS);

    @TempDir
    static Path dir;
    static TinyRewardPass pass;
    static Backend backend;
    static RewardModel rm;
    static int[][] prompts, completions;

    @BeforeAll
    static void setUp() throws IOException {
        pass = TinyRewardPass.open(dir);
        backend = pass.backend;
        rm = pass.rm;
        prompts = pass.prompts;
        completions = pass.completions;
    }

    @AfterAll
    static void tearDown() {
        pass.close();
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
        ScoredCompletion[] got = new RewardScorer(rm, rm.tokenizer()).score(prompts, completions, BOTH_INPUTS);
        LanguageModel m = rm.model();
        int L = m.shape().layers(), NH = m.shape().heads();
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
        ScoredCompletion[] a = direct.score(prompts, completions, BOTH_INPUTS), b = reread.score(prompts, completions, BOTH_INPUTS);
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
        ScoredCompletion[] got = new RewardScorer(rm, tok, true).score(new int[][] {prompts[0]}, new int[][] {chars}, BOTH_INPUTS);
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
     * A completion that ends on end-of-text is read as the authors' scripts read it (pad_token_id =
     * end-of-text, the end-of-text shown to the reward model): the score at the token before the
     * end-of-text, the attention row at the end-of-text itself, over every completion column
     * including the end-of-text. Checked against full forwards, on both tokenizer paths, for a reward
     * model with and without a pad token in its config (the authors set it either way).
     */
    @Test
    void endOfTextThatEndsACompletionIsShownButNotScored() throws IOException {
        var tok = rm.tokenizer();
        int eot = tok.eotId();
        Path tokenizer = dir.resolve("tokenizer");
        Path folder = TinyFixtures.writeModel(dir.resolve("rm-padded"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER,
                TinyFixtures.config(64).toBuilder().padTokenId(eot).build(), 9);
        try (RewardModel padded = RewardModel.load(backend, folder)) {
            for (RewardModel model : new RewardModel[] {padded, rm}) {
                LanguageModel m = model.model();
                int L = m.shape().layers(), NH = m.shape().heads();
                int[] plain = completions[0], ended = join(plain, new int[] {eot});
                int N = plain.length, P = prompts[0].length;
                int[] full = join(prompts[0], ended);
                int T = full.length;
                Outputs direct = m.forward(Batch.of(full), ForwardOptions.forInference().withCapture(ForwardOptions.Capture.ALL_LAYERS));
                float atEot = RewardModel.scalar(direct.scores()[0]);
                float[] maps = direct.attention(0, L - 1);
                float[] lastRow = new float[N + 1];
                for (int t = 0; t <= N; t++) {
                    double mean = 0;
                    for (int h = 0; h < NH; h++) mean += maps[(h * T + T - 1) * T + P + t];
                    lastRow[t] = (float) (mean / NH);
                }
                float beforeEot = RewardModel.scalar(m.forward(Batch.of(join(prompts[0], plain)), ForwardOptions.forInference()).scores()[0]);
                assertTrue(Math.abs(atEot - beforeEot) > 1e-4, "the two read positions must differ for this test to mean anything");
                for (boolean reread : new boolean[] {false, true}) {
                    String path = (model == padded ? "pad in config, " : "no pad in config, ") + (reread ? "re-read text: " : "same ids: ");
                    ScoredCompletion[] got = new RewardScorer(model, tok, reread).score(new int[][] {prompts[0], prompts[0], prompts[1]},
                            new int[][] {plain, ended, {eot}}, BOTH_INPUTS);
                    assertEquals(beforeEot, got[1].reward(), 1e-5f, path + "scored at the token before the end-of-text");
                    assertEquals(got[0].reward(), got[1].reward(), 1e-6f, path + "so the end-of-text does not change the reward");
                    assertArrayEquals(lastRow, got[1].rewardAttention(), 1e-6f, path + "attention from the end-of-text's own row, its column included");
                    assertTrue(got[1].rewardAttention()[N] > 0, path + "the end-of-text column has weight");
                    assertEquals(got[1].reward(), got[1].prefixRewards()[N], 1e-6f, path + "the prefix through the end-of-text is the whole text");
                    assertArrayEquals(got[0].prefixRewards(), Arrays.copyOf(got[1].prefixRewards(), N), 1e-6f, path);
                    assertEquals(0f, new Credit.PrefixDiff().assign(got[1])[N], 1e-6f, path);
                    double abc = 0;
                    for (float r : new Credit.Abc(0.8).assign(got[1])) abc += r;
                    assertEquals(got[1].reward(), abc, 1e-5, path + "ABC sums to R");
                    // only end-of-text: the prompt's score, and the end-of-text's row over its own column
                    float promptScore = RewardModel.scalar(m.forward(Batch.of(prompts[1]), ForwardOptions.forInference()).scores()[0]);
                    assertEquals(promptScore, got[2].reward(), 1e-5f, path + "an end-of-text completion scores as its prompt");
                    assertTrue(got[2].rewardAttention()[0] > 0, path);
                    assertArrayEquals(new float[] {got[2].reward()}, new Credit.Abc(0.8).assign(got[2]), 1e-6f, path + "all of R on the one token");
                }
            }
        }
    }

    @Test
    void emptyCompletionsAndOverlongInputsAreRefused() {
        RewardScorer scorer = new RewardScorer(rm, rm.tokenizer());
        assertThrows(IllegalArgumentException.class, () -> scorer.score(new int[][] {prompts[0]}, new int[][] {{}}, CreditInput.REWARD_ONLY));
        int[] longOne = new int[70];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> scorer.score(new int[][] {prompts[0]}, new int[][] {longOne}, CreditInput.REWARD_ONLY));
        assertTrue(e.getMessage().contains("n_positions"), e.getMessage());
    }
}
