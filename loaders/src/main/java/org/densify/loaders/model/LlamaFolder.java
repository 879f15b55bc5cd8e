package org.densify.loaders.model;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.densify.loaders.safetensors.SafetensorsFolder;
import org.densify.loaders.safetensors.TensorInfo;
import org.densify.loaders.safetensors.TensorSource;

/**
 * A Hugging Face Llama-family folder: {@code config.json} plus {@code model.safetensors} or a
 * sharded index. Opening checks the weights against the config completely (every tensor the kind
 * needs with the implied shape, nothing unexplained, both halves of a value head, floating-point
 * dtypes); F16, BF16 and F64 weights are read as float32. Tensors are addressed by canonical name
 * (see {@link LlamaTensors}); stored names may carry the {@code model.} prefix or not.
 */
public final class LlamaFolder implements StoredTensors, AutoCloseable {
    private final Path dir;
    private final LlamaConfig config;
    private final ModelKind kind;
    private final TensorSource source;
    private final Map<String, String> stored;

    private LlamaFolder(Path dir, LlamaConfig config, TensorSource source) throws IOException {
        this.dir = dir;
        this.config = config;
        this.source = source;
        Path file = source.path();
        Map<String, String> stored = new LinkedHashMap<>();
        for (TensorInfo t : source.tensors().values()) {
            String c = LlamaTensors.canonical(t.name());
            if (LlamaTensors.isIgnored(c)) continue;
            String prev = stored.put(c, t.name());
            if (prev != null) {
                throw new ModelFormatException(file + ": holds both '" + prev + "' and '" + t.name() + "' (the same tensor with and without the 'model.' prefix)");
            }
        }
        this.stored = Collections.unmodifiableMap(stored);
        this.kind = config.kindFor(stored.keySet());
        Map<String, long[]> required = LlamaTensors.required(config, kind);
        Map<String, long[]> expected = LlamaTensors.body(config);
        for (String head : List.of(LlamaTensors.LM_HEAD, LlamaTensors.SCORE, LlamaTensors.VALUE_HEAD_WEIGHT, LlamaTensors.VALUE_HEAD_BIAS)) {
            expected.put(head, LlamaTensors.headShape(head, config));
        }
        if (config.tieWordEmbeddings()) expected.remove(LlamaTensors.LM_HEAD);
        List<String> unknown = stored.keySet().stream().filter(c -> !expected.containsKey(c)).map(stored::get).toList();
        if (!unknown.isEmpty()) {
            throw new ModelFormatException(file + ": " + unknown.size() + " tensor(s) that a " + describe() + " does not have: "
                    + quoteSome(unknown) + (config.tieWordEmbeddings() && stored.containsKey(LlamaTensors.LM_HEAD)
                    ? " (tie_word_embeddings is true, so lm_head.weight is embed_tokens.weight)" : " (does config.json match these weights?)"));
        }
        List<String> missing = required.keySet().stream().filter(c -> !stored.containsKey(c)).toList();
        if (!missing.isEmpty()) {
            String first = missing.getFirst();
            throw new ModelFormatException(file + ": missing tensor '" + first + "' (expected shape " + TensorInfo.shapeString(expected.get(first))
                    + ") for a " + describe() + (missing.size() > 1 ? "; " + (missing.size() - 1) + " more missing" : ""));
        }
        if (stored.containsKey(LlamaTensors.VALUE_HEAD_WEIGHT) != stored.containsKey(LlamaTensors.VALUE_HEAD_BIAS)) {
            throw new ModelFormatException(file + ": a value head needs both '" + LlamaTensors.VALUE_HEAD_WEIGHT + "' and '"
                    + LlamaTensors.VALUE_HEAD_BIAS + "', found only one");
        }
        for (Map.Entry<String, String> e : stored.entrySet()) {
            TensorInfo t = source.info(e.getValue());
            long[] want = expected.get(e.getKey());
            if (!t.hasShape(want)) {
                throw new ModelFormatException(file + ": tensor '" + e.getValue() + "' has shape " + TensorInfo.shapeString(t.shape())
                        + ", expected " + TensorInfo.shapeString(want) + " for a " + describe());
            }
            if (!t.dtype().isFloatingPoint()) {
                throw new ModelFormatException(file + ": tensor '" + e.getValue() + "' has dtype " + t.dtype()
                        + ", expected a floating-point dtype (F32, F16, BF16, F64 or F8)");
            }
        }
    }

    /** Opens and validates {@code dir}. */
    public static LlamaFolder open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": not a folder (expected a model folder with config.json and model.safetensors)");
        Path configFile = dir.resolve(ModelFolder.CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) throw new ModelFormatException(dir + ": no config.json");
        LlamaConfig config = LlamaConfig.read(configFile);
        TensorSource source = SafetensorsFolder.open(dir);
        try {
            return new LlamaFolder(dir, config, source);
        } catch (IOException | RuntimeException | Error e) {
            source.close();
            throw e;
        }
    }

    @Override
    public Path dir() {
        return dir;
    }

    public LlamaConfig config() {
        return config;
    }

    public ModelKind kind() {
        return kind;
    }

    @Override
    public boolean hasTensor(String canonical) {
        return stored.containsKey(canonical);
    }

    public boolean hasValueHead() {
        return hasTensor(LlamaTensors.VALUE_HEAD_WEIGHT);
    }

    /** Reads a stored tensor as native floats into {@code dest} (4 x elements bytes), converting from its dtype; non-finite values are refused. */
    @Override
    public void floats(String canonical, MemorySegment dest) throws IOException {
        String name = stored.get(canonical);
        if (name == null) throw new ModelFormatException(source.path() + ": no tensor '" + canonical + "'");
        source.readFloats(name, dest);
        FiniteWeights.check(dest, name, source.path());
    }

    /** The tensor's values as floats, row-major; non-finite values are refused. */
    public float[] floats(String canonical) throws IOException {
        String name = stored.get(canonical);
        if (name == null) throw new ModelFormatException(source.path() + ": no tensor '" + canonical + "'");
        float[] values = source.readFloats(name);
        FiniteWeights.check(values, name, source.path());
        return values;
    }

    @Override
    public void close() {
        source.close();
    }

    private String describe() {
        LlamaConfig c = config;
        return c.family().architecture(kind) + " with num_hidden_layers=" + c.numLayers() + ", hidden_size=" + c.hiddenSize()
                + ", intermediate_size=" + c.intermediateSize() + ", heads=" + c.numHeads() + "/" + c.numKeyValueHeads()
                + ", head_dim=" + c.headDim() + ", vocab_size=" + c.vocabSize();
    }

    private static String quoteSome(List<String> names) {
        return names.stream().limit(4).map(n -> "'" + n + "'").collect(Collectors.joining(", ")) + (names.size() > 4 ? ", ..." : "");
    }
}
