package org.densify.loaders.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.densify.loaders.io.AtomicFiles;
import org.densify.loaders.io.StrictJson;

/**
 * {@code config.json} of a Llama-family model (Llama 2/3, SmolLM2, Qwen2/2.5, Qwen3), with Hugging
 * Face's defaults for absent fields (docs/design.md section 10). What the engine does not implement
 * (another activation than silu, MLP biases, sliding-window attention, RoPE scalings other than
 * llama3) is refused with a {@link ModelFormatException} naming the file and the field.
 *
 * @param family            llama, qwen2 or qwen3 (from {@code model_type})
 * @param architectures     as stored (may be empty)
 * @param headDim           {@code head_dim}, or {@code hiddenSize / numHeads} when absent (Qwen3: 128, its Hugging Face default)
 * @param numKeyValueHeads  {@code num_key_value_heads}, or {@code numHeads} when absent
 * @param attentionBias     q/k/v biases (Qwen2 always; Llama and Qwen3 when {@code attention_bias}, then also an o bias)
 * @param ropeScaling       null, or the llama3 rescaling of the rotary frequencies
 * @param numLabels         classifier labels ({@code num_labels}, or the size of {@code id2label}; 2 by default)
 * @param source            the JSON object read (unknown fields are written back as they were)
 */
public record LlamaConfig(ModelFamily family, List<String> architectures, int vocabSize, int hiddenSize, int intermediateSize,
                          int numLayers, int numHeads, int numKeyValueHeads, int headDim, double rmsNormEps, double ropeTheta,
                          Llama3Scaling ropeScaling, int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean attentionBias,
                          String torchDtype, int numLabels, Integer padTokenId, double initializerRange, ObjectNode source) {

    /** Llama 3.1's {@code rope_scaling: {rope_type: llama3, ...}}. */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {}

    public LlamaConfig {
        architectures = List.copyOf(architectures);
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("head_dim", headDim);
        positive("max_position_embeddings", maxPositionEmbeddings);
        positive("num_labels", numLabels);
        if (numHeads % numKeyValueHeads != 0) {
            throw new IllegalArgumentException("field 'num_key_value_heads': " + numKeyValueHeads + " does not divide num_attention_heads "
                    + numHeads + " (grouped-query attention shares each key/value head among an equal number of query heads)");
        }
        if (headDim % 2 != 0) throw new IllegalArgumentException("field 'head_dim': " + headDim + " is odd (rotary embeddings rotate pairs)");
        if (!(rmsNormEps > 0)) throw new IllegalArgumentException("field 'rms_norm_eps': expected a positive number, found " + rmsNormEps);
        if (!(ropeTheta > 0)) throw new IllegalArgumentException("field 'rope_theta': expected a positive number, found " + ropeTheta);
        if (padTokenId != null && (padTokenId < 0 || padTokenId >= vocabSize)) {
            throw new IllegalArgumentException("field 'pad_token_id': " + padTokenId + " is outside 0 .. vocab_size-1 = " + (vocabSize - 1));
        }
        long qWidth = (long) numHeads * headDim;
        if (qWidth > Integer.MAX_VALUE / 4) throw new IllegalArgumentException("field 'num_attention_heads': heads x head_dim = " + qWidth + " is too large");
    }

    /** Query width {@code H * hd} (Qwen3 may differ from hidden_size). */
    public int queryWidth() {
        return numHeads * headDim;
    }

    /** Key (and value) width {@code KV * hd}. */
    public int keyValueWidth() {
        return numKeyValueHeads * headDim;
    }

    /** Qwen3's per-head RMSNorm of q and k before the rotation. */
    public boolean hasQueryKeyNorm() {
        return family == ModelFamily.QWEN3;
    }

    /** Biases on q, k and v. */
    public boolean hasQkvBias() {
        return family == ModelFamily.QWEN2 || attentionBias;
    }

    /** A bias on o_proj (Llama and Qwen3 with attention_bias; Qwen2 never). */
    public boolean hasOutputBias() {
        return family != ModelFamily.QWEN2 && attentionBias;
    }

    /** The kind declared by {@code architectures}, or, without it, by whether {@code score.weight} is among the tensors. */
    public ModelKind kindFor(java.util.Collection<String> canonicalNames) {
        if (!architectures.isEmpty()) {
            ModelKind k = family.kindOf(architectures.getFirst());
            if (k != null) return k;
        }
        return canonicalNames.contains(LlamaTensors.SCORE) ? ModelKind.SEQUENCE_CLASSIFIER : ModelKind.LM;
    }

    /**
     * The rotary inverse frequencies, [hd / 2]: {@code theta^(-2i/hd)}, rescaled by llama3's rule when
     * configured (wavelengths above {@code old / low_freq_factor} divided by {@code factor}, below
     * {@code old / high_freq_factor} kept, in between interpolated). Computed in double.
     */
    public double[] inverseFrequencies() {
        int half = headDim / 2;
        double[] f = new double[half];
        for (int i = 0; i < half; i++) f[i] = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
        if (ropeScaling != null) {
            Llama3Scaling s = ropeScaling;
            double old = s.originalMaxPositionEmbeddings();
            double lowWavelen = old / s.lowFreqFactor(), highWavelen = old / s.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / f[i];
                if (wavelen > lowWavelen) {
                    f[i] = f[i] / s.factor();
                } else if (wavelen >= highWavelen) {
                    double smooth = (old / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                    f[i] = (1 - smooth) * f[i] / s.factor() + smooth * f[i];
                }
            }
        }
        return f;
    }

    // ---------------------------------------------------------------- reading

    /** Reads and checks {@code config.json}; every problem is a ModelFormatException naming the file and field. */
    public static LlamaConfig read(Path file) throws IOException {
        return parse(Gpt2Config.readJson(file), file.toString());
    }

    /** Parses config JSON; {@code source} names it in error messages. */
    public static LlamaConfig parse(JsonNode root, String source) throws ModelFormatException {
        if (!root.isObject()) throw new ModelFormatException(source + ": expected a JSON object");
        ModelFamily family = ModelFamily.of(root, source);
        if (family == ModelFamily.GPT2) {
            throw new ModelFormatException(source + ": field 'model_type': a GPT-2 config, expected \"llama\", \"qwen2\" or \"qwen3\"");
        }
        try {
            return fromJson(family, (ObjectNode) root);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    public static LlamaConfig parse(String json, String source) throws ModelFormatException {
        try {
            return parse(StrictJson.parse(json), source);
        } catch (StrictJson.Malformed e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private static LlamaConfig fromJson(ModelFamily family, ObjectNode o) {
        // Hugging Face's defaults: LlamaConfig, Qwen2Config, Qwen3Config.
        boolean llama = family == ModelFamily.LLAMA;
        String act = string(o, "hidden_act", "silu");
        if (!act.equals("silu")) throw new IllegalArgumentException("field 'hidden_act': '" + act + "' is not implemented (expected \"silu\")");
        if (bool(o, "mlp_bias", false)) throw new IllegalArgumentException("field 'mlp_bias': true is not implemented (expected false)");
        if (bool(o, "use_sliding_window", false)) {
            throw new IllegalArgumentException("field 'use_sliding_window': true is not implemented (every layer attends to the whole prefix; expected false)");
        }
        int hidden = integer(o, "hidden_size", 4096);
        int heads = integer(o, "num_attention_heads", 32);
        Integer kv = nullableInteger(o, "num_key_value_heads");
        Integer hd = nullableInteger(o, "head_dim");
        int headDim;
        if (hd != null) {
            headDim = hd;
        } else if (family == ModelFamily.QWEN3) {
            headDim = 128;
        } else {
            if (heads <= 0 || hidden % heads != 0) {
                throw new IllegalArgumentException("field 'hidden_size': " + hidden + " is not a multiple of num_attention_heads " + heads
                        + " (and no head_dim is given)");
            }
            headDim = hidden / heads;
        }
        List<String> architectures = new ArrayList<>();
        JsonNode arch = o.get("architectures");
        if (arch != null && !arch.isNull()) {
            if (!arch.isArray()) throw typeError("architectures", "an array of class names", arch);
            for (JsonNode a : arch) {
                if (!a.isTextual()) throw typeError("architectures", "an array of class names", arch);
                if (family.kindOf(a.textValue()) == null) {
                    throw new IllegalArgumentException("field 'architectures': '" + a.textValue() + "' is not implemented (expected one of "
                            + family.architecture(ModelKind.LM) + ", " + family.architecture(ModelKind.SEQUENCE_CLASSIFIER) + ", "
                            + family.architecture(ModelKind.BASE) + ")");
                }
                architectures.add(a.textValue());
            }
        }
        int labels = 2;
        JsonNode i2l = o.get("id2label");
        if (i2l != null && !i2l.isNull()) {
            if (!i2l.isObject()) throw typeError("id2label", "an object of \"id\": \"label\"", i2l);
            labels = i2l.size();
        } else {
            labels = integer(o, "num_labels", 2);
        }
        return new LlamaConfig(family, architectures,
                integer(o, "vocab_size", llama ? 32000 : 151936),
                hidden,
                integer(o, "intermediate_size", llama ? 11008 : 22016),
                integer(o, "num_hidden_layers", 32),
                heads,
                kv == null ? heads : kv,
                headDim,
                number(o, "rms_norm_eps", 1e-6),
                number(o, "rope_theta", 10000.0),
                scaling(o.get("rope_scaling")),
                integer(o, "max_position_embeddings", llama ? 2048 : 32768),
                bool(o, "tie_word_embeddings", false),
                bool(o, "attention_bias", false),
                o.hasNonNull("torch_dtype") ? string(o, "torch_dtype", null) : null,
                labels,
                nullableInteger(o, "pad_token_id"),
                number(o, "initializer_range", 0.02),
                o.deepCopy());
    }

    private static Llama3Scaling scaling(JsonNode s) {
        if (s == null || s.isNull()) return null;
        if (!s.isObject()) throw typeError("rope_scaling", "null or an object", s);
        ObjectNode o = (ObjectNode) s;
        String type = o.hasNonNull("rope_type") ? string(o, "rope_type", null) : o.hasNonNull("type") ? string(o, "type", null) : null;
        if ("default".equals(type)) return null;
        if (!"llama3".equals(type)) {
            throw new IllegalArgumentException("field 'rope_scaling': rope_type '" + type + "' is not implemented (expected null or \"llama3\")");
        }
        for (String f : List.of("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")) {
            if (!o.has(f)) throw new IllegalArgumentException("field 'rope_scaling': llama3 scaling needs '" + f + "'");
        }
        double factor = number(o, "factor", 0), low = number(o, "low_freq_factor", 0), high = number(o, "high_freq_factor", 0);
        int old = integer(o, "original_max_position_embeddings", 0);
        if (!(factor > 0) || !(low > 0) || !(high > low) || old <= 0) {
            throw new IllegalArgumentException("field 'rope_scaling': expected factor > 0, 0 < low_freq_factor < high_freq_factor and "
                    + "original_max_position_embeddings > 0, found " + StrictJson.abbreviate(s.toString()));
        }
        return new Llama3Scaling(factor, low, high, old);
    }

    // ---------------------------------------------------------------- writing

    /** This config declared as {@code kind} (architectures set to the family's class name). */
    public LlamaConfig withKind(ModelKind kind) {
        return new LlamaConfig(family, List.of(family.architecture(kind)), vocabSize, hiddenSize, intermediateSize, numLayers, numHeads,
                numKeyValueHeads, headDim, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, attentionBias,
                torchDtype, numLabels, padTokenId, initializerRange, source);
    }

    /** The config as Hugging Face writes it (keys sorted, two-space indent); the weights this engine writes are float32. */
    public String toJson() {
        TreeMap<String, JsonNode> fields = new TreeMap<>();
        source.properties().forEach(e -> fields.put(e.getKey(), e.getValue()));
        JsonNodeFactory f = JsonNodeFactory.instance;
        fields.put("model_type", f.textNode(family.modelType()));
        if (!architectures.isEmpty()) fields.put("architectures", f.arrayNode().addAll(architectures.stream().map(f::textNode).toList()));
        fields.put("vocab_size", f.numberNode(vocabSize));
        fields.put("hidden_size", f.numberNode(hiddenSize));
        fields.put("intermediate_size", f.numberNode(intermediateSize));
        fields.put("num_hidden_layers", f.numberNode(numLayers));
        fields.put("num_attention_heads", f.numberNode(numHeads));
        fields.put("num_key_value_heads", f.numberNode(numKeyValueHeads));
        fields.put("head_dim", f.numberNode(headDim));
        fields.put("rms_norm_eps", f.numberNode(rmsNormEps));
        fields.put("rope_theta", f.numberNode(ropeTheta));
        fields.put("max_position_embeddings", f.numberNode(maxPositionEmbeddings));
        fields.put("tie_word_embeddings", f.booleanNode(tieWordEmbeddings));
        fields.put("hidden_act", f.textNode("silu"));
        fields.put("torch_dtype", f.textNode("float32"));
        if (!fields.containsKey("id2label") || fields.get("id2label").size() != numLabels) {
            ObjectNode i2l = f.objectNode(), l2i = f.objectNode();
            for (int i = 0; i < numLabels; i++) {
                i2l.put(Integer.toString(i), "LABEL_" + i);
                l2i.put("LABEL_" + i, i);
            }
            fields.put("id2label", i2l);
            fields.put("label2id", l2i);
        }
        ObjectNode out = f.objectNode();
        out.setAll(fields);
        DefaultIndenter indent = new DefaultIndenter("  ", "\n");
        DefaultPrettyPrinter pp = new DefaultPrettyPrinter()
                .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));
        pp.indentArraysWith(indent);
        pp.indentObjectsWith(indent);
        try {
            return StrictJson.MAPPER.writer(pp).writeValueAsString(out) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes {@link #toJson()} to {@code file} atomically. */
    public void write(Path file) throws IOException {
        AtomicFiles.write(file, toJson().getBytes(StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- field readers

    private static IllegalArgumentException typeError(String field, String expected, JsonNode found) {
        return new IllegalArgumentException("field '" + field + "': expected " + expected + ", found " + StrictJson.abbreviate(found.toString()));
    }

    private static void positive(String field, int v) {
        if (v <= 0) throw new IllegalArgumentException("field '" + field + "': expected a positive integer, found " + v);
    }

    private static int integer(ObjectNode o, String field, int dflt) {
        JsonNode v = o.get(field);
        if (v == null) return dflt;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw typeError(field, "an integer", v);
        return v.intValue();
    }

    private static Integer nullableInteger(ObjectNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw typeError(field, "an integer or null", v);
        return v.intValue();
    }

    private static double number(ObjectNode o, String field, double dflt) {
        JsonNode v = o.get(field);
        if (v == null) return dflt;
        if (!v.isNumber()) throw typeError(field, "a number", v);
        return v.doubleValue();
    }

    private static boolean bool(ObjectNode o, String field, boolean dflt) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw typeError(field, "true or false", v);
        return v.booleanValue();
    }

    private static String string(ObjectNode o, String field, String dflt) {
        JsonNode v = o.get(field);
        if (v == null) return dflt;
        if (!v.isTextual()) throw typeError(field, "a string", v);
        return v.textValue();
    }
}
