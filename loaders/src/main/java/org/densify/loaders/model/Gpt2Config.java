package org.densify.loaders.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.loaders.io.AtomicFiles;
import org.densify.loaders.io.StrictJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.densify.loaders.io.StrictJson.abbreviate;

/**
 * A GPT-2 {@code config.json}, with Hugging Face {@code GPT2Config} defaults for absent fields.
 * Fields this engine does not interpret are kept in {@link #extra()} and written back unchanged.
 *
 * <p>Labels follow {@code PretrainedConfig}: {@code id2label} wins when present (its size is
 * {@link #numLabels()}, whatever {@code num_labels} says); otherwise {@code num_labels} (default 2)
 * makes {@code LABEL_0 .. LABEL_{n-1}}.
 *
 * <p>Configurations whose numerics this engine does not implement are refused rather than run
 * wrongly: an unknown activation, {@code scale_attn_weights: false},
 * {@code scale_attn_by_inverse_layer_idx: true}, {@code add_cross_attention: true}, a
 * {@code model_type} other than {@code gpt2}, or an architecture other than those of {@link ModelKind}.
 *
 * <p>The file is read strictly ({@link StrictJson}): strict UTF-8, one JSON object, no duplicate
 * keys, nothing after it. Beyond Hugging Face, which validates almost nothing, these are checked:
 * <ul>
 *   <li>sizes: positive, {@code n_embd} divisible by {@code n_head}, {@code n_layer} at most
 *       {@value #MAX_LAYERS}, {@code 4 * n_embd} (the default {@code n_inner}) within an int, and the
 *       body's parameter count within {@code Long.MAX_VALUE / 8} (so byte sizes and file offsets
 *       never overflow);</li>
 *   <li>labels: {@code id2label} keys are canonical decimal ids (so {@code "1"} and {@code "01"}
 *       cannot collapse into one), exactly {@code 0 .. n-1}, at most {@value #MAX_LABELS}, label
 *       names distinct; a {@code label2id} in the file must be the exact inverse of
 *       {@code id2label} (when the file has no {@code id2label}, of the default
 *       {@code LABEL_0 .. LABEL_{n-1}});</li>
 *   <li>{@code pad_token_id}, when set, is a token of the vocabulary ({@code 0 .. vocab_size-1}):
 *       a classifier finds each sequence's last real token by it, so an id no input can hold would
 *       silently read the wrong position;</li>
 *   <li>{@code bos_token_id} / {@code eos_token_id} are deliberately <em>not</em> checked against
 *       {@code vocab_size}: Hugging Face's defaults are 50256 and it never validates them, so
 *       configurations of small custom vocabularies routinely carry 50256, and refusing them would
 *       refuse real model folders. Nothing in the loaders uses them; a caller that does must check.</li>
 * </ul>
 *
 * @param nInner          MLP width, or null for {@code 4 * n_embd} (see {@link #innerDim()})
 * @param architectures   as written in the file; empty when absent
 * @param id2label        label id to name, ids exactly {@code 0 .. n-1}
 * @param label2id        as written, or the inverse of {@code id2label}
 * @param problemType     {@code problem_type} for classifiers, or null
 * @param extra           every other field of the file, kept for writing back
 */
public record Gpt2Config(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead, Integer nInner,
                         String activationFunction, double layerNormEpsilon, List<String> architectures,
                         Map<Integer, String> id2label, Map<String, Integer> label2id, String problemType,
                         Integer padTokenId, Integer bosTokenId, Integer eosTokenId, boolean tieWordEmbeddings,
                         double residPdrop, double embdPdrop, double attnPdrop, double initializerRange,
                         ObjectNode extra) {

    /**
     * The activations the engine implements; a configuration naming another (Hugging Face's exact
     * {@code gelu}, {@code relu}, ...) is refused here, where it is read, rather than by the model.
     */
    public enum Activation {
        /** {@code gelu_new} / {@code gelu_pytorch_tanh}: {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}. */
        GELU_NEW
    }

    private static final Map<String, Activation> ACTIVATIONS = Map.of(
            "gelu_new", Activation.GELU_NEW, "gelu_pytorch_tanh", Activation.GELU_NEW);
    /** The most layers a configuration may declare (GPT-2 XL has 48). */
    public static final int MAX_LAYERS = 10_000;
    /** The most classifier labels a configuration may declare. */
    public static final int MAX_LABELS = 100_000;
    /** Bound on the body's parameter count, so that its size in bytes (even as F64) fits a long. */
    private static final long MAX_PARAMETERS = Long.MAX_VALUE / 8;
    private static final java.util.regex.Pattern CANONICAL_ID = java.util.regex.Pattern.compile("0|[1-9][0-9]{0,9}");

    private static final List<String> KNOWN = List.of("vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
            "n_inner", "activation_function", "layer_norm_epsilon", "architectures", "num_labels", "id2label",
            "label2id", "problem_type", "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings",
            "resid_pdrop", "embd_pdrop", "attn_pdrop", "initializer_range", "model_type");

    private static final ObjectMapper JSON = StrictJson.MAPPER;

    public Gpt2Config {
        positive("vocab_size", vocabSize);
        positive("n_positions", nPositions);
        positive("n_embd", nEmbd);
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        if (nInner != null) positive("n_inner", nInner);
        if (nLayer > MAX_LAYERS) {
            throw new IllegalArgumentException("field 'n_layer': " + nLayer + " layers is more than this engine accepts (at most " + MAX_LAYERS + ")");
        }
        if (nInner == null && nEmbd > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("field 'n_embd': " + nEmbd + " is too large: n_inner is null, so the MLP width would be 4 * n_embd = "
                    + 4L * nEmbd + ", beyond a 32-bit int (expected n_embd <= " + Integer.MAX_VALUE / 4 + ")");
        }
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("field 'n_embd': " + nEmbd + " is not divisible by n_head = " + nHead + " (expected a multiple of n_head)");
        }
        if (!ACTIVATIONS.containsKey(activationFunction)) {
            throw new IllegalArgumentException("field 'activation_function': unsupported value '" + activationFunction
                    + "' (expected one of " + new TreeMap<>(ACTIVATIONS).keySet() + ")");
        }
        if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon)) {
            throw new IllegalArgumentException("field 'layer_norm_epsilon': expected a positive number, found " + layerNormEpsilon);
        }
        architectures = List.copyOf(architectures);
        ModelKind kind = null;
        for (String a : architectures) {
            ModelKind k = ModelKind.ofArchitecture(a);
            if (k == null) {
                throw new IllegalArgumentException("field 'architectures': unsupported architecture '" + a
                        + "' (expected GPT2LMHeadModel, GPT2Model, GPT2ForSequenceClassification or GPT2DoubleHeadsModel)");
            }
            if (kind != null && k != kind) {
                throw new IllegalArgumentException("field 'architectures': " + architectures + " mixes kinds of model (expected one)");
            }
            kind = k;
        }
        if (id2label.isEmpty()) throw new IllegalArgumentException("field 'id2label': expected at least one label");
        if (id2label.size() > MAX_LABELS) {
            throw new IllegalArgumentException("field 'id2label': " + id2label.size() + " labels is more than this engine accepts (at most " + MAX_LABELS + ")");
        }
        for (int i = 0; i < id2label.size(); i++) {
            if (!id2label.containsKey(i)) {
                throw new IllegalArgumentException("field 'id2label': label ids must be 0.." + (id2label.size() - 1) + ", found " + abbreviate(new TreeMap<>(id2label).keySet()));
            }
        }
        id2label = Collections.unmodifiableMap(new TreeMap<>(id2label));
        Map<String, Integer> firstId = new LinkedHashMap<>();
        for (Map.Entry<Integer, String> e : id2label.entrySet()) {
            if (e.getValue() == null) throw new IllegalArgumentException("field 'id2label': label " + e.getKey() + " has no name");
            Integer prev = firstId.putIfAbsent(e.getValue(), e.getKey());
            if (prev != null) {
                throw new IllegalArgumentException("field 'id2label': ids " + prev + " and " + e.getKey() + " are both named '" + e.getValue()
                        + "' (label names must be distinct, or label2id cannot map them back)");
            }
        }
        Map<String, Integer> inverse = Collections.unmodifiableMap(firstId);
        if (label2id == null) {
            label2id = inverse;
        } else {
            label2id = Collections.unmodifiableMap(new LinkedHashMap<>(label2id));
            if (!label2id.equals(inverse)) {
                throw new IllegalArgumentException("field 'label2id': " + abbreviate(label2id) + " is not the inverse of id2label "
                        + abbreviate(id2label) + " (expected " + abbreviate(inverse) + "; without id2label the labels are LABEL_0 .. LABEL_n-1)");
            }
        }
        if (padTokenId != null && (padTokenId < 0 || padTokenId >= vocabSize)) {
            throw new IllegalArgumentException("field 'pad_token_id': " + padTokenId + " is not a token of a vocabulary of vocab_size = " + vocabSize
                    + " (expected 0.." + (vocabSize - 1) + " or null; a classifier finds the last token of each sequence by it)");
        }
        for (double p : new double[]{residPdrop, embdPdrop, attnPdrop}) {
            if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("dropout probabilities must be in [0, 1], found " + p);
        }
        if (!Double.isFinite(initializerRange) || initializerRange < 0) {
            throw new IllegalArgumentException("field 'initializer_range': expected a non-negative number, found " + initializerRange);
        }
        long parameters;
        try {
            parameters = exactBodyParameters(vocabSize, nPositions, nEmbd, nLayer, nInner != null ? nInner : 4 * nEmbd);
        } catch (ArithmeticException e) {
            parameters = Long.MAX_VALUE;
        }
        if (parameters > MAX_PARAMETERS) {
            throw new IllegalArgumentException("the sizes (vocab_size=" + vocabSize + ", n_positions=" + nPositions + ", n_embd=" + nEmbd
                    + ", n_layer=" + nLayer + (nInner != null ? ", n_inner=" + nInner : "") + ") give a body of more than "
                    + MAX_PARAMETERS + " parameters (its size in bytes would overflow)");
        }
        extra = extra == null ? JsonNodeFactory.instance.objectNode() : extra.deepCopy();
        for (String k : KNOWN) extra.remove(k);
    }

    /** Hugging Face's defaults (GPT-2 small, 124M). */
    public static Gpt2Config defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.vocabSize = vocabSize;
        b.nPositions = nPositions;
        b.nEmbd = nEmbd;
        b.nLayer = nLayer;
        b.nHead = nHead;
        b.nInner = nInner;
        b.activationFunction = activationFunction;
        b.layerNormEpsilon = layerNormEpsilon;
        b.architectures = architectures;
        b.id2label = id2label;
        b.label2id = label2id;
        b.problemType = problemType;
        b.padTokenId = padTokenId;
        b.bosTokenId = bosTokenId;
        b.eosTokenId = eosTokenId;
        b.tieWordEmbeddings = tieWordEmbeddings;
        b.residPdrop = residPdrop;
        b.embdPdrop = embdPdrop;
        b.attnPdrop = attnPdrop;
        b.initializerRange = initializerRange;
        b.extra = extra;
        return b;
    }

    /** The extra fields (a copy). */
    @Override
    public ObjectNode extra() {
        return extra.deepCopy();
    }

    /** MLP width: {@code n_inner}, or {@code 4 * n_embd} when it is null (checked to fit an int when built). */
    public int innerDim() {
        return nInner != null ? nInner : Math.multiplyExact(4, nEmbd);
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    public int numLabels() {
        return id2label.size();
    }

    public Activation activation() {
        return ACTIVATIONS.get(activationFunction);
    }

    /** The kind named by {@code architectures}; empty when the file names none. */
    public Optional<ModelKind> declaredKind() {
        return architectures.isEmpty() ? Optional.empty() : Optional.of(ModelKind.ofArchitecture(architectures.getFirst()));
    }

    /**
     * The kind of a model of this config that holds the tensors named (canonical names, see
     * {@link Gpt2Tensors#canonical(String)}): the {@linkplain #declaredKind() declared} kind; without
     * {@code architectures}, {@link ModelKind#SEQUENCE_CLASSIFIER} when {@code score.weight} is among
     * them, else {@link ModelKind#LM}. The one rule both {@link ModelFolder} (reading) and
     * {@link ModelWriter} (writing) apply, so that whatever the writer writes the reader opens.
     */
    public ModelKind kindFor(Collection<String> canonicalTensorNames) {
        return declaredKind().orElse(canonicalTensorNames.contains(Gpt2Tensors.SCORE) ? ModelKind.SEQUENCE_CLASSIFIER : ModelKind.LM);
    }

    /** Trainable parameters of the body (embeddings, blocks, final LayerNorm; heads excluded). */
    public long bodyParameters() {
        return exactBodyParameters(vocabSize, nPositions, nEmbd, nLayer, innerDim()); // bounded when built: cannot overflow
    }

    private static long exactBodyParameters(long vocab, long positions, long d, long layers, long f) {
        // per block: ln_1 and ln_2 (2 x 2d), c_attn (d x 3d + 3d), attn c_proj (d x d + d), c_fc (d x f + f), mlp c_proj (f x d + d)
        long block = Math.addExact(Math.addExact(Math.multiplyExact(4, d), Math.multiplyExact(Math.multiplyExact(3, d), Math.addExact(d, 1))),
                Math.addExact(Math.multiplyExact(d, Math.addExact(d, 1)),
                        Math.addExact(Math.multiplyExact(f, Math.addExact(d, 1)), Math.multiplyExact(d, Math.addExact(f, 1)))));
        long embeddings = Math.multiplyExact(Math.addExact(vocab, positions), d);
        return Math.addExact(Math.addExact(embeddings, Math.multiplyExact(layers, block)), Math.multiplyExact(2, d));
    }

    // ---------------------------------------------------------------- reading

    /**
     * Reads {@code config.json}; every problem with its content is a {@link ModelFormatException}
     * naming the file. A file that cannot be read at all is a ModelFormatException when missing,
     * else the {@link IOException} the file system gave.
     */
    public static Gpt2Config read(Path file) throws IOException {
        return parse(readJson(file), file.toString());
    }

    /**
     * {@code config.json} as strictly parsed JSON (see {@link StrictJson}), not interpreted: for tools
     * that show a configuration this engine may not support. Problems as for {@link #read(Path)}.
     */
    public static JsonNode readJson(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file + ": missing (a model folder needs config.json)", e);
        }
        try {
            return StrictJson.parse(bytes);
        } catch (StrictJson.Malformed e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    /** Parses config JSON from its UTF-8 bytes (strictly decoded); {@code source} names it in error messages. */
    public static Gpt2Config parse(byte[] utf8, String source) throws ModelFormatException {
        try {
            return parse(StrictJson.parse(utf8), source);
        } catch (StrictJson.Malformed e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    /** Parses config JSON text; {@code source} names it in error messages. */
    public static Gpt2Config parse(String json, String source) throws ModelFormatException {
        try {
            return parse(StrictJson.parse(json), source);
        } catch (StrictJson.Malformed e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private static Gpt2Config parse(JsonNode root, String source) throws ModelFormatException {
        if (!root.isObject()) throw new ModelFormatException(source + ": expected a JSON object, found " + describe(root));
        try {
            return fromJson((ObjectNode) root);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private static Gpt2Config fromJson(ObjectNode o) {
        String modelType = string(o, "model_type", "gpt2");
        if (!"gpt2".equals(modelType)) {
            throw new IllegalArgumentException("field 'model_type': unsupported model type '" + modelType + "' (expected \"gpt2\")");
        }
        requireFlag(o, "scale_attn_weights", true, "attention scores are always scaled by 1/sqrt(head_dim)");
        requireFlag(o, "scale_attn_by_inverse_layer_idx", false, "per-layer attention scaling is not implemented");
        requireFlag(o, "add_cross_attention", false, "cross-attention is not implemented");
        Builder b = builder();
        b.vocabSize = integer(o, "vocab_size", b.vocabSize);
        b.nPositions = integer(o, "n_positions", b.nPositions);
        b.nEmbd = integer(o, "n_embd", b.nEmbd);
        b.nLayer = integer(o, "n_layer", b.nLayer);
        b.nHead = integer(o, "n_head", b.nHead);
        b.nInner = nullableInteger(o, "n_inner", null);
        b.activationFunction = string(o, "activation_function", b.activationFunction);
        b.layerNormEpsilon = number(o, "layer_norm_epsilon", b.layerNormEpsilon);
        b.residPdrop = number(o, "resid_pdrop", b.residPdrop);
        b.embdPdrop = number(o, "embd_pdrop", b.embdPdrop);
        b.attnPdrop = number(o, "attn_pdrop", b.attnPdrop);
        b.initializerRange = number(o, "initializer_range", b.initializerRange);
        b.padTokenId = nullableInteger(o, "pad_token_id", b.padTokenId);
        b.bosTokenId = nullableInteger(o, "bos_token_id", b.bosTokenId);
        b.eosTokenId = nullableInteger(o, "eos_token_id", b.eosTokenId);
        b.tieWordEmbeddings = bool(o, "tie_word_embeddings", b.tieWordEmbeddings);
        b.problemType = o.hasNonNull("problem_type") ? string(o, "problem_type", null) : null;
        JsonNode arch = o.get("architectures");
        if (arch != null && !arch.isNull()) {
            if (!arch.isArray()) throw typeError("architectures", "an array of class names", arch);
            List<String> list = new ArrayList<>();
            for (JsonNode a : arch) {
                if (!a.isTextual()) throw typeError("architectures", "an array of class names", arch);
                list.add(a.textValue());
            }
            b.architectures = list;
        }
        JsonNode i2l = o.get("id2label");
        if (i2l != null && !i2l.isNull()) {
            if (!i2l.isObject()) throw typeError("id2label", "an object of \"id\": \"label\"", i2l);
            Map<Integer, String> m = new TreeMap<>();
            for (Map.Entry<String, JsonNode> e : i2l.properties()) {
                int id;
                try {
                    // Canonical form only, as Hugging Face writes it: "01" or "+1" would collapse into "1".
                    if (!CANONICAL_ID.matcher(e.getKey()).matches()) throw new NumberFormatException();
                    id = Integer.parseInt(e.getKey());
                } catch (NumberFormatException ex) {
                    throw new IllegalArgumentException("field 'id2label': key '" + abbreviate(e.getKey())
                            + "' is not a label id (expected a decimal integer without sign or leading zeros, e.g. \"0\", \"1\")");
                }
                if (!e.getValue().isTextual()) throw typeError("id2label", "string label names", e.getValue());
                m.put(id, e.getValue().textValue());
            }
            b.id2label = m;
        } else {
            b.numLabels(integer(o, "num_labels", 2));
        }
        JsonNode l2i = o.get("label2id");
        if (l2i != null && !l2i.isNull()) {
            if (!l2i.isObject()) throw typeError("label2id", "an object of \"label\": id", l2i);
            Map<String, Integer> m = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : l2i.properties()) {
                if (!e.getValue().isIntegralNumber() || !e.getValue().canConvertToInt()) throw typeError("label2id", "integer ids", e.getValue());
                m.put(e.getKey(), e.getValue().intValue());
            }
            b.label2id = m;
        } else {
            b.label2id = null;
        }
        b.extra = o;
        return b.build();
    }

    private static IllegalArgumentException typeError(String field, String expected, JsonNode found) {
        return new IllegalArgumentException("field '" + field + "': expected " + expected + ", found " + describe(found));
    }

    /** A short rendering of a JSON value for messages. */
    private static String describe(JsonNode node) {
        return abbreviate(node.toString());
    }


    private static int integer(ObjectNode o, String field, int dflt) {
        JsonNode v = o.get(field);
        if (v == null) return dflt;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw typeError(field, "an integer", v);
        return v.intValue();
    }

    private static Integer nullableInteger(ObjectNode o, String field, Integer dflt) {
        JsonNode v = o.get(field);
        if (v == null) return dflt;
        if (v.isNull()) return null;
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
        if (v == null) return dflt;
        if (!v.isBoolean()) throw typeError(field, "true or false", v);
        return v.booleanValue();
    }

    private static String string(ObjectNode o, String field, String dflt) {
        JsonNode v = o.get(field);
        if (v == null) return dflt;
        if (!v.isTextual()) throw typeError(field, "a string", v);
        return v.textValue();
    }

    private static void requireFlag(ObjectNode o, String field, boolean supported, String why) {
        if (bool(o, field, supported) != supported) {
            throw new IllegalArgumentException("field '" + field + "': " + !supported + " is not supported (" + why + "; expected " + supported + ")");
        }
    }

    // ---------------------------------------------------------------- writing

    /** The config as Hugging Face writes it: keys sorted, two-space indent, trailing newline. */
    public String toJson() {
        TreeMap<String, JsonNode> fields = new TreeMap<>();
        extra.properties().forEach(e -> fields.put(e.getKey(), e.getValue()));
        JsonNodeFactory f = JsonNodeFactory.instance;
        fields.put("model_type", f.textNode("gpt2"));
        fields.put("vocab_size", f.numberNode(vocabSize));
        fields.put("n_positions", f.numberNode(nPositions));
        fields.put("n_embd", f.numberNode(nEmbd));
        fields.put("n_layer", f.numberNode(nLayer));
        fields.put("n_head", f.numberNode(nHead));
        fields.put("n_inner", nInner == null ? f.nullNode() : f.numberNode(nInner));
        fields.put("activation_function", f.textNode(activationFunction));
        fields.put("layer_norm_epsilon", f.numberNode(layerNormEpsilon));
        fields.put("resid_pdrop", f.numberNode(residPdrop));
        fields.put("embd_pdrop", f.numberNode(embdPdrop));
        fields.put("attn_pdrop", f.numberNode(attnPdrop));
        fields.put("initializer_range", f.numberNode(initializerRange));
        fields.put("tie_word_embeddings", f.booleanNode(tieWordEmbeddings));
        fields.put("pad_token_id", padTokenId == null ? f.nullNode() : f.numberNode(padTokenId));
        fields.put("bos_token_id", bosTokenId == null ? f.nullNode() : f.numberNode(bosTokenId));
        fields.put("eos_token_id", eosTokenId == null ? f.nullNode() : f.numberNode(eosTokenId));
        if (!architectures.isEmpty()) fields.put("architectures", f.arrayNode().addAll(architectures.stream().map(f::textNode).toList()));
        ObjectNode i2l = f.objectNode();
        id2label.forEach((k, v) -> i2l.put(Integer.toString(k), v));
        fields.put("id2label", i2l);
        ObjectNode l2i = f.objectNode();
        label2id.forEach(l2i::put);
        fields.put("label2id", l2i);
        if (problemType != null) fields.put("problem_type", f.textNode(problemType));
        ObjectNode out = f.objectNode();
        out.setAll(fields);
        DefaultIndenter indent = new DefaultIndenter("  ", "\n");
        DefaultPrettyPrinter pp = new DefaultPrettyPrinter()
                .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));
        pp.indentArraysWith(indent);
        pp.indentObjectsWith(indent);
        try {
            return JSON.writer(pp).writeValueAsString(out) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e); // a tree of plain values always serializes
        }
    }

    /** Writes {@link #toJson()} to {@code file} atomically. */
    public void write(Path file) throws IOException {
        AtomicFiles.write(file, toJson().getBytes(StandardCharsets.UTF_8));
    }

    private static void positive(String field, int v) {
        if (v <= 0) throw new IllegalArgumentException("field '" + field + "': expected a positive integer, found " + v);
    }

    /** Mutable builder starting from Hugging Face's defaults. */
    public static final class Builder {
        private int vocabSize = 50257, nPositions = 1024, nEmbd = 768, nLayer = 12, nHead = 12;
        private Integer nInner;
        private String activationFunction = "gelu_new";
        private double layerNormEpsilon = 1e-5;
        private List<String> architectures = List.of();
        private Map<Integer, String> id2label = labels(2);
        private Map<String, Integer> label2id;
        private String problemType;
        private Integer padTokenId, bosTokenId = 50256, eosTokenId = 50256;
        private boolean tieWordEmbeddings = true;
        private double residPdrop = 0.1, embdPdrop = 0.1, attnPdrop = 0.1, initializerRange = 0.02;
        private ObjectNode extra;

        private Builder() {
        }

        private static Map<Integer, String> labels(int n) {
            Map<Integer, String> m = new TreeMap<>();
            for (int i = 0; i < n; i++) m.put(i, "LABEL_" + i);
            return m;
        }

        public Builder vocabSize(int v) { vocabSize = v; return this; }
        public Builder nPositions(int v) { nPositions = v; return this; }
        public Builder nEmbd(int v) { nEmbd = v; return this; }
        public Builder nLayer(int v) { nLayer = v; return this; }
        public Builder nHead(int v) { nHead = v; return this; }
        public Builder nInner(Integer v) { nInner = v; return this; }
        public Builder activationFunction(String v) { activationFunction = v; return this; }
        public Builder layerNormEpsilon(double v) { layerNormEpsilon = v; return this; }
        public Builder architectures(String... v) { architectures = Arrays.asList(v); return this; }
        /** Sets {@code architectures} to the class of {@code kind}. */
        public Builder kind(ModelKind kind) { return architectures(kind.architecture()); }
        /** {@code LABEL_0 .. LABEL_{n-1}}, as {@code num_labels} does in Hugging Face. */
        public Builder numLabels(int n) {
            if (n <= 0) throw new IllegalArgumentException("field 'num_labels': expected a positive integer, found " + n);
            if (n > MAX_LABELS) throw new IllegalArgumentException("field 'num_labels': " + n + " labels is more than this engine accepts (at most " + MAX_LABELS + ")");
            id2label = labels(n);
            label2id = null;
            return this;
        }
        public Builder id2label(Map<Integer, String> v) { id2label = v; label2id = null; return this; }
        public Builder problemType(String v) { problemType = v; return this; }
        public Builder padTokenId(Integer v) { padTokenId = v; return this; }
        public Builder bosTokenId(Integer v) { bosTokenId = v; return this; }
        public Builder eosTokenId(Integer v) { eosTokenId = v; return this; }
        public Builder tieWordEmbeddings(boolean v) { tieWordEmbeddings = v; return this; }
        public Builder dropout(double resid, double embd, double attn) { residPdrop = resid; embdPdrop = embd; attnPdrop = attn; return this; }
        public Builder initializerRange(double v) { initializerRange = v; return this; }

        /** Validates (see the record's constructor) and builds. */
        public Gpt2Config build() {
            return new Gpt2Config(vocabSize, nPositions, nEmbd, nLayer, nHead, nInner, activationFunction,
                    layerNormEpsilon, architectures, id2label, label2id, problemType, padTokenId, bosTokenId,
                    eosTokenId, tieWordEmbeddings, residPdrop, embdPdrop, attnPdrop, initializerRange, extra);
        }
    }
}
