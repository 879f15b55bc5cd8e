package org.densify.loaders.model;

import org.densify.loaders.safetensors.DType;
import org.densify.loaders.safetensors.SafetensorsFolder;
import org.densify.loaders.safetensors.TensorInfo;
import org.densify.loaders.safetensors.TensorSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A Hugging Face GPT-2 model folder: {@code config.json} plus {@code model.safetensors} (or a
 * sharded index). Opening checks the weights against the configuration completely — every body
 * tensor present with the shape the config implies, the heads the architecture needs, no tensor the
 * config does not explain — so that later code can trust shapes without re-checking.
 *
 * <p>Tensors are addressed by canonical name, without the {@code transformer.} prefix
 * ({@code h.0.ln_1.weight}, {@code wte.weight}, {@code score.weight}); stored names may carry it
 * or not. The {@code h.N.attn.bias} / {@code masked_bias} mask buffers of older files, and the
 * second head of {@code GPT2DoubleHeadsModel}, are ignored.
 */
public final class ModelFolder implements StoredTensors, AutoCloseable {
    public static final String CONFIG_FILE = "config.json";

    private final Path dir;
    private final Gpt2Config config;
    private final ModelKind kind;
    private final TensorSource source;
    /** canonical -> expected shape, for every tensor a GPT-2 of this config may hold. */
    private final Map<String, long[]> expected;
    /** canonical -> stored name, for the tensors present (ignored ones excluded). */
    private final Map<String, String> stored;

    private ModelFolder(Path dir, Gpt2Config config, TensorSource source) throws IOException {
        this.dir = dir;
        this.config = config;
        this.source = source;
        Path file = source.path();

        Map<String, String> stored = new LinkedHashMap<>();
        for (TensorInfo t : source.tensors().values()) {
            String c = Gpt2Tensors.canonical(t.name());
            if (Gpt2Tensors.isIgnored(c, config)) continue;
            String prev = stored.put(c, t.name());
            if (prev != null) {
                throw new ModelFormatException(file + ": holds both '" + prev + "' and '" + t.name()
                        + "' (the same tensor with and without the 'transformer.' prefix)");
            }
        }
        this.stored = Collections.unmodifiableMap(stored);
        this.kind = config.kindFor(stored.keySet());

        Set<String> required = Gpt2Tensors.required(config, kind).keySet();
        Map<String, long[]> expected = Gpt2Tensors.body(config);
        for (String head : List.of(Gpt2Tensors.LM_HEAD, Gpt2Tensors.SCORE, Gpt2Tensors.VALUE_HEAD_WEIGHT, Gpt2Tensors.VALUE_HEAD_BIAS)) {
            expected.put(head, Gpt2Tensors.headShape(head, config));
        }
        this.expected = expected;

        List<String> unknown = stored.keySet().stream().filter(c -> !expected.containsKey(c)).map(stored::get).toList();
        if (!unknown.isEmpty()) {
            throw new ModelFormatException(file + ": " + unknown.size() + " tensor" + (unknown.size() == 1 ? "" : "s")
                    + " that a " + describe() + " does not have: " + quoteSome(unknown)
                    + " (does config.json match these weights?)");
        }
        List<String> missing = required.stream().filter(c -> !stored.containsKey(c)).toList();
        if (!missing.isEmpty()) {
            String first = missing.getFirst();
            throw new ModelFormatException(file + ": missing tensor '" + displayName(first) + "' (expected shape "
                    + TensorInfo.shapeString(expected.get(first)) + ") for a " + describe()
                    + (missing.size() > 1 ? "; " + (missing.size() - 1) + " more missing: "
                    + quoteSome(missing.subList(1, missing.size()).stream().map(this::displayName).toList()) : ""));
        }
        if (stored.containsKey(Gpt2Tensors.VALUE_HEAD_WEIGHT) != stored.containsKey(Gpt2Tensors.VALUE_HEAD_BIAS)) {
            throw new ModelFormatException(file + ": a value head needs both '" + Gpt2Tensors.VALUE_HEAD_WEIGHT
                    + "' and '" + Gpt2Tensors.VALUE_HEAD_BIAS + "', found only one");
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

    /** Opens and validates {@code dir}; problems are {@link ModelFormatException}s (config, shapes) or SafetensorsExceptions (files). */
    public static ModelFolder open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir + ": not a folder (expected a model folder with config.json and model.safetensors)");
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new ModelFormatException(dir + ": no config.json (a model folder needs config.json and model.safetensors or model.safetensors.index.json)");
        }
        Gpt2Config config = Gpt2Config.read(configFile);
        TensorSource source = SafetensorsFolder.open(dir);
        try {
            return new ModelFolder(dir, config, source);
        } catch (IOException | RuntimeException | Error e) {
            source.close();
            throw e;
        }
    }

    @Override
    public Path dir() {
        return dir;
    }

    public Gpt2Config config() {
        return config;
    }

    /** By {@link Gpt2Config#kindFor}: from {@code architectures}; when absent, a classifier if {@code score.weight} is stored, else an LM. */
    public ModelKind kind() {
        return kind;
    }

    /** The underlying tensors under their stored names. */
    public TensorSource source() {
        return source;
    }

    /** Canonical names of the tensors present, in storage order. */
    public Set<String> tensorNames() {
        return stored.keySet();
    }

    @Override
    public boolean hasTensor(String canonical) {
        return stored.containsKey(canonical);
    }

    /** A separate (untied) LM head is stored. */
    public boolean hasLmHead() {
        return hasTensor(Gpt2Tensors.LM_HEAD);
    }

    /** TRL's {@code v_head.summary.{weight,bias}} is stored. */
    public boolean hasValueHead() {
        return hasTensor(Gpt2Tensors.VALUE_HEAD_WEIGHT);
    }

    /** The shape the config implies for a canonical name, or null if a GPT-2 has no such tensor. */
    public long[] expectedShape(String canonical) {
        long[] s = expected.get(canonical);
        return s == null ? null : s.clone();
    }

    /** The name {@code canonical} is stored under. */
    public String storedName(String canonical) throws ModelFormatException {
        String s = stored.get(canonical);
        if (s != null) return s;
        if (!expected.containsKey(canonical)) {
            throw new IllegalArgumentException("'" + canonical + "' is not a GPT-2 tensor name (canonical names have no 'transformer.' prefix, e.g. 'h.0.ln_1.weight')");
        }
        throw new ModelFormatException(source.path() + ": no tensor '" + displayName(canonical) + "' (it is optional for a " + describe() + ")");
    }

    /** The tensor's values as floats, row-major; its shape is {@link #expectedShape(String)}. Non-finite values are refused. */
    public float[] floats(String canonical) throws IOException {
        String name = storedName(canonical);
        float[] values = source.readFloats(name);
        FiniteWeights.check(values, name, source.path());
        return values;
    }

    /** Reads the tensor as native floats into {@code dest} (exactly 4 x elements bytes); non-finite values are refused. */
    @Override
    public void floats(String canonical, MemorySegment dest) throws IOException {
        String name = storedName(canonical);
        source.readFloats(name, dest);
        FiniteWeights.check(dest, name, source.path());
    }

    /** The stored dtype of a tensor that is present. */
    public DType dtype(String canonical) throws IOException {
        return source.info(storedName(canonical)).dtype();
    }

    /** Elements over all the tensors present (ignored buffers excluded). */
    public long parameterCount() {
        long n = 0;
        for (String s : stored.values()) n += source.tensors().get(s).numElements();
        return n;
    }

    @Override
    public void close() {
        source.close();
    }

    /** How a canonical name would be stored in this folder (with the prefix when the folder uses it). */
    private String displayName(String canonical) {
        boolean head = Gpt2Tensors.headShape(canonical, config) != null;
        boolean prefixed = stored.isEmpty() ? kind.prefixesBody()
                : stored.entrySet().stream().anyMatch(e -> !e.getKey().equals(e.getValue()));
        return !head && prefixed ? Gpt2Tensors.PREFIX + canonical : canonical;
    }

    private String describe() {
        return (config.architectures().isEmpty() ? kind.architecture() : config.architectures().getFirst())
                + " with n_layer=" + config.nLayer() + ", n_embd=" + config.nEmbd() + ", vocab_size=" + config.vocabSize()
                + ", n_positions=" + config.nPositions() + (config.nInner() != null ? ", n_inner=" + config.nInner() : "")
                + (kind == ModelKind.SEQUENCE_CLASSIFIER ? ", num_labels=" + config.numLabels() : "");
    }

    private static String quoteSome(List<String> names) {
        return names.stream().limit(4).map(n -> "'" + n + "'").collect(Collectors.joining(", "))
                + (names.size() > 4 ? ", ..." : "");
    }

    @Override
    public String toString() {
        return "ModelFolder[" + dir + ", " + kind + ", " + stored.size() + " tensors]";
    }
}
