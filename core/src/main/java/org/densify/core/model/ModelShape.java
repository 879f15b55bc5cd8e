package org.densify.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.Gpt2Tensors;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.LlamaTensors;
import org.densify.loaders.model.ModelFamily;

/**
 * The family-neutral facts of a model's {@code config.json}: what commands above the model need to
 * check inputs, estimate memory and describe a model, without naming its family. Read from a folder
 * ({@link #read}) or from a loaded model ({@link LanguageModel#shape()}).
 *
 * @param maxSequenceLength n_positions / max_position_embeddings
 * @param keyValueHeads     heads of the keys and values (GPT-2: every head; Llama: grouped-query)
 * @param intermediateSize  width of the MLP's hidden layer
 * @param numLabels         labels a classifier of this config has
 * @param labels            the label names ({@code id2label} in id order)
 * @param padTokenId        {@code pad_token_id}, or null
 * @param tiedEmbeddings    the LM head is the token embedding
 * @param bodyTensors       the trunk's tensors (no LM head, no other head) and their shapes
 */
public record ModelShape(ModelFamily family, int vocabSize, int maxSequenceLength, int hiddenSize, int layers, int heads,
                         int keyValueHeads, int headDim, int intermediateSize, int numLabels, List<String> labels, Integer padTokenId,
                         boolean tiedEmbeddings, Map<String, long[]> bodyTensors) {

    public ModelShape {
        labels = List.copyOf(labels);
        bodyTensors = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(bodyTensors));
    }

    /** Reads {@code dir/config.json} as the family it names (the checks of that family's config reader apply). */
    public static ModelShape read(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        return switch (ModelFamily.ofFolder(dir)) {
            case GPT2 -> of(Gpt2Config.read(file));
            case LLAMA, QWEN2, QWEN3 -> of(LlamaConfig.read(file));
        };
    }

    public static ModelShape of(Gpt2Config c) {
        return new ModelShape(ModelFamily.GPT2, c.vocabSize(), c.nPositions(), c.nEmbd(), c.nLayer(), c.nHead(), c.nHead(), c.headDim(),
                c.innerDim(), c.numLabels(), new ArrayList<>(c.id2label().values()), c.padTokenId(), c.tieWordEmbeddings(), Gpt2Tensors.body(c));
    }

    public static ModelShape of(LlamaConfig c) {
        List<String> names = new ArrayList<>();
        JsonNode i2l = c.source().get("id2label");
        for (int i = 0; i < c.numLabels(); i++) {
            JsonNode name = i2l == null ? null : i2l.get(Integer.toString(i));
            names.add(name != null && name.isTextual() ? name.textValue() : "LABEL_" + i);
        }
        return new ModelShape(c.family(), c.vocabSize(), c.maxPositionEmbeddings(), c.hiddenSize(), c.numLayers(), c.numHeads(),
                c.numKeyValueHeads(), c.headDim(), c.intermediateSize(), c.numLabels(), names, c.padTokenId(), c.tieWordEmbeddings(), LlamaTensors.body(c));
    }

    /**
     * The tensors of a model of this config with {@code heads}, in the order of its parameter block:
     * the trunk, an untied LM head, the classifier, TRL's value head (the same canonical names in
     * every family).
     */
    public Map<String, long[]> parameterShapes(Heads heads) {
        Map<String, long[]> shapes = new LinkedHashMap<>(bodyTensors);
        if (!tiedEmbeddings) shapes.put("lm_head.weight", new long[] {vocabSize, hiddenSize});
        if (heads.classifier()) shapes.put("score.weight", new long[] {numLabels, hiddenSize});
        if (heads.value()) {
            shapes.put("v_head.summary.weight", new long[] {1, hiddenSize});
            shapes.put("v_head.summary.bias", new long[] {1});
        }
        return shapes;
    }

    /** Floats of the parameter block of a model of this config with {@code heads} (alignment padding included). */
    public long parameterFloats(Heads heads) {
        return new ParameterLayout(parameterShapes(heads)).size();
    }

    /** Parameters of the trunk (embeddings and blocks; no LM head of its own, no other head). */
    public long bodyParameters() {
        long n = 0;
        for (long[] shape : bodyTensors.values()) {
            long k = 1;
            for (long d : shape) k = Math.multiplyExact(k, d);
            n = Math.addExact(n, k);
        }
        return n;
    }

    /** The family as people write it: GPT-2, Llama, Qwen2, Qwen3. */
    public String familyName() {
        return family == ModelFamily.GPT2 ? "GPT-2" : family.architecture(org.densify.loaders.model.ModelKind.BASE).replace("Model", "");
    }

    /** Width of the keys (and values) of one layer: {@code keyValueHeads * headDim}. */
    public int keyValueWidth() {
        return keyValueHeads * headDim;
    }
}
