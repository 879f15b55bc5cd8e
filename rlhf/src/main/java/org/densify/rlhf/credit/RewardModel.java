package org.densify.rlhf.credit;

import java.io.IOException;
import java.nio.file.Path;
import org.densify.core.Backend;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;

/**
 * A sequence classifier (of any family) used as a reward model, with the tokenizer stored beside it.
 *
 * <p>The scalar reward of a classifier's logits is {@link #scalar}: positive minus negative for two
 * labels (label 1 is the positive class, as in IMDb and {@code gpt2-rm-imdb}), the logit itself for
 * one label (a Bradley–Terry reward model).
 */
public final class RewardModel implements AutoCloseable {
    private final LanguageModel model;
    private final Tokenizer tokenizer;

    public RewardModel(LanguageModel model, Tokenizer tokenizer) {
        if (!model.hasClassifier()) throw new IllegalArgumentException("a reward model needs a classifier head (score.weight)");
        int labels = model.numLabels();
        if (labels != 1 && labels != 2) {
            throw new IllegalArgumentException("a reward model has 1 label (a scalar reward) or 2 (negative, positive); this one has " + labels);
        }
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /**
     * Loads a Hugging Face classifier folder of any family (config.json, model.safetensors with
     * score.weight, and a tokenizer: vocab.json + merges.txt or tokenizer.json). Scoring maps the
     * reward model's tokens to characters with {@link Tokenizer#encodeWithOffsets}.
     */
    public static RewardModel load(Backend backend, Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizers.open(dir);
        LanguageModel model = Models.load(backend, dir);
        try {
            return new RewardModel(model, tokenizer);
        } catch (IllegalArgumentException e) {
            model.close();
            throw new IllegalArgumentException(dir + "/config.json: " + e.getMessage(), e);
        }
    }

    /** The scalar reward of one sequence's classifier logits: {@code logit[1] - logit[0]}, or {@code logit[0]} for one label. */
    public static float scalar(float[] logits) {
        return switch (logits.length) {
            case 1 -> logits[0];
            case 2 -> logits[1] - logits[0];
            default -> throw new IllegalArgumentException("a reward needs 1 or 2 classifier logits, got " + logits.length);
        };
    }

    /**
     * d(scalar)/d(logits): how a gradient on the reward reaches the classifier's logits
     * ({@code [-g, g]} for two labels, {@code [g]} for one).
     */
    public static float[] scalarGradient(int labels, float g) {
        return labels == 1 ? new float[] {g} : new float[] {-g, g};
    }

    public LanguageModel model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public void close() {
        model.close();
    }
}
