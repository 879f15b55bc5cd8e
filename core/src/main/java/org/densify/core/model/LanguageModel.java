package org.densify.core.model;


import java.io.IOException;
import java.nio.file.Path;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelKind;

/**
 * A decoder-only transformer on a {@link Backend}, whatever its family: what everything above the
 * model (losses, PPO, reward models, the generator, the optimiser, checkpoints) uses. {@link
 * org.densify.core.model.gpt2.Gpt2Model} and {@link org.densify.core.model.llama.LlamaModel} implement it; {@link Models}
 * opens a folder as the family its {@code config.json} names.
 *
 * <p>The contract, the same for every family:
 * <ul>
 *   <li>Parameters and gradients each live in one block laid out by {@link #layout()} (Hugging
 *       Face canonical names, 16-float aligned), so optimisers and checkpoints work on the block.
 *   <li>{@link #forward} runs a ragged {@link Batch} (no padding; positions restart at 0 per
 *       sequence) and returns {@link Outputs}, a view valid until the next pass: logits (all rows,
 *       each sequence's last row, or none), classifier scores at each sequence's last token, the
 *       value head at every token, and attention as {@link ForwardOptions.Capture} asks (the last
 *       layer's last query row averaged over query heads, or every layer's maps).
 *   <li>{@link #backward} differentiates the latest training forward from the gradients of its head
 *       outputs, <b>accumulating</b> into the gradient block.
 *   <li>{@link #decode} runs new rows against a {@link KvCache} (generation); its logits equal the
 *       full forward's at the same positions.
 * </ul>
 * Not thread-safe: one pass at a time.
 */
public interface LanguageModel extends AutoCloseable {

    /** The family this model belongs to (gpt2, llama, qwen2, qwen3). */
    ModelFamily family();

    Backend backend();

    /** Where each named parameter lives in the parameter (and gradient, and optimiser) block. */
    ParameterLayout layout();

    /** Vocabulary size V (rows of the LM head). */
    int vocabSize();

    /** Width of the residual stream. */
    int hiddenSize();

    /** The longest sequence a pass accepts (n_positions / max_position_embeddings). */
    int maxSequenceLength();

    /** The family-neutral facts of this model's config (sizes, labels, pad token). */
    ModelShape shape();

    /** Labels of the classifier head, 0 without one. */
    int numLabels();

    default boolean hasClassifier() {
        return numLabels() > 0;
    }

    boolean hasValueHead();

    /** The whole parameter block, [layout().size()]. */
    Tensor parameters();

    /** The whole gradient block (allocated zeroed on first use), same layout as the parameters. */
    Tensor gradients();

    default Tensor parameter(String name) {
        ParameterLayout.Entry e = layout().get(name);
        return parameters().slice(e.offset(), e.length());
    }

    default Tensor gradient(String name) {
        ParameterLayout.Entry e = layout().get(name);
        return gradients().slice(e.offset(), e.length());
    }

    default void zeroGradients() {
        backend().zero(gradients());
    }

    /** Copies every parameter from a model of the same family, config and heads (e.g. a frozen reference). */
    void copyParametersFrom(LanguageModel other);

    /** The family's own initialisation, deterministic in {@code seed}. */
    void initialize(long seed);

    /** Runs the model on {@code batch}; the result views the activation block until the next pass. */
    Outputs forward(Batch batch, ForwardOptions options);

    /**
     * The next-token cross-entropy of the last forward (which must have all logits), averaged over
     * every predicted position of every sequence; after a training forward the logits buffer then
     * holds the gradient of this mean, ready for {@link #backward}.
     */
    double languageModelLoss(Outputs out);

    /**
     * Backpropagates (accumulating) from the head outputs' gradients of the last training forward:
     * the logits buffer when it holds dLoss/dlogits, {@code dvalues} [N] for the value head,
     * {@code dscores} [S][labels] for the classifier (either may be null).
     */
    void backward(Outputs out, float[] dvalues, float[][] dscores);

    /** Throws IllegalArgumentException for a token outside the vocabulary or a sequence longer than {@link #maxSequenceLength()}. */
    void checkTokens(int[] tokens, int[] seqLengths);

    /** A key/value cache for {@code sequences} sequences of up to {@code capacity} positions. */
    KvCache newCache(int sequences, int capacity);

    /**
     * A forward of new rows against a KV cache: {@code count[s]} rows of sequence s (0 for sequences
     * not advancing; {@code advancing} of them are non-zero) at {@code positions}, after {@code past[s]}
     * cached positions. Stores the new keys and values, and returns the logits of each advancing
     * sequence's last row, [advancing, V], valid until the next pass. {@code lastRows}: null, or
     * [numSeq, cache capacity], where the last layer's attention kernel writes each advancing
     * sequence's last row over its positions {@code 0 .. past + count - 1}, averaged over the query
     * heads (what generation records for ABC-D).
     */
    Tensor decode(int[] tokens, int[] positions, int[] count, int advancing, KvCache cache, int[] past, Tensor lastRows);

    /** Writes a Hugging Face folder of {@code kind} (config.json + model.safetensors), file by file atomically. */
    void save(Path dir, ModelKind kind) throws IOException;

    @Override
    void close();
}
