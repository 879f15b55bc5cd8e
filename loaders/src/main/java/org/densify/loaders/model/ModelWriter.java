package org.densify.loaders.model;

import org.densify.loaders.safetensors.SafetensorsFolder;
import org.densify.loaders.safetensors.SafetensorsWriter;
import org.densify.loaders.safetensors.TensorInfo;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Writes a GPT-2 model folder ({@code config.json} + {@code model.safetensors}) that both
 * {@link ModelFolder} and Hugging Face {@code from_pretrained} load: F32 tensors, body names with the
 * {@code transformer.} prefix when the config declares a {@link ModelKind#prefixesBody() prefixed}
 * architecture (as {@code GPT2LMHeadModel} / {@code GPT2ForSequenceClassification} save them), and
 * {@code __metadata__ {"format": "pt"}}, which {@code transformers} requires of safetensors files.
 *
 * <p>The tensors a model must hold are those {@link ModelFolder} requires, by the same rule: the kind
 * is {@link Gpt2Config#kindFor(java.util.Collection)} of the tensors given (the declared kind, or
 * without {@code architectures} a classifier when {@code score.weight} is given, else an LM), and
 * {@link Gpt2Tensors#required} lists what that kind needs. So a folder this writer writes always
 * opens with {@link ModelFolder#open(Path)}, with the same tensors.
 *
 * <p>Each file is replaced atomically, weights first then config; a crash between the two can
 * leave new weights beside the old config, never a torn file.
 */
public final class ModelWriter {
    private final Gpt2Config config;
    private final boolean prefix;
    private final Map<String, long[]> body;
    private final SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
    private final Set<String> added = new HashSet<>();

    /**
     * A writer for a model of {@code config}. The body is stored with the {@code transformer.} prefix
     * when the config declares a kind that {@linkplain ModelKind#prefixesBody() prefixes} it, and
     * unprefixed without declared architectures (both load the same way).
     */
    public ModelWriter(Gpt2Config config) {
        this.config = config;
        this.prefix = config.declaredKind().map(ModelKind::prefixesBody).orElse(false);
        this.body = Gpt2Tensors.body(config);
    }

    /** Adds a tensor by canonical name; {@code values} must have exactly the expected element count. */
    public ModelWriter put(String canonical, float[] values) {
        long[] shape = check(canonical, values.length);
        writer.add(storedName(canonical), shape, values);
        return this;
    }

    /** Adds a tensor from native-order floats (e.g. a slice of an off-heap block), read at {@link #write(Path)} time. */
    public ModelWriter put(String canonical, MemorySegment nativeFloats) {
        if (nativeFloats.byteSize() % Float.BYTES != 0) throw new IllegalArgumentException("'" + canonical + "': segment is not whole floats");
        long[] shape = check(canonical, nativeFloats.byteSize() / Float.BYTES);
        writer.addFloats(storedName(canonical), shape, nativeFloats);
        return this;
    }

    /** An extra {@code __metadata__} entry (e.g. training step). */
    public ModelWriter metadata(String key, String value) {
        writer.metadata(key, value);
        return this;
    }

    /** Writes {@code dir/model.safetensors} then {@code dir/config.json}, creating {@code dir} if needed. */
    public void write(Path dir) throws IOException {
        ModelKind kind = config.kindFor(added);
        Set<String> missing = new LinkedHashSet<>(Gpt2Tensors.required(config, kind).keySet());
        missing.removeAll(added);
        if (!missing.isEmpty()) {
            boolean one = missing.size() == 1;
            throw new IllegalStateException("cannot write " + dir + ": " + missing.size() + (one ? " tensor" : " tensors") + " not given, e.g. '"
                    + missing.iterator().next() + "' (a " + kind.architecture()
                    + (config.declaredKind().isEmpty() ? ", as inferred without architectures," : "") + " needs " + (one ? "it" : "them") + ")");
        }
        if (added.contains(Gpt2Tensors.VALUE_HEAD_WEIGHT) != added.contains(Gpt2Tensors.VALUE_HEAD_BIAS)) {
            throw new IllegalStateException("cannot write " + dir + ": a value head needs both v_head.summary.weight and v_head.summary.bias");
        }
        Files.createDirectories(dir);
        writer.write(dir.resolve(SafetensorsFolder.SINGLE_FILE));
        config.write(dir.resolve(ModelFolder.CONFIG_FILE));
    }

    private String storedName(String canonical) {
        return prefix && body.containsKey(canonical) ? Gpt2Tensors.PREFIX + canonical : canonical;
    }

    private long[] check(String canonical, long elements) {
        long[] shape = body.containsKey(canonical) ? body.get(canonical) : Gpt2Tensors.headShape(canonical, config);
        if (shape == null) {
            throw new IllegalArgumentException("'" + canonical + "' is not a GPT-2 tensor name (canonical names have no 'transformer.' prefix)");
        }
        if (canonical.equals(Gpt2Tensors.LM_HEAD) && config.tieWordEmbeddings()) {
            throw new IllegalArgumentException("lm_head.weight is tied to wte.weight (tie_word_embeddings is true); do not store it");
        }
        long n = TensorInfo.elementCount(shape);
        if (n != elements) {
            throw new IllegalArgumentException("'" + canonical + "' needs " + n + " values for shape " + TensorInfo.shapeString(shape) + ", got " + elements);
        }
        if (!added.add(canonical)) throw new IllegalArgumentException("'" + canonical + "' given twice");
        return shape;
    }
}
