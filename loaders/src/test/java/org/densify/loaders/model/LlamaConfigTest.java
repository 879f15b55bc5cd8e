package org.densify.loaders.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.densify.loaders.io.StrictJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json of the Llama family, the family registry, and folders checked against their config. */
class LlamaConfigTest {
    @TempDir
    Path dir;

    static final String SMALL = """
            {"model_type": "llama", "vocab_size": 13, "hidden_size": 8, "intermediate_size": 10,
             "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16}""";

    static LlamaConfig parse(String json) throws ModelFormatException {
        return LlamaConfig.parse(json, "x/config.json");
    }

    /** The JSON of SMALL with one field replaced or added. */
    static String with(String field, String value) {
        return "{\"" + field + "\": " + value + ", " + SMALL.substring(SMALL.indexOf('{') + 1);
    }

    @Test
    void absentFieldsTakeHuggingFaceDefaults() throws IOException {
        LlamaConfig c = parse(SMALL);
        assertEquals(ModelFamily.LLAMA, c.family());
        assertEquals(2, c.numKeyValueHeads(), "absent num_key_value_heads means one per query head");
        assertEquals(4, c.headDim(), "absent head_dim means hidden_size / heads");
        assertEquals(1e-6, c.rmsNormEps());
        assertEquals(10000.0, c.ropeTheta());
        assertNull(c.ropeScaling());
        assertFalse(c.tieWordEmbeddings());
        assertFalse(c.hasQkvBias());
        assertEquals(2, c.numLabels());
        LlamaConfig qwen3 = parse(SMALL.replace("\"llama\"", "\"qwen3\""));
        assertEquals(128, qwen3.headDim(), "Qwen3Config's default head_dim");
        assertTrue(qwen3.hasQueryKeyNorm());
        assertTrue(parse(SMALL.replace("\"llama\"", "\"qwen2\"")).hasQkvBias(), "Qwen2 always has q/k/v biases");
        assertFalse(parse(SMALL.replace("\"llama\"", "\"qwen2\"")).hasOutputBias());
        LlamaConfig biased = parse(with("attention_bias", "true"));
        assertTrue(biased.hasQkvBias() && biased.hasOutputBias(), "Llama's attention_bias covers q, k, v and o");
    }

    @Test
    void llama3ScalingRescalesTheFrequenciesAsHuggingFaceDoes() throws IOException {
        LlamaConfig c = parse(with("rope_scaling", """
                {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 256}""")
                .replace("\"hidden_size\": 8", "\"hidden_size\": 12").replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 2, \"head_dim\": 6"));
        double[] f = c.inverseFrequencies();
        double[] plain = {1, Math.pow(10000, -1 / 3.0), Math.pow(10000, -2 / 3.0)};
        // wavelengths 6.3 (< 64: kept), 135 (between: interpolated), 2918 (> 256: divided by 8)
        assertEquals(plain[0], f[0], 1e-15);
        double smooth = (256 / (2 * Math.PI / plain[1]) - 1) / (4 - 1);
        assertEquals((1 - smooth) * plain[1] / 8 + smooth * plain[1], f[1], 1e-15);
        assertEquals(plain[2] / 8, f[2], 1e-15);
    }

    @Test
    void unsupportedOrBadFieldsAreRefusedNamingFileAndField() {
        Map<String, String> cases = Map.of(
                "hidden_act", with("hidden_act", "\"gelu\""),
                "num_key_value_heads", with("num_key_value_heads", "3"),
                "rope_scaling", with("rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}"),
                "use_sliding_window", with("use_sliding_window", "true"),
                "mlp_bias", with("mlp_bias", "true"),
                "head_dim", with("head_dim", "5"),
                "rms_norm_eps", with("rms_norm_eps", "\"small\""),
                "architectures", with("architectures", "[\"LlamaForTokenClassification\"]"));
        cases.forEach((field, json) -> {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> parse(json), field);
            assertTrue(e.getMessage().startsWith("x/config.json: ") && e.getMessage().contains("'" + field + "'"), e.getMessage());
        });
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> parse(SMALL.replace("\"llama\"", "\"mistral\"")));
        assertTrue(e.getMessage().contains("model_type") && e.getMessage().contains("mistral"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> parse(with("rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8.0}")));
        assertTrue(e.getMessage().contains("low_freq_factor"), e.getMessage());
    }

    @Test
    void theRegistryReadsModelTypeOrElseArchitectures() throws Exception {
        assertEquals(ModelFamily.QWEN2, ModelFamily.of(StrictJson.parse("{\"model_type\": \"qwen2\"}"), "c"));
        assertEquals(ModelFamily.QWEN3, ModelFamily.of(StrictJson.parse("{\"architectures\": [\"Qwen3ForSequenceClassification\"]}"), "c"));
        assertEquals(ModelFamily.LLAMA, ModelFamily.of(StrictJson.parse("{\"architectures\": [\"LlamaForCausalLM\"]}"), "c"));
        assertEquals(ModelFamily.GPT2, ModelFamily.of(StrictJson.parse("{\"n_embd\": 8}"), "c"));
        assertEquals(ModelFamily.GPT2, ModelFamily.of(StrictJson.parse("{\"model_type\": \"gpt2\"}"), "c"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFamily.of(StrictJson.parse("{\"model_type\": \"t5\"}"), "c"));
        assertTrue(e.getMessage().contains("'t5'"), e.getMessage());
        assertEquals("Qwen2ForCausalLM", ModelFamily.QWEN2.architecture(ModelKind.LM));
        assertEquals(ModelKind.SEQUENCE_CLASSIFIER, ModelFamily.LLAMA.kindOf("LlamaForSequenceClassification"));
    }

    @Test
    void writtenFoldersOpenWithTheSameTensorsAndCheckShapes() throws IOException {
        LlamaConfig c = parse(with("tie_word_embeddings", "false").replace("\"llama\"", "\"qwen2\"").replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 2, \"num_key_value_heads\": 1"));
        Random r = new Random(7);
        LlamaWriter w = new LlamaWriter(c, ModelKind.LM);
        Map<String, long[]> body = LlamaTensors.body(c);
        body.forEach((name, shape) -> w.put(name, random(r, shape)));
        assertTrue(body.containsKey("layers.0.self_attn.k_proj.bias"));
        assertArrayEquals(new long[]{4, 8}, body.get("layers.0.self_attn.k_proj.weight"), "[KV * hd, d]");
        IllegalStateException missing = assertThrows(IllegalStateException.class, () -> w.write(dir.resolve("m")));
        assertTrue(missing.getMessage().contains("lm_head.weight"), missing.getMessage());
        float[] head = random(r, LlamaTensors.headShape(LlamaTensors.LM_HEAD, c));
        w.put(LlamaTensors.LM_HEAD, head);
        w.write(dir.resolve("m"));
        try (LlamaFolder f = LlamaFolder.open(dir.resolve("m"))) {
            assertEquals(ModelKind.LM, f.kind());
            assertEquals(ModelFamily.QWEN2, f.config().family());
            assertArrayEquals(head, f.floats(LlamaTensors.LM_HEAD));
            assertTrue(f.hasTensor("embed_tokens.weight"), "stored as model.embed_tokens.weight, addressed without the prefix");
        }
        // the config promising 2 key/value heads no longer matches k_proj [4, 8]
        Files.writeString(dir.resolve("m/config.json"), Files.readString(dir.resolve("m/config.json"))
                .replace("\"num_key_value_heads\" : 1", "\"num_key_value_heads\" : 2").replace("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 2"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LlamaFolder.open(dir.resolve("m")));
        assertTrue(e.getMessage().contains("model.layers.0.self_attn.k_proj") && e.getMessage().contains("expected [8") && e.getMessage().contains("heads=2/2"), e.getMessage());
    }

    static float[] random(Random r, long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        float[] x = new float[Math.toIntExact(n)];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }
}
