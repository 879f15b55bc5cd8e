package org.densify.loaders.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Opens the tokenizer of a model or tokenizer folder, whichever files it holds. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * {@code tokenizer.json} (with {@code tokenizer_config.json} if present) when the folder has one,
     * else GPT-2's {@code vocab.json} + {@code merges.txt} (or {@code encoder.json} + {@code vocab.bpe}).
     *
     * @throws NoSuchFileException naming the folder and the files it lacks
     */
    public static Tokenizer open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir + ": not a folder (expected a tokenizer folder)");
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) return HuggingFaceTokenizer.load(dir);
        boolean anyGpt2 = false;
        for (String f : new String[]{"vocab.json", "merges.txt", "encoder.json", "vocab.bpe"}) {
            anyGpt2 |= Files.isRegularFile(dir.resolve(f));
        }
        if (!anyGpt2) {
            throw new NoSuchFileException(dir + ": no tokenizer.json, nor vocab.json + merges.txt (or encoder.json + "
                    + "vocab.bpe)");
        }
        return Gpt2Tokenizer.load(dir);
    }
}
