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
import org.densify.core.model.gpt2.Gpt2Model;
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
import org.densify.rlhf.credit.CreditInput;
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
        return PpoConfig.trlDefaults().toBuilder().batch(8, 2).epochs(4).learningRate(3e-3).kl(0.05, PpoConfig.KlControl.ADAPTIVE, 6, 10_000)
                .promptLengths(2, 4).genLengths(4, 8).build();
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
                for (ScoredCompletion s : scorer.score(q, y, CreditInput.REWARD_ONLY)) sum += s.reward();
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
    void lengthsAreDrawnAsTrlsLengthSamplerDrawsThem() throws IOException {
        // range(min, max): the upper end is never drawn, every other length is
        PpoConfig c = PpoConfig.trlDefaults();
        SplittableRandom random = new SplittableRandom(1);
        int[] seen = new int[20];
        for (int i = 0; i < 4000; i++) seen[PpoRun.maxNewTokens(c, random)]++;
        for (int n = 0; n < 20; n++) assertEquals(n >= 8 && n < 16, seen[n] > 0, "completion maximum " + n + " drawn " + seen[n] + " times");
        PromptSource prompts = new PromptSource(reviews, Gpt2Tokenizer.load(policy), 2, 5);
        int[] lengths = new int[10];
        for (int[] q : prompts.draw(2000, new SplittableRandom(2))) lengths[q.length]++;
        for (int n = 0; n < 10; n++) assertEquals(n >= 2 && n < 5, lengths[n] > 0, "prompt length " + n + " drawn " + lengths[n] + " times");
    }

    /**
     * A policy that all but always draws end-of-text still writes gen_min tokens before it (Hugging
     * Face's min_new_tokens); the run uses ABC-D, whose attention rows come from that generation.
     */
    @Test
    void theMinimumLengthHoldsOffEndOfText() throws IOException {
        Path eager = dir.resolve("eager-policy");
        try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.load(backend, policy)) {
            Gpt2Tokenizer tok = Gpt2Tokenizer.load(policy);
            int C = m.config().nEmbd();
            // ln_f gives the same vector b at every position; end-of-text's (tied) embedding points along b
            float[] b = new float[C];
            SplittableRandom r = new SplittableRandom(5);
            double norm2 = 0;
            for (int i = 0; i < C; i++) {
                b[i] = (float) r.nextGaussian();
                norm2 += b[i] * b[i];
            }
            float[] eotRow = new float[C];
            for (int i = 0; i < C; i++) eotRow[i] = (float) (40 * b[i] / norm2);
            backend.write(m.parameter("ln_f.weight"), 0, new float[C]);
            backend.write(m.parameter("ln_f.bias"), 0, b);
            backend.write(m.parameter("wte.weight"), (long) tok.eotId() * C, eotRow);
            m.save(eager, ModelKind.LM);
            for (String f : List.of("vocab.json", "merges.txt")) Files.copy(policy.resolve(f), eager.resolve(f));
        }
        PpoConfig c = config().toBuilder().promptLengths(2, 4).genLengths(3, 5).build();
        try (Backend backend = Backends.create("cpu")) {
            PpoRun.Result result = new PpoRun(new PpoRun.Setup(c, new Credit.AbcD(0.8), 2, 7, eager, rewardModel, reviews, "test",
                    dir.resolve("eager-run"), false, 5, OutputPaths.Existing.REFUSE)).run(backend, new PrintWriter(new StringWriter()));
            for (PpoRun.StepRecord step : result.steps()) {
                // at least 3 tokens; then end-of-text at once where the maximum (3 or 4) leaves room for it
                assertTrue(step.responseLength() >= 3 && step.responseLength() <= 4, "mean completion length " + step.responseLength());
                assertTrue(Double.isFinite(step.rewardMean()) && Double.isFinite(step.policyLoss()));
            }
            try (Gpt2Model m = Gpt2Model.load(backend, eager)) {
                int[][] free = new Generator(m).generate(new int[][] {{5, 6}}, new int[] {4}, Sampler.multinomial(), 3,
                        Gpt2Tokenizer.load(eager).eotId(), null).tokens();
                assertEquals(1, free[0].length, "without the minimum this policy stops at once");
            }
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
