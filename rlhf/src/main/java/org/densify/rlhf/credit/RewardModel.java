package org.densify.rlhf.credit;

import java.io.IOException;
import java.nio.file.Path;
import org.densify.core.Backend;
import org.densify.core.model.Gpt2Model;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;

/**
 * A GPT-2 sequence classifier used as a reward model, with the tokenizer stored beside it.
 *
 * <p>The scalar reward of a classifier's logits is {@link #scalar}: positive minus negative for two
 * labels (label 1 is the positive class, as in IMDb and {@code gpt2-rm-imdb}), the logit itself for
 * one label (a Bradley–Terry reward model).
 */
public final class RewardModel implements AutoCloseable {
    private final Gpt2Model model;
    private final Gpt2Tokenizer tokenizer;

    public RewardModel(Gpt2Model model, Gpt2Tokenizer tokenizer) {
        if (!model.hasClassifier()) throw new IllegalArgumentException("a reward model needs a classifier head (score.weight)");
        int labels = model.config().numLabels();
        if (labels != 1 && labels != 2) {
            throw new IllegalArgumentException("a reward model has 1 label (a scalar reward) or 2 (negative, positive); this one has " + labels);
        }
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /**
     * Loads a Hugging Face classifier folder (config.json, model.safetensors with score.weight, vocab.json,
     * merges.txt). Scoring maps the reward model's tokens to characters, which only GPT-2's tokenizer
     * gives ({@link Gpt2Tokenizer#encodeWithOffsets}), so a tokenizer.json folder is refused.
     */
    public static RewardModel load(Backend backend, Path dir) throws IOException {
        if (!(Tokenizers.open(dir) instanceof Gpt2Tokenizer tokenizer)) {
            throw new IOException(dir + ": a reward model needs GPT-2's vocab.json + merges.txt (character offsets); "
                    + "its tokenizer.json is not supported yet");
        }
        Gpt2Model model = Gpt2Model.load(backend, dir);
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

    public Gpt2Model model() {
        return model;
    }

    public Gpt2Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public void close() {
        model.close();
    }
}
