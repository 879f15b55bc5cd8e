package org.densify.rlhf.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Heads;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.safetensors.SafetensorsFile;
import org.densify.rlhf.credit.CreditInput;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One full PPO step on a tiny policy with a value head against the PyTorch re-implementation of TRL
 * 0.7.4's step ({@code scripts/fixtures/make_ppo_fixtures.py}, computed in float64): rollout
 * log-probabilities and values, rewards, advantages, returns, every minibatch's losses and statistics,
 * the KL controller, and every parameter after the step. Each family has its own policy, reference
 * and step files: GPT-2 (tied {@code wte}) at the top of {@code ppo/}, Llama (grouped-query
 * attention, untied {@code lm_head}) under {@code ppo/llama/}, Qwen2 (q/k/v biases, 4 query heads
 * on one key/value head) under {@code ppo/qwen2/} and Qwen3 (q/k norms, {@code head_dim} with
 * {@code H·head_dim ≠ d}, tied) under {@code ppo/qwen3/}; all load through {@link Models}.
 */
class PpoStepReferenceTest {
    static final Path ROOT = Path.of("src/test/resources/ppo");

    @ParameterizedTest
    @ValueSource(strings = {"mb1", "mb2", "llama/mb1", "llama/mb2", "qwen2/mb1", "qwen2/mb2", "qwen3/mb1", "qwen3/mb2"})
    void aStepMatchesTheReference(String fixture) throws IOException {
        Path stepFolder = ROOT.resolve(fixture), family = stepFolder.getParent();
        try (SafetensorsFile f = SafetensorsFile.open(stepFolder.resolve("step.safetensors"));
             Backend backend = Backends.create("cpu");
             LanguageModel policy = Models.load(backend, family.resolve("policy"), Heads.VALUE, 0);
             LanguageModel reference = Models.load(backend, family.resolve("ref"))) {
            Map<String, String> meta = f.metadata();
            int B = Integer.parseInt(meta.get("batch_size"));
            PpoConfig config = new PpoConfig(B, Integer.parseInt(meta.get("mini_batch_size")), Integer.parseInt(meta.get("ppo_epochs")),
                    d(meta, "learning_rate"), d(meta, "init_kl_coef"), true, d(meta, "target"), d(meta, "horizon"), d(meta, "gamma"),
                    d(meta, "lam"), d(meta, "cliprange"), d(meta, "cliprange_value"), d(meta, "vf_coef"), d(meta, "ratio_threshold"),
                    d(meta, "adam_beta1"), d(meta, "adam_beta2"), d(meta, "adam_eps"), 1, 2, 1, 2); // lengths unused: the fixture gives them
            int[][] queries = split(f.readInts("query_tokens"), f.readInts("query_lengths"));
            int[][] responses = split(f.readInts("response_tokens"), f.readInts("response_lengths"));
            float[][] scores = split(f.readFloats("scores"), f.readInts("response_lengths"));
            int[] flatOrder = f.readInts("minibatch_order");
            int[][] order = new int[config.ppoEpochs()][];
            for (int e = 0; e < order.length; e++) order[e] = java.util.Arrays.copyOfRange(flatOrder, e * B, (e + 1) * B);

            assertTrue(policy.hasValueHead(), fixture + ": the policy folder stores a value head");
            float[] before = read(backend, policy);
            try (PpoTrainer trainer = new PpoTrainer(policy, reference, config)) {
                PpoTrainer.Rollout rollout = trainer.evaluate(queries, responses, CreditInput.REWARD_ONLY);
                assertClose(f.readFloats("logprobs"), flat(rollout.logProbs()), 1e-5, "rollout log-probabilities");
                assertClose(f.readFloats("ref_logprobs"), flat(rollout.refLogProbs()), 1e-5, "reference log-probabilities");
                assertClose(f.readFloats("values"), flat(rollout.values()), 1e-5, "rollout values");

                PpoTrainer.StepResult step = trainer.optimize(rollout, scores, order);
                assertClose(f.readFloats("rewards"), flat(step.rewards()), 1e-5, "rewards");
                assertClose(f.readFloats("non_score_rewards"), flat(step.nonScoreRewards()), 1e-5, "KL rewards");
                assertClose(f.readFloats("advantages"), flat(step.advantages()), 1e-4, "whitened advantages");
                assertClose(f.readFloats("returns"), flat(step.returns()), 1e-5, "returns");
                String[] stats = {"loss", "pg_loss", "vf_loss", "entropy", "approxkl", "policykl", "ratio_mean", "pg_clipfrac", "vf_clipfrac"};
                for (String stat : stats) {
                    float[] got = new float[step.minibatches().size()];
                    for (int i = 0; i < got.length; i++) {
                        PpoTrainer.MinibatchStats m = step.minibatches().get(i);
                        got[i] = (float) switch (stat) {
                            case "loss" -> m.loss();
                            case "pg_loss" -> m.pgLoss();
                            case "vf_loss" -> m.vfLoss();
                            case "entropy" -> m.entropy();
                            case "approxkl" -> m.approxKl();
                            case "policykl" -> m.policyKl();
                            case "ratio_mean" -> m.ratioMean();
                            case "pg_clipfrac" -> m.pgClipFraction();
                            default -> m.vfClipFraction();
                        };
                    }
                    // clip fractions count decisions: they must agree exactly
                    assertClose(f.readFloats(stat), got, stat.endsWith("clipfrac") ? 1e-7 : 1e-4, "minibatch " + stat);
                }
                assertEquals(f.readFloats("mean_kl")[0], step.meanKl(), 1e-5, "mean KL");
                // stored as float32: 2e-8 is one ulp at 0.2 and 1 % of this update
                assertEquals(f.readFloats("kl_coef_after")[0], step.klCoefAfter(), 2e-8, "KL coefficient after the update");

                // Parameters: the update, compared as a whole and element by element.
                float[] after = read(backend, policy);
                double lr = config.learningRate(), steps = step.minibatches().size();
                long stored = f.tensors().keySet().stream().filter(k -> k.startsWith("after.")).count();
                assertEquals(stored, policy.layout().entries().size(), "the policy has exactly the parameters the step file updates");
                int longest = 0;
                for (int s = 0; s < B; s++) longest = Math.max(longest, queries[s].length + responses[s].length);
                double[] inverseFrequencies = policy.family() == ModelFamily.GPT2 ? null
                        : LlamaConfig.read(family.resolve("policy").resolve("config.json")).inverseFrequencies();
                for (ParameterLayout.Entry e : policy.layout().entries()) {
                    float[] ref = f.readFloats(storedAfter(f, e.name()));
                    int o = Math.toIntExact(e.offset());
                    float[] refDelta = new float[ref.length], delta = new float[ref.length];
                    boolean[] nearZero = nearZeroGradient(e.name(), ref.length, policy.hiddenSize(), inverseFrequencies, longest);
                    for (int i = 0; i < ref.length; i++) {
                        boolean noGradient = nearZero[i]; // Adam amplifies rounding there: only the lr-per-step bound applies
                        refDelta[i] = noGradient ? 0 : ref[i] - before[o + i];
                        delta[i] = noGradient ? 0 : after[o + i] - before[o + i];
                        assertTrue(Math.abs(after[o + i] - ref[i]) <= lr * steps, e.name() + "[" + i + "] moved more than lr per step from the reference");
                    }
                    assertClose(refDelta, delta, 2e-3, "update of " + e.name());
                }
            }
        }
    }

    /**
     * The entries of a key bias whose gradient is zero or nearly so: an entry that adds the same amount to
     * every score of a row, which softmax ignores, leaves float rounding as all Adam sees there, and Adam
     * scales that up to a step of order lr (scripts/fixtures/README.md, "PPO step"). GPT-2: the key third
     * of {@code c_attn.bias}, exactly. With RoPE ({@code inverseFrequencies} not null): the
     * {@code k_proj.bias} entries of a rotary pair that turns less than 1e-3 rad between the first and the
     * last position of the longest sequence (Qwen2's theta 1e6 with head_dim 10: the slowest pair turns
     * 1.4e-4 rad over 10 positions, and float32 gets its update 0.3 % wrong where torch runs it too).
     */
    static boolean[] nearZeroGradient(String name, int length, int hiddenSize, double[] inverseFrequencies, int longest) {
        boolean[] out = new boolean[length];
        if (name.endsWith("attn.c_attn.bias")) {
            for (int i = hiddenSize; i < 2 * hiddenSize; i++) out[i] = true;
        } else if (inverseFrequencies != null && name.endsWith("self_attn.k_proj.bias")) {
            int half = inverseFrequencies.length, headDim = 2 * half;
            for (int i = 0; i < length; i++) out[i] = (longest - 1) * inverseFrequencies[i % headDim % half] < 1e-3;
        }
        return out;
    }

    static double d(Map<String, String> meta, String key) {
        return Double.parseDouble(meta.get(key));
    }

    /** The step file's name for a parameter after the step: as its family stores it (body under {@code transformer.} or {@code model.}). */
    static String storedAfter(SafetensorsFile f, String name) {
        for (String prefix : new String[] {"", "transformer.", "model."}) {
            if (f.tensors().containsKey("after." + prefix + name)) return "after." + prefix + name;
        }
        throw new AssertionError("step file: no after.<name> tensor for the policy parameter " + name);
    }

    static float[] read(Backend backend, LanguageModel m) {
        float[] out = new float[Math.toIntExact(m.layout().size())];
        backend.read(m.parameters(), 0, out);
        return out;
    }

    static int[][] split(int[] flat, int[] lengths) {
        int[][] out = new int[lengths.length][];
        int at = 0;
        for (int s = 0; s < lengths.length; s++) {
            out[s] = java.util.Arrays.copyOfRange(flat, at, at + lengths[s]);
            at += lengths[s];
        }
        return out;
    }

    static float[][] split(float[] flat, int[] lengths) {
        float[][] out = new float[lengths.length][];
        int at = 0;
        for (int s = 0; s < lengths.length; s++) {
            out[s] = java.util.Arrays.copyOfRange(flat, at, at + lengths[s]);
            at += lengths[s];
        }
        return out;
    }

    static float[] flat(float[][] x) {
        int n = 0;
        for (float[] r : x) n += r.length;
        float[] out = new float[n];
        int at = 0;
        for (float[] r : x) {
            System.arraycopy(r, 0, out, at, r.length);
            at += r.length;
        }
        return out;
    }

    static float[] flat(double[][] x) {
        int n = 0;
        for (double[] r : x) n += r.length;
        float[] out = new float[n];
        int at = 0;
        for (double[] r : x) for (double v : r) out[at++] = (float) v;
        return out;
    }

    static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.length; i++) {
            double dd = (double) actual[i] - expected[i];
            diff += dd * dd;
            norm += (double) expected[i] * expected[i];
        }
        double rel = norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
        assertTrue(rel < tolerance, what + ": relative L2 error " + rel + " >= " + tolerance);
    }

    /** The same step on the GPU against the CPU engine (fp32 GEMMs): skipped, with the reason, where CUDA cannot run. */
    @org.junit.jupiter.api.Test
    void aStepOnCudaMatchesTheCpuEngine() throws IOException {
        String why = Backends.unavailableReason("cuda");
        org.junit.jupiter.api.Assumptions.assumeTrue(why == null, "CUDA backend unavailable: " + why);
        float[][] cpu = stepOn("cpu"), gpu = stepOn("cuda");
        String[] names = {"parameters after the step", "rollout log-probabilities", "values", "advantages", "minibatch losses"};
        for (int i = 0; i < cpu.length; i++) assertClose(cpu[i], gpu[i], i == 0 ? 1e-4 : 1e-4, names[i] + " cuda vs cpu");
    }

    private static float[][] stepOn(String device) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(ROOT.resolve("mb1").resolve("step.safetensors"));
             Backend backend = Backends.create(device);
             ModelFolder policyFolder = ModelFolder.open(ROOT.resolve("policy"));
             Gpt2Model policy = Gpt2Model.load(backend, policyFolder, Heads.VALUE, 0);
             Gpt2Model reference = Gpt2Model.load(backend, ROOT.resolve("ref"))) {
            int B = 4;
            PpoConfig config = PpoConfig.trlDefaults().toBuilder().batch(B, 1).epochs(2).learningRate(3e-3).build();
            int[][] queries = split(f.readInts("query_tokens"), f.readInts("query_lengths"));
            int[][] responses = split(f.readInts("response_tokens"), f.readInts("response_lengths"));
            float[][] scores = split(f.readFloats("scores"), f.readInts("response_lengths"));
            int[] flatOrder = f.readInts("minibatch_order");
            int[][] order = {java.util.Arrays.copyOfRange(flatOrder, 0, B), java.util.Arrays.copyOfRange(flatOrder, B, 2 * B)};
            try (PpoTrainer trainer = new PpoTrainer(policy, reference, config)) {
                PpoTrainer.Rollout rollout = trainer.evaluate(queries, responses, CreditInput.REWARD_ONLY);
                PpoTrainer.StepResult step = trainer.optimize(rollout, scores, order);
                float[] losses = new float[step.minibatches().size()];
                for (int i = 0; i < losses.length; i++) losses[i] = (float) step.minibatches().get(i).loss();
                return new float[][] {read(backend, policy), flat(rollout.logProbs()), flat(rollout.values()), flat(step.advantages()), losses};
            }
        }
    }
}
