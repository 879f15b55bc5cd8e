package org.densify.rlhf.ppo;

import org.densify.rlhf.run.OutputPaths;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Generator;
import org.densify.core.model.Gpt2Model;
import org.densify.core.model.Sampler;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.credit.RewardScorer;
import org.densify.rlhf.credit.ScoredCompletion;
import java.util.SplittableRandom;
import org.densify.loaders.data.Review;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;
import org.densify.rlhf.credit.Credit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Short PPO runs on tiny random models: the reward rises, the log is complete, a resumed run equals an unbroken one. */
class PpoRunTest {
    @TempDir
    static Path dir;
    static Path policy, rewardModel;
    static List<Review> reviews = new ArrayList<>();

    @BeforeAll
    static void models() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        policy = TinyFixtures.writeModel(dir.resolve("policy"), tokenizer, ModelKind.LM, 64, 3);
        rewardModel = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 4);
        // A random classifier barely varies; a larger head makes its reward a clear (arbitrary) target.
        try (Backend backend = Backends.create("cpu"); Gpt2Model rm = Gpt2Model.load(backend, rewardModel)) {
            float[] w = new float[Math.toIntExact(rm.parameter("score.weight").length())];
            backend.read(rm.parameter("score.weight"), 0, w);
            for (int i = 0; i < w.length; i++) w[i] *= 30;
            backend.write(rm.parameter("score.weight"), 0, w);
            rm.save(rewardModel, ModelKind.SEQUENCE_CLASSIFIER);
        }
        List<String> texts = TinyFixtures.reviews(60);
        for (int i = 0; i + 2 < texts.size(); i += 3) reviews.add(new Review(texts.get(i) + " " + texts.get(i + 1) + " " + texts.get(i + 2), 1));
    }

    static PpoConfig config() {
        return PpoConfig.trlDefaults().withBatch(8, 2).withEpochs(4).withLearningRate(3e-3).withKl(0.05, true, 6, 10_000)
                .withLengths(2, 4, 4, 8);
    }

    static PpoRun.Result run(Credit credit, int steps, Path out, boolean resume) throws IOException {
        try (Backend backend = Backends.create("cpu")) {
            return new PpoRun(new PpoRun.Setup(config(), credit, steps, 7, policy, rewardModel, reviews, "test", out, resume, 5, OutputPaths.Existing.REFUSE))
                    .run(backend, new PrintWriter(new StringWriter()));
        }
    }

    /** Mean reward of a policy's samples over fixed prompts (64 samples): far less noisy than one step's batch. */
    static double meanReward(Path policyDir) throws IOException {
        try (Backend backend = Backends.create("cpu"); Gpt2Model model = Gpt2Model.load(backend, policyDir);
             RewardModel rm = RewardModel.load(backend, rewardModel)) {
            Gpt2Tokenizer tok = Gpt2Tokenizer.load(policyDir);
            PromptSource prompts = new PromptSource(reviews, tok, 2, 4);
            RewardScorer scorer = new RewardScorer(rm, tok);
            double sum = 0;
            for (int b = 0; b < 4; b++) {
                int[][] q = prompts.draw(16, new SplittableRandom(100 + b));
                int[] max = new int[16];
                java.util.Arrays.fill(max, 6);
                int[][] y = new Generator(model).generate(q, max, Sampler.multinomial(), 200 + b, tok.eotId(), null).tokens();
                for (ScoredCompletion s : scorer.score(q, y, false, false)) sum += s.reward();
            }
            return sum / 64;
        }
    }

    @Test
    void theMeanRewardRises() throws IOException {
        double before = meanReward(policy);
        for (Credit credit : List.of(new Credit.Sparse(), new Credit.Abc(0.8))) {
            PpoRun.Result r = run(credit, 20, dir.resolve("rise-" + credit.name()), false);
            double after = meanReward(dir.resolve("rise-" + credit.name()).resolve("checkpoints/step-20"));
            assertEquals(20, r.steps().size());
            assertTrue(after > before + 0.5, credit.name() + ": mean reward of 64 samples went from " + before + " to " + after);
        }
    }

    @Test
    void aResumedRunEqualsAnUnbrokenOne() throws IOException {
        Credit credit = new Credit.Uniform();
        PpoRun.Result whole = run(credit, 4, dir.resolve("whole"), false);
        run(credit, 2, dir.resolve("broken"), false);
        assertThrows(IllegalArgumentException.class, () -> run(credit, 4, dir.resolve("broken"), false), "an existing run is not overwritten");
        PpoRun.Result rest = run(credit, 4, dir.resolve("broken"), true);
        assertEquals(2, rest.steps().size());
        for (int i = 0; i < 2; i++) {
            PpoRun.StepRecord a = whole.steps().get(2 + i), b = rest.steps().get(i);
            assertEquals(a.step(), b.step());
            assertEquals(a.rewardMean(), b.rewardMean(), 0, "step " + a.step());
            assertEquals(a.kl(), b.kl(), 0);
            assertEquals(a.klCoef(), b.klCoef(), 0);
            assertEquals(a.policyLoss(), b.policyLoss(), 0);
        }
        assertEquals(-1, Files.mismatch(dir.resolve("whole/checkpoints/step-4/model.safetensors"), dir.resolve("broken/checkpoints/step-4/model.safetensors")),
                "the final policies are bitwise equal");
        ObjectMapper json = new ObjectMapper();
        List<String> lines = Files.readAllLines(dir.resolve("broken/log.jsonl"));
        assertEquals(4, lines.size());
        for (int i = 0; i < 4; i++) {
            JsonNode record = json.readTree(lines.get(i));
            assertEquals(i + 1, record.get("step").intValue());
            for (String field : List.of("reward_mean", "reward_std", "kl", "kl_coef", "policy_loss", "value_loss", "clip_fraction", "entropy",
                    "approx_kl", "tokens_per_s", "seconds", "generation_s", "reward_s", "reference_s", "update_s")) {
                assertTrue(record.get(field).isNumber() && Double.isFinite(record.get(field).doubleValue()), field + " in " + lines.get(i));
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(new Credit.Sparse(), 6, dir.resolve("broken"), true));
        assertTrue(e.getMessage().contains("other settings"), e.getMessage());
    }
}
