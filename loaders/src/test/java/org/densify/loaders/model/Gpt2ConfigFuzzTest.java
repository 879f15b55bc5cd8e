package org.densify.loaders.model;

import org.densify.loaders.safetensors.JsonMutator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mutates a realistic {@code config.json} a few thousand ways (fixed seed) and requires that
 * {@link Gpt2Config#parse(byte[], String)} either gives a config — which must then survive writing
 * and reading back unchanged — or throws {@link ModelFormatException} naming the source; never
 * another exception. A failure prints the seed, case, mutations and the input in base64.
 */
class Gpt2ConfigFuzzTest {
    private static final long SEED = 0xC0F16L;
    private static final int CASES = 4000;
    private static final String SEED_JSON = """
            {
              "activation_function": "gelu_new",
              "architectures": ["GPT2ForSequenceClassification"],
              "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1,
              "bos_token_id": 50256, "eos_token_id": 50256, "pad_token_id": 50256,
              "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
              "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
              "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
              "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_inner": null,
              "n_layer": 12, "n_positions": 1024, "num_labels": 2, "problem_type": "single_label_classification",
              "scale_attn_weights": true, "summary_type": "cls_index", "summary_use_proj": true,
              "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
              "tie_word_embeddings": true, "transformers_version": "4.30.0", "use_cache": true, "vocab_size": 50257
            }
            """;

    private static final JsonMutator MUTATOR = new JsonMutator(
            List.of("-1", "0", "1", "2", "3", "12", "50256", "50257", "1073741824", "536870912", "2147483647", "2147483648",
                    "-2147483648", "9223372036854775808", "1e400", "-1e400", "1e-400", "0.5", "1.0", "-0.0", "100001", "10001",
                    "null", "true", "\"12\"", "[]", "{}"),
            List.of("", "gpt2", "llama", "gelu", "relu", "swish", "gelu_pytorch_tanh", "GPT2LMHeadModel", "GPT2Model",
                    "GPT2DoubleHeadsModel", "LlamaForCausalLM", "0", "1", "01", "+1", "-1", " 1", "2", "NEGATIVE", "POSITIVE",
                    "n_embd", "n_head", "n_layer", "n_inner", "vocab_size", "num_labels", "id2label", "label2id", "pad_token_id",
                    "model_type", "architectures", "scale_attn_weights", "add_cross_attention", "\u00e9\ud83d\ude00"),
            List.of("\"n_embd\":768,", "\"x\":null,", "\"id2label\":{},", "\"id2label\":{\"0\":\"a\",\"00\":\"b\"},",
                    "\"label2id\":{\"a\":0},", "\"num_labels\":100000,", "\"architectures\":[],", "\"architectures\":null,",
                    "\"scale_attn_by_inverse_layer_idx\":true,", "\"n_inner\":3072,", "\"pad_token_id\":null,",
                    "\"deep\":" + "[".repeat(70) + "]".repeat(70) + ","));

    @Test
    @Timeout(30) // about a second; a hang fails here instead of stalling the build
    void mutatedConfigsOnlyEverThrowModelFormatException() throws ModelFormatException {
        byte[] seed = SEED_JSON.getBytes(StandardCharsets.UTF_8);
        assertEquals(ModelKind.SEQUENCE_CLASSIFIER, Gpt2Config.parse(seed, "config.json").declaredKind().orElseThrow(), "the seed itself is valid");
        Random random = new Random(SEED);
        int accepted = 0;
        for (int c = 0; c < CASES; c++) {
            List<String> applied = new ArrayList<>();
            byte[] bytes = MUTATOR.mutateSome(seed, random, applied);
            try {
                Gpt2Config config = Gpt2Config.parse(bytes, "config.json");
                assertEquals(config, Gpt2Config.parse(config.toJson(), "written"), "what is accepted writes and reads back unchanged");
                assertTrue(config.bodyParameters() > 0);
                assertTrue(config.innerDim() > 0);
                accepted++;
            } catch (ModelFormatException expected) {
                assertTrue(expected.getMessage().startsWith("config.json: "), expected.getMessage());
            } catch (Throwable t) {
                fail("seed " + SEED + " case " + c + " mutations " + applied + " threw " + t
                        + "\ninput (base64): " + Base64.getEncoder().encodeToString(bytes), t);
            }
        }
        assertTrue(accepted > 0 && accepted < CASES, "the mutations should give both valid and invalid configs: " + accepted);
    }
}
