package org.densify.rlhf.reward;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.densify.core.Backend;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;

/**
 * The sequence classifier a reward-model run starts from, of any family: a language model's trunk
 * with a fresh {@code score} head, or an existing classifier, head and labels kept.
 *
 * <p>The classifier's config gets its labels and {@code pad_token_id} (when absent) before the model
 * is built ({@link Models#loadClassifier}), because a fresh classifier is saved with them; a missing
 * head is drawn normal(0, initializer_range) from {@code seed}. Hugging Face's
 * {@code *ForSequenceClassification} needs a pad token to batch; this engine's ragged batches need none.
 */
final class ClassifierInit {
    /** The IMDb reward model's labels, as {@code gpt2-rm-imdb} names them. */
    static final Map<Integer, String> SENTIMENT = Map.of(0, "NEGATIVE", 1, "POSITIVE");

    private ClassifierInit() {
    }

    static boolean isClassifier(Path dir) throws IOException {
        return Models.storesClassifier(dir);
    }

    /** The label names of a new classifier: {@link #SENTIMENT} for two, Hugging Face's {@code LABEL_i} otherwise. */
    static Map<Integer, String> labelNames(int labels) {
        if (labels < 1) throw new IllegalArgumentException("--labels: expected a positive number of labels, found " + labels);
        if (labels == 2) return SENTIMENT;
        Map<Integer, String> names = new LinkedHashMap<>();
        for (int i = 0; i < labels; i++) names.put(i, "LABEL_" + i);
        return names;
    }

    /**
     * The classifier trained from {@code dir}: the folder's own when it holds one; for a language model,
     * its trunk with {@code labels} labels ({@link #labelNames}); {@code pad_token_id} = {@code pad} when absent.
     */
    static LanguageModel load(Backend backend, Path dir, int labels, int pad, long seed) throws IOException {
        return Models.loadClassifier(backend, dir, labelNames(labels), pad, seed);
    }
}
