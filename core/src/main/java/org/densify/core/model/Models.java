package org.densify.core.model;

import org.densify.core.model.gpt2.Gpt2Model;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.densify.core.Backend;
import org.densify.core.model.llama.LlamaModel;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.LlamaFolder;
import org.densify.loaders.model.LlamaTensors;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.model.ModelKind;

/**
 * The family registry: opens a Hugging Face folder as the model class of the family its
 * {@code config.json} names ({@link ModelFamily#ofFolder}): gpt2 as {@link Gpt2Model}; llama,
 * qwen2 and qwen3 as {@link LlamaModel}; and makes fresh models ({@link #create}) and classifiers
 * ({@link #loadClassifier}) of any family. Adding a family is one case in each switch here and one
 * in ModelFamily.
 */
public final class Models {
    private Models() {
    }

    /** Loads {@code dir} with the heads it stores. */
    public static LanguageModel load(Backend backend, Path dir) throws IOException {
        return switch (ModelFamily.ofFolder(dir)) {
            case GPT2 -> Gpt2Model.load(backend, dir);
            case LLAMA, QWEN2, QWEN3 -> LlamaModel.load(backend, dir);
        };
    }

    /**
     * Loads {@code dir} with the requested heads; a requested head the folder lacks starts fresh from
     * {@code seed}, a stored head not requested is left out.
     */
    public static LanguageModel load(Backend backend, Path dir, Heads heads, long seed) throws IOException {
        return switch (ModelFamily.ofFolder(dir)) {
            case GPT2 -> {
                try (ModelFolder folder = ModelFolder.open(dir)) {
                    yield Gpt2Model.load(backend, folder, heads, seed);
                }
            }
            case LLAMA, QWEN2, QWEN3 -> {
                try (LlamaFolder folder = LlamaFolder.open(dir)) {
                    yield LlamaModel.load(backend, folder, heads, seed);
                }
            }
        };
    }

    /** Whether the folder stores a classifier head ({@code score.weight}). */
    public static boolean storesClassifier(Path dir) throws IOException {
        return switch (ModelFamily.ofFolder(dir)) {
            case GPT2 -> {
                try (ModelFolder folder = ModelFolder.open(dir)) {
                    yield folder.hasTensor("score.weight");
                }
            }
            case LLAMA, QWEN2, QWEN3 -> {
                try (LlamaFolder folder = LlamaFolder.open(dir)) {
                    yield folder.hasTensor(LlamaTensors.SCORE);
                }
            }
        };
    }

    /**
     * A sequence classifier from {@code dir}: the stored classifier (its labels kept) or, for a
     * language model, its trunk with a fresh {@code score} head of {@code labels} (id to name),
     * drawn normal(0, initializer_range) from {@code seed}. Either way the config is declared a
     * classifier and {@code pad_token_id} is set to {@code pad} when absent (Hugging Face's
     * classifiers need one to batch; the engine's ragged batches need none), so the model saves
     * with what it needs.
     */
    public static LanguageModel loadClassifier(Backend backend, Path dir, Map<Integer, String> labels, int pad, long seed) throws IOException {
        boolean stored = storesClassifier(dir);
        return switch (ModelFamily.ofFolder(dir)) {
            case GPT2 -> {
                try (ModelFolder folder = ModelFolder.open(dir)) {
                    Gpt2Config c = folder.config();
                    Gpt2Config.Builder b = c.toBuilder().kind(ModelKind.SEQUENCE_CLASSIFIER);
                    if (c.padTokenId() == null) b.padTokenId(pad);
                    if (!stored) b.id2label(labels);
                    yield Gpt2Model.load(backend, folder, b.build(), Heads.CLASSIFIER, seed);
                }
            }
            case LLAMA, QWEN2, QWEN3 -> {
                try (LlamaFolder folder = LlamaFolder.open(dir)) {
                    LlamaConfig c = folder.config();
                    ObjectNode json = c.source().deepCopy();
                    JsonNodeFactory f = JsonNodeFactory.instance;
                    json.set("architectures", f.arrayNode().add(c.family().architecture(ModelKind.SEQUENCE_CLASSIFIER)));
                    if (c.padTokenId() == null) json.put("pad_token_id", pad);
                    if (!stored) {
                        ObjectNode i2l = f.objectNode(), l2i = f.objectNode();
                        for (int i = 0; i < labels.size(); i++) {
                            i2l.put(Integer.toString(i), labels.get(i));
                            l2i.put(labels.get(i), i);
                        }
                        json.set("id2label", i2l);
                        json.set("label2id", l2i);
                        json.remove("num_labels");
                    }
                    LlamaConfig classifier = LlamaConfig.parse(json, dir.resolve("config.json").toString());
                    yield LlamaModel.load(backend, folder, classifier, Heads.CLASSIFIER, seed);
                }
            }
        };
    }

    /** A model of {@code spec} with every parameter 0 and no heads beside the LM head; call {@link LanguageModel#initialize}. */
    public static LanguageModel create(Backend backend, FreshModel spec) {
        return switch (spec.family()) {
            case GPT2 -> {
                if (spec.keyValueHeads() != spec.heads()) {
                    throw new IllegalArgumentException("--kv-heads: GPT-2 has no grouped-query attention (key/value heads = heads = " + spec.heads() + ")");
                }
                if (spec.intermediateSize() != FreshModel.MLP_RATIO * spec.hiddenSize()) {
                    throw new IllegalArgumentException("--intermediate-size: GPT-2's MLP is " + FreshModel.MLP_RATIO + " x d-model = "
                            + FreshModel.MLP_RATIO * spec.hiddenSize());
                }
                if (!spec.tieEmbeddings()) throw new IllegalArgumentException("--untied-embeddings: GPT-2 ties its LM head to the token embedding");
                if (spec.ropeTheta() != FreshModel.DEFAULT_ROPE_THETA) throw new IllegalArgumentException("--rope-theta: GPT-2 has learned positions, no RoPE");
                // No dropout: the engine trains without it, and a Hugging Face user of the folder should too.
                Gpt2Config c = Gpt2Config.builder().vocabSize(spec.vocabSize()).nPositions(spec.context()).nEmbd(spec.hiddenSize())
                        .nLayer(spec.layers()).nHead(spec.heads()).kind(ModelKind.LM).dropout(0, 0, 0).build();
                yield Gpt2Model.create(backend, c, Heads.NONE);
            }
            case LLAMA, QWEN2, QWEN3 -> LlamaModel.create(backend, llamaConfig(spec), Heads.NONE);
        };
    }

    /** The shape a model of {@code spec} would have (for memory estimates before it exists). */
    public static ModelShape shapeOf(FreshModel spec) {
        if (spec.family() == ModelFamily.GPT2) {
            return ModelShape.of(Gpt2Config.builder().vocabSize(spec.vocabSize()).nPositions(spec.context()).nEmbd(spec.hiddenSize())
                    .nLayer(spec.layers()).nHead(spec.heads()).build());
        }
        return ModelShape.of(llamaConfig(spec));
    }

    private static LlamaConfig llamaConfig(FreshModel spec) {
        if (spec.heads() < 1 || spec.hiddenSize() % spec.heads() != 0) {
            throw new IllegalArgumentException("--heads " + spec.heads() + " must divide --d-model " + spec.hiddenSize());
        }
        if (spec.keyValueHeads() < 1 || spec.heads() % spec.keyValueHeads() != 0) {
            throw new IllegalArgumentException("--kv-heads " + spec.keyValueHeads() + " must divide --heads " + spec.heads());
        }
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("model_type", spec.family().modelType());
        o.putArray("architectures").add(spec.family().architecture(ModelKind.LM));
        o.put("vocab_size", spec.vocabSize());
        o.put("max_position_embeddings", spec.context());
        o.put("hidden_size", spec.hiddenSize());
        o.put("num_hidden_layers", spec.layers());
        o.put("num_attention_heads", spec.heads());
        o.put("num_key_value_heads", spec.keyValueHeads());
        o.put("head_dim", spec.hiddenSize() / spec.heads());
        o.put("intermediate_size", spec.intermediateSize());
        o.put("rope_theta", spec.ropeTheta());
        o.put("tie_word_embeddings", spec.tieEmbeddings());
        if (spec.bosTokenId() != null) o.put("bos_token_id", spec.bosTokenId());
        if (spec.eosTokenId() != null) o.put("eos_token_id", spec.eosTokenId());
        if (spec.padTokenId() != null) o.put("pad_token_id", spec.padTokenId());
        try {
            return LlamaConfig.parse(o, "a fresh " + spec.family().modelType() + " model");
        } catch (org.densify.loaders.model.ModelFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }
}
