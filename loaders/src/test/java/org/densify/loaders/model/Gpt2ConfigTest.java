package org.densify.loaders.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class Gpt2ConfigTest {
    @TempDir
    Path dir;

    @Test
    void absentFieldsTakeHuggingFaceDefaults() throws IOException {
        Gpt2Config c = Gpt2Config.parse("{}", "config.json");
        assertEquals(50257, c.vocabSize());
        assertEquals(1024, c.nPositions());
        assertEquals(768, c.nEmbd());
        assertEquals(12, c.nLayer());
        assertEquals(12, c.nHead());
        assertNull(c.nInner());
        assertEquals(3072, c.innerDim());
        assertEquals(64, c.headDim());
        assertEquals("gelu_new", c.activationFunction());
        assertEquals(Gpt2Config.Activation.GELU_NEW, c.activation());
        assertEquals(1e-5, c.layerNormEpsilon());
        assertEquals(List.of(), c.architectures());
        assertTrue(c.declaredKind().isEmpty());
        assertEquals(2, c.numLabels());
        assertEquals(Map.of(0, "LABEL_0", 1, "LABEL_1"), c.id2label());
        assertEquals(Map.of("LABEL_0", 0, "LABEL_1", 1), c.label2id());
        assertNull(c.padTokenId());
        assertEquals(50256, c.bosTokenId());
        assertEquals(50256, c.eosTokenId());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(0.1, c.residPdrop());
        assertEquals(0.02, c.initializerRange());
        assertEquals(124_439_808L, c.bodyParameters(), "GPT-2 small");
        assertEquals(c, Gpt2Config.defaults());
    }

    @Test
    void readsARewardModelConfig() throws IOException {
        Gpt2Config c = Gpt2Config.parse("""
                {"architectures": ["GPT2ForSequenceClassification"], "n_embd": 64, "n_head": 4, "n_layer": 2,
                 "n_inner": 100, "vocab_size": 300, "n_positions": 32, "pad_token_id": 50256,
                 "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
                 "num_labels": 5, "problem_type": "single_label_classification", "model_type": "gpt2",
                 "activation_function": "gelu_pytorch_tanh", "transformers_version": "4.30.0", "n_ctx": 32}
                """, "config.json");
        assertEquals(ModelKind.SEQUENCE_CLASSIFIER, c.declaredKind().orElseThrow());
        assertEquals(2, c.numLabels(), "id2label wins over num_labels, as in Hugging Face");
        assertEquals("POSITIVE", c.id2label().get(1));
        assertEquals(100, c.innerDim());
        assertEquals(16, c.headDim());
        assertEquals(50256, c.padTokenId());
        assertEquals(Gpt2Config.Activation.GELU_NEW, c.activation());
        assertEquals("single_label_classification", c.problemType());
        assertEquals("4.30.0", c.extra().get("transformers_version").asText());
        assertFalse(c.extra().has("n_embd"), "known fields are not duplicated into extra");
    }

    @Test
    void numLabelsWithoutId2labelMakesDefaultLabels() throws IOException {
        Gpt2Config c = Gpt2Config.parse("{\"num_labels\": 1}", "config.json");
        assertEquals(1, c.numLabels());
        assertEquals(Map.of(0, "LABEL_0"), c.id2label());
    }

    @Test
    void writesAndReadsBackKeepingUnknownFields() throws IOException {
        Path file = dir.resolve("config.json");
        Files.writeString(file, """
                {"n_embd": 32, "n_head": 2, "n_layer": 1, "vocab_size": 50, "n_positions": 16,
                 "architectures": ["GPT2LMHeadModel"], "task_specific_params": {"text-generation": {"max_length": 50}},
                 "transformers_version": "4.30.0", "reorder_and_upcast_attn": false}
                """);
        Gpt2Config c = Gpt2Config.read(file);
        c.write(file);
        String json = Files.readString(file);
        assertTrue(json.contains("\"task_specific_params\": {"), json);
        assertTrue(json.contains("\"n_inner\": null"), json);
        assertTrue(json.endsWith("}\n"));
        assertTrue(json.indexOf("\"activation_function\"") < json.indexOf("\"vocab_size\""), "keys sorted as Hugging Face writes them");
        Gpt2Config back = Gpt2Config.read(file);
        assertEquals(c, back);
        assertEquals(50, back.extra().get("task_specific_params").get("text-generation").get("max_length").asInt());
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "atomic write leaves no temporary file");
        }
    }

    @Test
    void builderRoundTripsThroughJson() throws IOException {
        Gpt2Config c = Gpt2Config.builder().vocabSize(100).nPositions(8).nEmbd(16).nLayer(3).nHead(4).nInner(40)
                .kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(1).padTokenId(0).layerNormEpsilon(1e-6).build();
        assertEquals(c, Gpt2Config.parse(c.toJson(), "x"));
        assertEquals(c, c.toBuilder().build());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            n_embd as a string        | {"n_embd": "768"}                                  | field 'n_embd': expected an integer, found "768"
            n_inner as a fraction     | {"n_inner": 3.5}                                   | field 'n_inner': expected an integer or null, found 3.5
            n_layer zero              | {"n_layer": 0}                                     | field 'n_layer': expected a positive integer, found 0
            n_embd not divisible      | {"n_embd": 100, "n_head": 12}                      | field 'n_embd': 100 is not divisible by n_head = 12
            architectures a string    | {"architectures": "GPT2LMHeadModel"}               | field 'architectures': expected an array of class names
            unknown architecture      | {"architectures": ["GPT2ForTokenClassification"]}  | field 'architectures': unsupported architecture 'GPT2ForTokenClassification' (expected GPT2LMHeadModel
            mixed architectures       | {"architectures": ["GPT2Model", "GPT2ForSequenceClassification"]} | mixes kinds of model
            model type                | {"model_type": "llama"}                            | field 'model_type': unsupported model type 'llama' (expected "gpt2")
            activation                | {"activation_function": "swish"}                   | field 'activation_function': unsupported value 'swish' (expected one of [gelu, gelu_new, gelu_pytorch_tanh, relu])
            epsilon string            | {"layer_norm_epsilon": "1e-5"}                     | field 'layer_norm_epsilon': expected a number
            negative epsilon          | {"layer_norm_epsilon": -1}                         | field 'layer_norm_epsilon': expected a positive number
            tie flag as string        | {"tie_word_embeddings": "yes"}                     | field 'tie_word_embeddings': expected true or false, found "yes"
            id2label not an object    | {"id2label": ["a", "b"]}                           | field 'id2label': expected an object
            id2label key not a number | {"id2label": {"zero": "a"}}                        | field 'id2label': key 'zero' is not an integer label id
            id2label gap              | {"id2label": {"0": "a", "2": "b"}}                 | field 'id2label': label ids must be 0..1, found [0, 2]
            num_labels zero           | {"num_labels": 0}                                  | field 'num_labels': expected a positive integer, found 0
            label2id values           | {"label2id": {"a": "0"}}                           | field 'label2id': expected integer ids
            pad token as string       | {"pad_token_id": "50256"}                          | field 'pad_token_id': expected an integer or null
            unscaled attention        | {"scale_attn_weights": false}                      | field 'scale_attn_weights': false is not supported
            inverse layer scaling     | {"scale_attn_by_inverse_layer_idx": true}          | field 'scale_attn_by_inverse_layer_idx': true is not supported
            cross attention           | {"add_cross_attention": true}                      | field 'add_cross_attention': true is not supported
            not an object             | [1, 2]                                             | expected a JSON object
            not JSON                  | {"n_embd": }                                       | not valid JSON
            duplicate key             | {"n_embd": 64, "n_embd": 32}                       | not valid JSON
            """)
    void rejectsBadFieldsNamingTheFileAndField(String label, String json, String fragment) throws IOException {
        Path file = Files.writeString(dir.resolve("config.json"), json);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file), label);
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), () -> "expected '" + fragment + "' in: " + e.getMessage());
    }

    @Test
    void missingFile() {
        Path file = dir.resolve("config.json");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }
}
