package org.densify.loaders.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.densify.loaders.safetensors.TensorInfo;
import org.densify.loaders.safetensors.TensorSource;

/**
 * A model folder of any family, checked and described for people ({@code densify inspect}): the
 * family's own folder reader checks every tensor against the config, and the config's fields are
 * given as rows of name and value in the family's own terms.
 */
public final class ModelFolders {
    private ModelFolders() {
    }

    /**
     * What a checked folder holds.
     *
     * @param configRows {@code config.json}'s fields as [name, value] rows
     * @param parameters parameters stored (mask buffers excluded)
     */
    public record Description(ModelFamily family, ModelKind kind, List<String[]> configRows, long parameters) {}

    /** Checks {@code dir} completely (as loading it would) and describes it. */
    public static Description describe(Path dir) throws IOException {
        ModelFamily family = ModelFamily.ofFolder(dir);
        if (family == ModelFamily.GPT2) {
            try (ModelFolder m = ModelFolder.open(dir)) {
                return new Description(family, m.kind(), gpt2Rows(m.config(), m.kind().toString()), m.parameterCount());
            }
        }
        try (LlamaFolder m = LlamaFolder.open(dir); TensorSource source = TensorSource.open(dir)) {
            long parameters = 0;
            for (TensorInfo t : source.tensors().values()) parameters += t.numElements();
            return new Description(family, m.kind(), llamaRows(m.config(), m.kind().toString()), parameters);
        }
    }

    /** {@code config.json} strictly parsed and not interpreted (any model type), for showing it as it is. */
    public static com.fasterxml.jackson.databind.JsonNode readConfigJson(Path file) throws IOException {
        return Gpt2Config.readJson(file);
    }

    private static List<String[]> gpt2Rows(Gpt2Config c, String kind) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"architectures", (c.architectures().isEmpty() ? "(none)" : String.join(", ", c.architectures())) + " [" + kind + "]"});
        rows.add(new String[]{"vocab_size", n(c.vocabSize())});
        rows.add(new String[]{"n_positions", n(c.nPositions())});
        rows.add(new String[]{"n_embd", c.nEmbd() + " (" + c.nHead() + " heads of " + c.headDim() + ")"});
        rows.add(new String[]{"n_layer", Integer.toString(c.nLayer())});
        rows.add(new String[]{"n_inner", c.innerDim() + (c.nInner() == null ? " (4 x n_embd)" : "")});
        rows.add(new String[]{"activation", c.activationFunction()});
        rows.add(new String[]{"layer_norm_epsilon", Double.toString(c.layerNormEpsilon())});
        rows.add(new String[]{"tie_word_embeddings", Boolean.toString(c.tieWordEmbeddings())});
        rows.add(new String[]{"labels", labels(c.numLabels(), c.id2label())});
        rows.add(new String[]{"pad/bos/eos token", c.padTokenId() + " / " + c.bosTokenId() + " / " + c.eosTokenId()});
        return rows;
    }

    private static List<String[]> llamaRows(LlamaConfig c, String kind) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"model_type", c.family().modelType()});
        rows.add(new String[]{"architectures", (c.architectures().isEmpty() ? "(none)" : String.join(", ", c.architectures())) + " [" + kind + "]"});
        rows.add(new String[]{"vocab_size", n(c.vocabSize())});
        rows.add(new String[]{"max_position_embeddings", n(c.maxPositionEmbeddings())});
        rows.add(new String[]{"hidden_size", c.hiddenSize() + " (" + c.numHeads() + " heads of " + c.headDim() + ", " + c.numKeyValueHeads()
                + " key/value heads)"});
        rows.add(new String[]{"num_hidden_layers", Integer.toString(c.numLayers())});
        rows.add(new String[]{"intermediate_size", Integer.toString(c.intermediateSize())});
        rows.add(new String[]{"rms_norm_eps", Double.toString(c.rmsNormEps())});
        rows.add(new String[]{"rope_theta", c.ropeTheta() + (c.ropeScaling() == null ? "" : " (llama3 scaling x" + c.ropeScaling().factor() + ")")});
        rows.add(new String[]{"tie_word_embeddings", Boolean.toString(c.tieWordEmbeddings())});
        Map<Integer, String> names = new java.util.LinkedHashMap<>();
        var i2l = c.source().get("id2label");
        for (int i = 0; i < c.numLabels(); i++) {
            var name = i2l == null ? null : i2l.get(Integer.toString(i));
            names.put(i, name != null && name.isTextual() ? name.textValue() : "LABEL_" + i);
        }
        rows.add(new String[]{"labels", labels(c.numLabels(), names)});
        rows.add(new String[]{"pad/bos/eos token", c.padTokenId() + " / " + field(c, "bos_token_id") + " / " + field(c, "eos_token_id")});
        return rows;
    }

    private static String field(LlamaConfig c, String name) {
        var v = c.source().get(name);
        return v == null ? "null" : v.toString();
    }

    private static String labels(int n, Map<Integer, String> id2label) {
        return n + ": " + id2label.entrySet().stream().limit(6).map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(", "))
                + (n > 6 ? ", ..." : "");
    }

    private static String n(long v) {
        return String.format(java.util.Locale.ROOT, "%,d", v);
    }
}
