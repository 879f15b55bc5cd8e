package org.densify.core.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.loaders.model.StoredTensors;

/**
 * What every decoder-only family shares: the parameter block laid out by {@link ParameterLayout}
 * and its gradient twin, the activation arenas, the pass counter, loading and saving by canonical
 * name, the next-token loss and the checks on a batch. A family subclass (GPT-2, Llama) adds its
 * config, its named weight slices, its trunk and their backward.
 *
 * @param <C> the family's config (Gpt2Config, LlamaConfig)
 */
public abstract class DecoderModel<C> implements LanguageModel {
    protected final Backend backend;
    protected final C config;
    protected final ParameterLayout layout;
    /** Vocabulary, hidden size, longest sequence, classifier labels (0 without a classifier). */
    protected final int V, hidden, maxT, labels;
    protected final Tensor params;
    private Tensor grads;
    /** Activations of the current pass, and their gradients in a backward. */
    protected final TensorArena acts, gradActs;
    /** Numbers the passes; Outputs of earlier passes are stale. */
    protected final Outputs.PassCounter passes = new Outputs.PassCounter();
    /** The config field that bounds a sequence's length, for messages (n_positions, max_position_embeddings). */
    private final String lengthField;

    protected DecoderModel(Backend backend, C config, ParameterLayout layout, int vocab, int hidden, int maxLength, String lengthField,
                           int labels) {
        this.backend = backend;
        this.config = config;
        this.layout = layout;
        this.V = vocab;
        this.hidden = hidden;
        this.maxT = maxLength;
        this.lengthField = lengthField;
        this.labels = labels;
        this.params = backend.allocate(layout.size());
        this.acts = new TensorArena(backend, "activations");
        this.gradActs = new TensorArena(backend, "activation gradients");
    }

    /** Called once, when the gradient block is first allocated, so the family can slice it as it slices the parameters. */
    protected abstract void gradientsAllocated(Tensor gradients);

    /**
     * Fills the parameters from {@code folder}: a stored tensor is read, a value-head bias the folder
     * lacks starts at 0, any other missing tensor (a fresh head) normal(0, {@code initStd}) from {@code seed}.
     */
    protected void loadParameters(StoredTensors folder, String valueHeadBias, double initStd, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            for (ParameterLayout.Entry e : layout.entries()) {
                if (folder.hasTensor(e.name())) {
                    MemorySegment staging = arena.allocate(e.length() * Float.BYTES, 64);
                    folder.floats(e.name(), staging);
                    backend.write(params, e.offset(), staging);
                } else if (!e.name().equals(valueHeadBias)) {
                    float[] values = new float[Math.toIntExact(e.length())];
                    for (int i = 0; i < values.length; i++) values[i] = (float) (random.nextGaussian() * initStd);
                    backend.write(params, e.offset(), values);
                }
            }
        }
    }

    /** Hands every parameter {@code include} accepts to {@code put}, in layout order: what a save writes. */
    protected void readParameters(Predicate<String> include, BiConsumer<String, float[]> put) {
        for (ParameterLayout.Entry e : layout.entries()) {
            if (!include.test(e.name())) continue;
            float[] values = new float[Math.toIntExact(e.length())];
            backend.read(params, e.offset(), values);
            put.accept(e.name(), values);
        }
    }

    /** The family's config. */
    public C config() {
        return config;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public ParameterLayout layout() {
        return layout;
    }

    @Override
    public int vocabSize() {
        return V;
    }

    @Override
    public int hiddenSize() {
        return hidden;
    }

    @Override
    public int maxSequenceLength() {
        return maxT;
    }

    @Override
    public int numLabels() {
        return labels;
    }

    /** The whole parameter block, [layout().size()]. */
    @Override
    public Tensor parameters() {
        return params;
    }

    /** The whole gradient block, allocated (zeroed) on first use, same layout as the parameters. */
    @Override
    public Tensor gradients() {
        if (grads == null) {
            grads = backend.allocate(layout.size());
            gradientsAllocated(grads);
        }
        return grads;
    }

    /** Copies every parameter from a model of the same family, config and heads (e.g. a frozen reference). */
    @Override
    public void copyParametersFrom(LanguageModel model) {
        if (!(model instanceof DecoderModel<?> other) || other.getClass() != getClass() || !other.config.equals(config)
                || !other.layout.entries().stream().map(ParameterLayout.Entry::name).toList()
                        .equals(layout.entries().stream().map(ParameterLayout.Entry::name).toList())
                || other.layout.size() != layout.size()) {
            throw new IllegalArgumentException("cannot copy parameters between models of different shapes");
        }
        if (other.backend == backend) {
            backend.copy(params, other.params, layout.size());
        } else {
            float[] staging = new float[Math.toIntExact(layout.size())];
            other.backend.read(other.params, 0, staging);
            backend.write(params, 0, staging);
        }
    }

    @Override
    public void checkTokens(int[] tokens, int[] seqLengths) {
        for (int t : tokens) {
            if (t < 0 || t >= V) throw new IllegalArgumentException("token id " + t + " is outside the vocabulary [0, " + V + ")");
        }
        for (int len : seqLengths) {
            if (len > maxT) throw new IllegalArgumentException("a sequence of " + len + " tokens exceeds " + lengthField + " " + maxT);
        }
    }

    /**
     * The mean next-token cross-entropy over every predicted position of the pass behind {@code out},
     * from its logits [N, V] into its per-row losses [N]; after a training pass the logits are
     * overwritten with the gradient of this mean, ready for the backward.
     *
     * @return the mean loss, summed in double in token order
     */
    protected double meanNextTokenLoss(Outputs out, ForwardOptions options, Tensor logits, Tensor losses) {
        if (options.logits() != ForwardOptions.Logits.ALL) {
            throw new IllegalStateException("the language-model loss needs the logits of every position (ForwardOptions.Logits.ALL)");
        }
        int[] targets = out.batch().nextTokenTargets();
        int count = 0;
        for (int t : targets) if (t >= 0) count++;
        if (count == 0) throw new IllegalArgumentException("no sequence has two tokens: there is nothing to predict");
        boolean withGradient = options.training();
        int N = out.tokenCount();
        backend.crossEntropy(losses, withGradient ? logits : null, logits, targets, 1f / count, N, V);
        out.setLogitsHoldGradient(withGradient);
        float[] perRow = new float[N];
        backend.read(losses, 0, perRow);
        double sum = 0;
        for (float l : perRow) sum += l;
        return sum / count;
    }

    /** Refuses a backward after a pass that kept no activations. */
    protected static void requireTraining(ForwardOptions options) {
        if (!options.training()) {
            throw new IllegalStateException("backward needs a training forward (ForwardOptions.forTraining()); this one kept no activations");
        }
    }

    /** The heads over the final norm, shared by every family. */
    protected OutputHeads outputHeads() {
        return new OutputHeads(backend, V, hidden, labels, hasValueHead());
    }

    /** Frees what the family allocated beside the blocks (nothing by default). */
    protected void closeFamilyBuffers() {
    }

    @Override
    public void close() {
        acts.close();
        gradActs.close();
        backend.free(params);
        closeFamilyBuffers();
        if (grads != null) backend.free(grads);
    }
}
