package org.densify.rlhf.credit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.densify.core.Backend;
import org.densify.core.model.Generator;
import org.densify.core.model.Heads;
import org.densify.core.model.Sampler;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;
import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.ppo.PpoStep;
import org.densify.rlhf.ppo.PpoTrainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rewards written in Java: what the function sees, what credit makes of its number, and a PPO step taken with it. */
class FunctionRewardsTest {
    /** Prefers completions that call it wonderful, and shorter ones otherwise: any deterministic function of the text does. */
    private static final RewardFunction WONDERFUL = c -> c.completionText().contains("wonderful") ? 1.5 : -0.25 * c.completionIds().length;

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

    @Test
    void theFunctionSeesEachCompletionAsTextAndIdsAndGivesItsReward() {
        List<Completion> seen = new ArrayList<>();
        RewardFunction recording = c -> {
            seen.add(c);
            return WONDERFUL.reward(c);
        };
        ScoredCompletion[] scored = FunctionRewards.of(recording, rm.tokenizer()).score(prompts, completions, CreditInput.REWARD_ONLY);
        assertEquals(3, seen.size());
        for (int s = 0; s < 3; s++) {
            Completion c = seen.get(s);
            assertEquals(s, c.index());
            assertArrayEquals(prompts[s], c.promptIds());
            assertArrayEquals(completions[s], c.completionIds());
            assertEquals(rm.tokenizer().decode(prompts[s]), c.promptText());
            assertEquals(rm.tokenizer().decode(completions[s]), c.completionText());
            assertEquals((float) WONDERFUL.reward(c), scored[s].reward());
            assertEquals(completions[s].length, scored[s].length());
            assertNull(scored[s].rewardAttention());
        }
        assertEquals(1.5f, scored[0].reward());
        assertEquals(-0.25f * completions[1].length, scored[1].reward());
    }

    @Test
    void sparseAndUniformSpreadTheFunctionsReward() {
        ScoredCompletion[] scored = FunctionRewards.of(WONDERFUL, rm.tokenizer()).score(prompts, completions, CreditInput.REWARD_ONLY);
        for (ScoredCompletion s : scored) {
            float[] sparse = new Credit.Sparse().assign(s), uniform = new Credit.Uniform().assign(s);
            assertEquals(s.reward(), sparse[s.length() - 1]);
            for (int t = 0; t < s.length() - 1; t++) assertEquals(0f, sparse[t]);
            double sum = 0;
            for (float u : uniform) sum += u;
            assertEquals(s.reward(), sum, 1e-5);
        }
    }

    @Test
    void abcSpreadsTheFunctionsRewardByTheRewardModelsAttention() {
        RewardScorer scorer = new RewardScorer(rm, rm.tokenizer());
        ScoredCompletion[] model = scorer.score(prompts, completions, Set.of(CreditInput.REWARD_ATTENTION));
        ScoredCompletion[] withFunction = FunctionRewards.withAttention(WONDERFUL, rm.tokenizer(), scorer)
                .score(prompts, completions, Set.of(CreditInput.REWARD_ATTENTION));
        Credit abc = new Credit.Abc(0.8);
        for (int s = 0; s < 3; s++) {
            assertArrayEquals(model[s].rewardAttention(), withFunction[s].rewardAttention(), "the reward model's own row");
            assertTrue(withFunction[s].reward() != model[s].reward(), "the reward is the function's, not the model's");
            float[] credit = abc.assign(withFunction[s]);
            double sum = 0;
            for (float c : credit) sum += c;
            assertEquals(withFunction[s].reward(), sum, 1e-5, "ABC's credit adds up to the function's reward");
        }
    }

    @Test
    void whatAFunctionCannotGiveIsRefusedByName() {
        FunctionRewards alone = FunctionRewards.of(WONDERFUL, rm.tokenizer());
        var abc = assertThrows(IllegalArgumentException.class, () -> alone.score(prompts, completions, Set.of(CreditInput.REWARD_ATTENTION)));
        assertTrue(abc.getMessage().contains("abc reads a reward model's attention"), abc.getMessage());
        var prefix = assertThrows(IllegalArgumentException.class, () -> alone.score(prompts, completions, Set.of(CreditInput.PREFIX_REWARDS)));
        assertTrue(prefix.getMessage().contains("prefix-diff"), prefix.getMessage());
        for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY, 1e39}) {
            FunctionRewards broken = FunctionRewards.of(c -> c.index() == 1 ? bad : 0, rm.tokenizer());
            var e = assertThrows(IllegalArgumentException.class, () -> broken.score(prompts, completions, CreditInput.REWARD_ONLY));
            assertTrue(e.getMessage().contains("for completion 1") && e.getMessage().contains("finite"), e.getMessage());
        }
    }

    @Test
    void aPpoStepTakesItsRewardsFromTheFunction() throws IOException {
        Path tokenizer = dir.resolve("tokenizer");
        Path policyDir = TinyFixtures.writeModel(dir.resolve("policy"), tokenizer, ModelKind.LM, 64, 5);
        PpoConfig config = PpoConfig.trlDefaults().toBuilder().batch(4, 2).epochs(1).promptLengths(2, 4).genLengths(3, 6).build();
        try (LanguageModel policy = Models.load(backend, policyDir, Heads.VALUE, 1);
             LanguageModel reference = Models.load(backend, policyDir, Heads.NONE, 1);
             PpoTrainer trainer = new PpoTrainer(policy, reference, config)) {
            List<Completion> seen = new ArrayList<>();
            RewardFunction recording = c -> {
                seen.add(c);
                return WONDERFUL.reward(c);
            };
            PpoStep step = new PpoStep(backend, trainer, new Generator(policy), Sampler.multinomial(),
                    FunctionRewards.of(recording, rm.tokenizer()), new Credit.Sparse());
            int[][] queries = {prompts[0], prompts[1], prompts[2], prompts[0]};
            PpoStep.Outcome taken = step.take(new PpoStep.Draws(queries, new int[] {3, 3, 3, 3}, new int[] {5, 4, 3, 5}, -1, 7,
                    new int[][] {{0, 1, 2, 3}}));
            assertEquals(4, seen.size());
            PpoTrainer.StepResult update = taken.update();
            for (int s = 0; s < 4; s++) {
                assertArrayEquals(taken.responses()[s], seen.get(s).completionIds());
                float reward = (float) WONDERFUL.reward(seen.get(s));
                assertEquals(reward, taken.rewards()[s]);
                int last = update.rewards()[s].length - 1;
                assertEquals(reward, update.rewards()[s][last] - update.nonScoreRewards()[s][last], 1e-5,
                        "sparse credit put the function's reward on the last token the update saw");
            }
        }
    }
}
