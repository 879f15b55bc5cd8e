package org.densify.core.model;

import java.io.IOException;
import java.nio.file.Path;
import org.densify.core.Backend;
import org.densify.core.model.llama.LlamaModel;
import org.densify.loaders.model.LlamaFolder;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelFolder;

/**
 * The family registry: opens a Hugging Face folder as the model class of the family its
 * {@code config.json} names ({@link ModelFamily#ofFolder}): gpt2 as {@link Gpt2Model}; llama,
 * qwen2 and qwen3 as {@link LlamaModel}. Adding a family is one case here and one in ModelFamily.
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
                    yield Gpt2Model.load(backend, folder, new Gpt2Model.Heads(heads.classifier(), heads.value()), seed);
                }
            }
            case LLAMA, QWEN2, QWEN3 -> {
                try (LlamaFolder folder = LlamaFolder.open(dir)) {
                    yield LlamaModel.load(backend, folder, heads, seed);
                }
            }
        };
    }
}
