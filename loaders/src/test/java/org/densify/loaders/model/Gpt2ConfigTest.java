package org.densify.loaders.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
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
                 "n_inner": 100, "vocab_size": 300, "n_positions": 32, "pad_token_id": 299,
                 "bos_token_id": 50256, "eos_token_id": 50256,
                 "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
                 "num_labels": 5, "problem_type": "single_label_classification", "model_type": "gpt2",
                 "activation_function": "gelu_pytorch_tanh", "transformers_version": "4.30.0", "n_ctx": 32}
                """, "config.json");
        assertEquals(ModelKind.SEQUENCE_CLASSIFIER, c.declaredKind().orElseThrow());
        assertEquals(2, c.numLabels(), "id2label wins over num_labels, as in Hugging Face");
        assertEquals("POSITIVE", c.id2label().get(1));
        assertEquals(100, c.innerDim());
        assertEquals(16, c.headDim());
        assertEquals(299, c.padTokenId());
        assertEquals(50256, c.eosTokenId(), "bos/eos are not checked against vocab_size (Hugging Face's defaults)");
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
            activation                | {"activation_function": "swish"}                   | field 'activation_function': unsupported value 'swish' (expected one of [gelu_new, gelu_pytorch_tanh])
            activation the engine lacks | {"activation_function": "relu"}                  | field 'activation_function': unsupported value 'relu' (expected one of [gelu_new, gelu_pytorch_tanh])
            exact gelu                | {"activation_function": "gelu"}                    | field 'activation_function': unsupported value 'gelu' (expected one of [gelu_new, gelu_pytorch_tanh])
            epsilon string            | {"layer_norm_epsilon": "1e-5"}                     | field 'layer_norm_epsilon': expected a number
            negative epsilon          | {"layer_norm_epsilon": -1}                         | field 'layer_norm_epsilon': expected a positive number
            tie flag as string        | {"tie_word_embeddings": "yes"}                     | field 'tie_word_embeddings': expected true or false, found "yes"
            id2label not an object    | {"id2label": ["a", "b"]}                           | field 'id2label': expected an object
            id2label key not a number | {"id2label": {"zero": "a"}}                        | field 'id2label': key 'zero' is not a label id (expected a decimal integer
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
            trailing garbage          | {"n_layer": 2} garbage                             | not valid JSON
            two objects               | {"n_layer": 2} {}                                  | not valid JSON
            empty                     | `   `                                              | not valid JSON
            id2label "01" beside "1"  | {"id2label": {"0": "a", "1": "b", "01": "c"}}      | field 'id2label': key '01' is not a label id (expected a decimal integer without sign or leading zeros
            id2label "+1"             | {"id2label": {"0": "a", "+1": "b"}}                | field 'id2label': key '+1' is not a label id
            id2label " 1"             | {"id2label": {"0": "a", " 1": "b"}}                | field 'id2label': key ' 1' is not a label id
            id2label beyond int       | {"id2label": {"0": "a", "4294967296": "b"}}        | field 'id2label': key '4294967296' is not a label id
            id2label same names       | {"id2label": {"0": "x", "1": "x"}}                 | field 'id2label': ids 0 and 1 are both named 'x'
            label2id not the inverse  | {"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 1, "pos": 0}} | field 'label2id': {neg=1, pos=0} is not the inverse of id2label {0=neg, 1=pos} (expected {neg=0, pos=1}
            label2id short            | {"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 0}} | field 'label2id': {neg=0} is not the inverse of id2label
            label2id without id2label | {"num_labels": 2, "label2id": {"neg": 0, "pos": 1}} | is not the inverse of id2label {0=LABEL_0, 1=LABEL_1}
            num_labels huge           | {"num_labels": 2000000000}                         | field 'num_labels': 2000000000 labels is more than this engine accepts (at most 100000)
            pad token negative        | {"pad_token_id": -1}                               | field 'pad_token_id': -1 is not a token of a vocabulary of vocab_size = 50257 (expected 0..50256 or null
            pad token past vocab      | {"vocab_size": 300, "pad_token_id": 300}           | field 'pad_token_id': 300 is not a token of a vocabulary of vocab_size = 300 (expected 0..299 or null
            n_embd 2^30               | {"n_embd": 1073741824, "n_head": 1}                | field 'n_embd': 1073741824 is too large: n_inner is null, so the MLP width would be 4 * n_embd = 4294967296
            n_layer too many          | {"n_layer": 10001}                                 | field 'n_layer': 10001 layers is more than this engine accepts (at most 10000)
            sizes overflow            | {"vocab_size": 2147483647, "n_embd": 268435456, "n_head": 1, "n_layer": 10000} | give a body of more than 1152921504606846975 parameters
            initializer range         | {"initializer_range": -0.5}                        | field 'initializer_range': expected a non-negative number, found -0.5
            """)
    void rejectsBadFieldsNamingTheFileAndField(String label, String json, String fragment) throws IOException {
        Path file = Files.writeString(dir.resolve("config.json"), json);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file), label);
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), () -> "expected '" + fragment + "' in: " + e.getMessage());
    }

    @Test
    void invalidUtf8IsAnErrorNotAReplacementCharacter() throws IOException {
        Path file = Files.write(dir.resolve("config.json"), new byte[]{'{', '"', 'x', '"', ':', '"', (byte) 0xC3, '"', '}'});
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file));
        assertEquals(file + ": not valid UTF-8 (bad byte 0xc3 at offset 6)", e.getMessage());
        // UTF-16 is not sniffed and decoded: a config.json is UTF-8.
        Files.write(file, "{\"n_layer\": 2}".getBytes(StandardCharsets.UTF_16));
        assertTrue(assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file)).getMessage().startsWith(file + ": not valid UTF-8"));
        Files.write(file, "{\"n_layer\": 2}".getBytes(StandardCharsets.UTF_16LE));
        assertTrue(assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file)).getMessage().startsWith(file + ": not valid JSON"));
        Files.write(file, "{\"note\": \"caf\u00e9 \ud83d\ude00\", \"n_layer\": 2}".getBytes(StandardCharsets.UTF_8));
        assertEquals("caf\u00e9 \ud83d\ude00", Gpt2Config.read(file).extra().get("note").textValue(), "valid UTF-8 reads as written");
    }

    @Test
    void tokenIdsAgainstTheVocabulary() throws IOException {
        // Hugging Face's default bos/eos (50256) stay accepted with a small vocabulary: real folders carry them.
        Gpt2Config small = Gpt2Config.parse("{\"vocab_size\": 300}", "config.json");
        assertEquals(50256, small.bosTokenId());
        assertEquals(50256, small.eosTokenId());
        assertEquals(299, Gpt2Config.parse("{\"vocab_size\": 300, \"pad_token_id\": 299}", "c").padTokenId());
        assertEquals(0, Gpt2Config.parse("{\"vocab_size\": 300, \"pad_token_id\": 0}", "c").padTokenId());
        assertNull(Gpt2Config.parse("{\"vocab_size\": 300, \"pad_token_id\": null}", "c").padTokenId());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Gpt2Config.builder().vocabSize(11).padTokenId(50256).build());
        assertTrue(e.getMessage().startsWith("field 'pad_token_id': 50256 is not a token"), e.getMessage());
    }

    @Test
    void labelsStayConsistent() throws IOException {
        Gpt2Config c = Gpt2Config.parse("{\"id2label\": {\"1\": \"pos\", \"0\": \"neg\"}, \"label2id\": {\"pos\": 1, \"neg\": 0}}", "c");
        assertEquals(Map.of(0, "neg", 1, "pos"), c.id2label());
        assertEquals(Map.of("neg", 0, "pos", 1), c.label2id());
        assertEquals(Map.of("LABEL_0", 0, "LABEL_1", 1, "LABEL_2", 2), Gpt2Config.parse("{\"num_labels\": 3}", "c").label2id());
        assertEquals(c, Gpt2Config.parse(c.toJson(), "c"));
    }

    @Test
    void sizesAreBoundedSoThatNothingOverflows() throws IOException {
        Gpt2Config wide = Gpt2Config.parse("{\"n_embd\": 100000000, \"n_head\": 1, \"n_layer\": 1, \"vocab_size\": 1, \"n_positions\": 1}", "c");
        assertEquals(400_000_000, wide.innerDim());
        java.math.BigInteger d = java.math.BigInteger.valueOf(100_000_000L);
        // wte + wpe + block (ln 4d, c_attn 3d^2+3d, c_proj d^2+d, c_fc 4d^2+4d, mlp c_proj 4d^2+d) + ln_f 2d = 12d^2 + 17d (V = P = 1)
        assertEquals(d.pow(2).multiply(java.math.BigInteger.valueOf(12)).add(d.multiply(java.math.BigInteger.valueOf(17))).longValueExact(),
                wide.bodyParameters());
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> Gpt2Config.parse("{\"n_embd\": 1073741824, \"n_head\": 1, \"n_inner\": 1, \"n_layer\": 1}", "c"));
        assertTrue(e.getMessage().contains("give a body of more than 1152921504606846975 parameters"), e.getMessage());
    }

    @Test
    void missingFile() {
        Path file = dir.resolve("config.json");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Gpt2Config.read(file));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }
}
