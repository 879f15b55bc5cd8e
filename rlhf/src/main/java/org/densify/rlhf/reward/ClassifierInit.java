package org.densify.rlhf.reward;

import org.densify.core.Backend;
import org.densify.core.model.Gpt2Model;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.Gpt2Tensors;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.model.ModelKind;

import java.io.IOException;
import java.util.Map;

/**
 * The GPT-2 sequence classifier a reward-model run starts from: a language model's trunk with a
 * fresh {@code score} head, or an existing classifier, head and labels kept.
 *
 * <p>The model is built from a config of its own rather than the folder's, because a fresh
 * classifier needs its labels and {@code pad_token_id} in the config it is saved with; a missing
 * head is drawn normal(0, initializer_range) from {@code seed}.
 */
final class ClassifierInit {
    /** The IMDb reward model's labels, as {@code gpt2-rm-imdb} names them. */
    static final Map<Integer, String> SENTIMENT = Map.of(0, "NEGATIVE", 1, "POSITIVE");

    private ClassifierInit() {
    }

    /**
     * The config of the classifier trained from {@code folder}: the folder's own when it holds a
     * classifier (with {@code pad_token_id} filled in when absent); for a language model, its config
     * with {@code labels} labels ({@link #SENTIMENT} for two, Hugging Face's {@code LABEL_0} for one)
     * and {@code pad_token_id} = {@code pad}. Hugging Face's GPT2ForSequenceClassification needs a
     * pad token to batch; this engine's ragged batches need none.
     */
    static Gpt2Config config(ModelFolder folder, int labels, int pad) {
        Gpt2Config stored = folder.config();
        Gpt2Config.Builder b = stored.toBuilder().kind(ModelKind.SEQUENCE_CLASSIFIER);
        if (stored.padTokenId() == null) b.padTokenId(pad);
        if (!isClassifier(folder)) {
            if (labels == 2) b.id2label(SENTIMENT);
            else b.numLabels(labels);
        }
        return b.build();
    }

    static boolean isClassifier(ModelFolder folder) {
        return folder.hasTensor(Gpt2Tensors.SCORE);
    }

    /** A classifier of {@code config} (from {@link #config}) with the folder's weights; a head the folder lacks is drawn from {@code seed}. */
    static Gpt2Model load(Backend backend, ModelFolder folder, Gpt2Config config, long seed) throws IOException {
        return Gpt2Model.load(backend, folder, config, new Gpt2Model.Heads(true, false), seed);
    }
}
