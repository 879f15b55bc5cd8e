package org.densify.loaders.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import org.densify.loaders.safetensors.SafetensorsFolder;
import org.densify.loaders.safetensors.SafetensorsWriter;
import org.densify.loaders.safetensors.TensorInfo;

/**
 * Writes a Llama-family folder that {@link LlamaFolder} and Hugging Face {@code from_pretrained}
 * load: F32 tensors, the body under {@code model.} (as {@code *ForCausalLM} and
 * {@code *ForSequenceClassification} save it; a bare {@code *Model} without), heads unprefixed,
 * {@code __metadata__ {"format": "pt"}}; weights first then {@code config.json}, each atomically.
 */
public final class LlamaWriter {
    private final LlamaConfig config;
    private final ModelKind kind;
    private final Map<String, long[]> body;
    private final SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
    private final Set<String> added = new HashSet<>();

    /** A writer for a model of {@code config} saved as {@code kind}. */
    public LlamaWriter(LlamaConfig config, ModelKind kind) {
        this.config = config.withKind(kind);
        this.kind = kind;
        this.body = LlamaTensors.body(config);
    }

    /** Adds a tensor by canonical name with exactly its expected element count. */
    public LlamaWriter put(String canonical, float[] values) {
        long[] shape = body.containsKey(canonical) ? body.get(canonical) : LlamaTensors.headShape(canonical, config);
        if (shape == null) throw new IllegalArgumentException("'" + canonical + "' is not a tensor of this " + config.family().modelType() + " model");
        if (canonical.equals(LlamaTensors.LM_HEAD) && config.tieWordEmbeddings()) {
            throw new IllegalArgumentException("lm_head.weight is tied to embed_tokens.weight (tie_word_embeddings is true); do not store it");
        }
        long n = TensorInfo.elementCount(shape);
        if (n != values.length) throw new IllegalArgumentException("'" + canonical + "' needs " + n + " values, got " + values.length);
        if (!added.add(canonical)) throw new IllegalArgumentException("'" + canonical + "' given twice");
        boolean prefixed = kind != ModelKind.BASE && body.containsKey(canonical);
        writer.add(prefixed ? LlamaTensors.PREFIX + canonical : canonical, shape, values);
        return this;
    }

    /** Writes {@code dir/model.safetensors} then {@code dir/config.json}. */
    public void write(Path dir) throws IOException {
        Set<String> missing = new LinkedHashSet<>(LlamaTensors.required(config, kind).keySet());
        missing.removeAll(added);
        if (!missing.isEmpty()) {
            throw new IllegalStateException("cannot write " + dir + ": " + missing.size() + " tensor(s) not given, e.g. '"
                    + missing.iterator().next() + "' (a " + config.family().architecture(kind) + " needs them)");
        }
        if (added.contains(LlamaTensors.VALUE_HEAD_WEIGHT) != added.contains(LlamaTensors.VALUE_HEAD_BIAS)) {
            throw new IllegalStateException("cannot write " + dir + ": a value head needs both v_head.summary.weight and v_head.summary.bias");
        }
        Files.createDirectories(dir);
        writer.write(dir.resolve(SafetensorsFolder.SINGLE_FILE));
        config.write(dir.resolve(ModelFolder.CONFIG_FILE));
    }
}
