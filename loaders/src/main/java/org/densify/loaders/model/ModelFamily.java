package org.densify.loaders.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The model families the engine runs, told apart by {@code config.json}: its {@code model_type},
 * or when that is absent the prefix of its first {@code architectures} entry (a folder with neither
 * is GPT-2, as {@link Gpt2Config} reads it). The one place that maps a folder to a family; the
 * engine's registry maps each family to its model class.
 */
public enum ModelFamily {
    GPT2("gpt2", "GPT2"),
    LLAMA("llama", "Llama"),
    QWEN2("qwen2", "Qwen2"),
    QWEN3("qwen3", "Qwen3");

    private final String modelType;
    private final String architecturePrefix;

    ModelFamily(String modelType, String architecturePrefix) {
        this.modelType = modelType;
        this.architecturePrefix = architecturePrefix;
    }

    /** {@code config.json}'s {@code model_type} for this family. */
    public String modelType() {
        return modelType;
    }

    /** The Hugging Face class name for a kind of model of this family, e.g. {@code Qwen2ForCausalLM}. */
    public String architecture(ModelKind kind) {
        if (this == GPT2) return kind.architecture();
        return architecturePrefix + switch (kind) {
            case BASE -> "Model";
            case LM -> "ForCausalLM";
            case SEQUENCE_CLASSIFIER -> "ForSequenceClassification";
        };
    }

    /** The kind an architecture name of this family declares, or null when it is not one of its three. */
    public ModelKind kindOf(String architecture) {
        for (ModelKind k : ModelKind.values()) {
            if (architecture(k).equals(architecture)) return k;
        }
        return this == GPT2 ? ModelKind.ofArchitecture(architecture) : null;
    }

    /** The family of the model folder {@code dir} (read from its config.json). */
    public static ModelFamily ofFolder(Path dir) throws IOException {
        Path file = dir.resolve(ModelFolder.CONFIG_FILE);
        return of(Gpt2Config.readJson(file), file.toString());
    }

    /** The family of a parsed config.json; {@code source} names it in errors. */
    public static ModelFamily of(JsonNode config, String source) throws ModelFormatException {
        if (!config.isObject()) throw new ModelFormatException(source + ": expected a JSON object");
        JsonNode type = config.get("model_type");
        if (type != null && !type.isNull()) {
            if (!type.isTextual()) throw new ModelFormatException(source + ": field 'model_type': expected a string, found " + type);
            for (ModelFamily f : values()) {
                if (f.modelType.equals(type.textValue())) return f;
            }
            throw new ModelFormatException(source + ": field 'model_type': unsupported model type '" + type.textValue()
                    + "' (expected one of \"gpt2\", \"llama\", \"qwen2\", \"qwen3\")");
        }
        JsonNode arch = config.get("architectures");
        if (arch != null && arch.isArray() && !arch.isEmpty() && arch.get(0).isTextual()) {
            String name = arch.get(0).textValue();
            for (ModelFamily f : values()) {
                if (f != GPT2 && name.startsWith(f.architecturePrefix) && f.kindOf(name) != null) return f;
            }
        }
        return GPT2;
    }
}
