package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.densify.loaders.safetensors.SafetensorsFile;
import org.densify.loaders.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands on the Llama family end to end, through the CLI: a tiny grouped-query policy (4 query
 * heads sharing 2 key/value heads) is pretrained from scratch, a reward model is trained on its trunk,
 * then score (every credit method), ppo, experiment, dump, generate and inspect run on the folders they wrote.
 */
class LlamaFamilyCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void everyCommandOnALlamaModel() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        Path reviews = TinyFixtures.writeReviews(dir, 80);
        Path run = dir.resolve("pretrain");
        MainTest.Run pre = MainTest.run("pretrain", "--family", "llama", "--kv-heads", "2", "--intermediate-size", "48", "--rope-theta", "500",
                "--data", reviews.toString(), "--tokenizer", tokenizer.toString(), "--out", run.toString(),
                "--layers", "2", "--d-model", "32", "--heads", "4", "--context", "64", "--batch-tokens", "128", "--steps", "6",
                "--lr", "1e-2", "--warmup", "2", "--eval-every", "3", "--eval-tokens", "128", "--checkpoint-every", "3");
        assertEquals(0, pre.status(), pre.err());
        assertTrue(pre.out().contains("model: Llama, 2 key/value heads, intermediate 48, 2 layers"), pre.out());
        Path policy = run.resolve("model");
        JsonNode config = JSON.readTree(policy.resolve("config.json").toFile());
        assertEquals("llama", config.get("model_type").textValue());
        assertEquals("LlamaForCausalLM", config.get("architectures").get(0).textValue());
        assertEquals(4, config.get("num_attention_heads").intValue());
        assertEquals(2, config.get("num_key_value_heads").intValue());
        assertEquals(48, config.get("intermediate_size").intValue());
        assertEquals(500.0, config.get("rope_theta").doubleValue());
        assertTrue(config.get("tie_word_embeddings").booleanValue());
        assertEquals(Tokenizers.open(tokenizer).eotId(), config.get("eos_token_id").intValue(), "the config's eos is the tokenizer's");

        // resuming at the last step finds nothing to do and the same family; another --kv-heads is refused
        MainTest.Run other = MainTest.run("pretrain", "--family", "llama", "--kv-heads", "4", "--intermediate-size", "48", "--rope-theta", "500",
                "--data", reviews.toString(), "--tokenizer", tokenizer.toString(), "--out", run.toString(),
                "--layers", "2", "--d-model", "32", "--heads", "4", "--context", "64", "--batch-tokens", "128", "--steps", "6",
                "--lr", "1e-2", "--warmup", "2", "--eval-every", "3", "--eval-tokens", "128", "--checkpoint-every", "3", "--resume");
        assertTrue(other.status() != 0 && other.err().contains("--kv-heads"), other.err());

        Path rm = dir.resolve("rm");
        MainTest.Run trained = MainTest.run("train-rm", "--init", policy.toString(), "--data", reviews.toString(), "--out", rm.toString(),
                "--epochs", "1", "--batch", "8", "--lr", "3e-3", "--eval-fraction", "0.2", "--max-tokens", "40");
        assertEquals(0, trained.status(), trained.err());
        JsonNode rmConfig = JSON.readTree(rm.resolve("config.json").toFile());
        assertEquals("LlamaForSequenceClassification", rmConfig.get("architectures").get(0).textValue());
        assertEquals("POSITIVE", rmConfig.get("id2label").get("1").textValue());
        assertEquals(config.get("eos_token_id").intValue(), rmConfig.get("pad_token_id").intValue());

        double reward = Double.NaN;
        for (String method : new String[] {"abc", "sparse", "uniform", "abc-d", "abc-d2", "abc-policy-final", "prefix-diff"}) {
            MainTest.Run scored = MainTest.run("score", "--reward-model", rm.toString(), "--policy", policy.toString(), "--prompt", "The film was",
                    "--completion", " superb and moving.", "--credit", method, "--json");
            assertEquals(0, scored.status(), method + ": " + scored.err());
            JsonNode s = JSON.readTree(scored.out());
            assertTrue(Double.isFinite(s.get("reward").doubleValue()), scored.out());
            assertTrue(s.get("tokens").size() > 1, scored.out());
            if (Double.isNaN(reward)) reward = s.get("reward").doubleValue();
            assertEquals(reward, s.get("reward").doubleValue(), 1e-6, method + ": the reward does not depend on the credit method");
        }

        // PPO draws prompts from reviews over 200 characters
        List<String> texts = TinyFixtures.reviews(12);
        StringBuilder jsonl = new StringBuilder();
        for (int k = 0; k + 2 < texts.size(); k += 3) {
            jsonl.append("{\"t\":\"").append(texts.get(k)).append(' ').append(texts.get(k + 1)).append(' ').append(texts.get(k + 2)).append("\",\"s\":1}\n");
        }
        Path longReviews = Files.writeString(dir.resolve("long.jsonl"), jsonl);
        Path ppo = dir.resolve("ppo");
        MainTest.Run p = MainTest.run("ppo", "--policy", policy.toString(), "--reward-model", rm.toString(), "--data", longReviews.toString(),
                "--out", ppo.toString(), "--credit", "abc", "--batch", "4", "--minibatch", "2", "--ppo-epochs", "1",
                "--prompt-min", "2", "--prompt-max", "8", "--gen-min", "2", "--gen-max", "4", "--steps", "2");
        assertEquals(0, p.status(), p.err());
        assertTrue(p.out().startsWith("abc: reward "), p.out());
        assertEquals(2, Files.readAllLines(ppo.resolve("log.jsonl")).size());
        JsonNode ppoPolicy = JSON.readTree(ppo.resolve("checkpoints/step-2/config.json").toFile());
        assertEquals("llama", ppoPolicy.get("model_type").textValue());

        Path grid = Files.writeString(dir.resolve("grid.json"), """
                {"name": "llama", "models": {"policy": "%s", "reward_model": "%s", "data": "%s"},
                 "methods": ["abc"], "seeds": [0], "steps": 1, "checkpoint_every": 1,
                 "ppo": {"batch": 4, "minibatch": 2, "ppo_epochs": 1, "prompt_min": 2, "prompt_max": 8, "gen_min": 2, "gen_max": 4}}
                """.formatted(policy, rm, longReviews));
        MainTest.Run x = MainTest.run("experiment", "--config", grid.toString(), "--out", dir.resolve("grid").toString());
        assertEquals(0, x.status(), x.err());
        String report = Files.readString(dir.resolve("grid/report.md"));
        assertTrue(report.contains("Llama, 2 layers, d_model 32, 4 heads"), report);

        Path dump = dir.resolve("dump.safetensors");
        MainTest.Run d = MainTest.run("dump", "--model", policy.toString(), "--ids", "5,6,7", "--out", dump.toString(), "--grads");
        assertEquals(0, d.status(), d.err());
        try (SafetensorsFile f = SafetensorsFile.open(dump)) {
            assertArrayEquals(new long[] {4, 3, 3}, f.tensors().get("attn.0.1").shape(), "[H, T, T] with the query heads");
            assertArrayEquals(new long[] {3, TinyFixtures.VOCAB}, f.tensors().get("logits.0").shape());
            assertTrue(f.tensors().containsKey("loss"));
            assertArrayEquals(new long[] {16, 32}, f.tensors().get("grad.layers.0.self_attn.k_proj.weight").shape(), "[KV x head_dim, d]");
            assertTrue(f.tensors().containsKey("grad.embed_tokens.weight"), f.tensors().keySet().toString());
        }

        MainTest.Run g = MainTest.run("generate", "--model", policy.toString(), "--prompt", "The film", "--max-new-tokens", "5", "--seed", "3");
        assertEquals(0, g.status(), g.err());
        assertTrue(!g.out().isBlank(), g.err());

        MainTest.Run i = MainTest.run("inspect", rm.toString());
        assertEquals(0, i.status(), i.err());
        assertTrue(i.out().contains("hidden_size") && i.out().contains("(4 heads of 8, 2 key/value heads)"), i.out());
        assertTrue(i.out().contains("model: SEQUENCE_CLASSIFIER"), i.out());
        assertTrue(List.of(i.out().split("\n")).stream().anyMatch(l -> l.startsWith("model.layers.1.mlp.gate_proj.weight")), i.out());
    }
}
