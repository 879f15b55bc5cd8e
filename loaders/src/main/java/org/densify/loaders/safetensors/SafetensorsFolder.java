package org.densify.loaders.safetensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Finds the weights of a Hugging Face model folder: one {@code model.safetensors} or a sharded index. */
public final class SafetensorsFolder {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private SafetensorsFolder() {
    }

    /**
     * Opens {@code dir/model.safetensors}, or else {@code dir/model.safetensors.index.json}; the single
     * file wins when both are present, as in {@code transformers}.
     */
    public static TensorSource open(Path dir) throws IOException {
        Path single = dir.resolve(SINGLE_FILE);
        if (Files.isRegularFile(single)) return SafetensorsFile.open(single);
        Path index = dir.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) return ShardedSafetensors.open(index);
        if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir + ": not a folder");
        throw new NoSuchFileException(dir + ": no " + SINGLE_FILE + " or " + INDEX_FILE
                + " (only safetensors weights are read; convert pytorch_model.bin first)");
    }
}
