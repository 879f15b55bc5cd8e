package org.densify.rlhf.pretrain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.densify.core.Backend;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.FreshModel;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.ModelShape;
import org.densify.core.model.Models;
import org.densify.core.model.Outputs;

import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.run.OutputFolder;
import org.densify.rlhf.run.OutputPaths;
import org.densify.rlhf.run.ProgressBar;
import org.densify.rlhf.run.RunLock;
import org.densify.rlhf.run.TrainingChecks;
import org.densify.rlhf.run.TrainingLog;

/**
 * Trains a language model of any family from scratch on a token stream: each step a batch of random
 * windows, the mean next-token cross-entropy, backward, gradient-norm clipping and AdamW under a
 * warm-up + cosine schedule; held-out evaluation, a JSONL log, checkpoints, and an exact resume.
 *
 * <p>Why a resumed run is bitwise the same as an uninterrupted one: parameters and AdamW moments
 * are saved as F32 (exact), the schedule is a function of the step, each step's windows come from
 * a generator seeded by (seed, step) alone, gradients are zeroed every step, and the engine is
 * deterministic.
 *
 * <p>Output folder: {@code log.jsonl}, {@code checkpoints/} (see {@link Checkpoints}) and, at the
 * end, {@code model/} (a Hugging Face folder with the tokenizer files, ready for generation, written
 * whole by {@link OutputFolder}). The folder is locked for the run ({@link RunLock}); a fresh run
 * refuses a folder holding any of these unless told to replace them.
 */
public final class Pretrainer {

    /** The entries of a run folder that a run writes. */
    static final String LOG = "log.jsonl", CHECKPOINTS = "checkpoints", MODEL = "model";

    /**
     * What the run needs besides the hyper-parameters.
     *
     * @param model    what to train: family and sizes (its sizes agree with {@code settings}')
     * @param existing whether a fresh run may replace the outputs of an earlier one in {@code out} ({@code --force})
     */
    public record Setup(PretrainSettings settings, FreshModel model, TokenData data, String dataSource, Path tokenizerDir, Path out, boolean resume,
                        Backend backend, String engineVersion, PrintWriter stdout, PrintWriter stderr, boolean terminal,
                        OutputPaths.Existing existing) {}

    /** The figures a caller reports. */
    public record Result(int steps, double trainLoss, double evalLoss, double unigramEntropy, double seconds,
                         double tokensPerSecond, Path model, long parameters) {}

    private final Setup s;
    private final PretrainSettings h;
    private final Checkpoints checkpoints;

    public Pretrainer(Setup setup) {
        this.s = setup;
        this.h = setup.settings();
        this.checkpoints = new Checkpoints(setup.out().resolve(CHECKPOINTS));
    }

    /**
     * Refuses a run folder that cannot be used: {@code --resume} needs a folder; a fresh run one
     * without an earlier run's log, checkpoints or model, unless they may be replaced.
     */
    public static void checkOutputs(Path out, boolean resume, OutputPaths.Existing existing) {
        OutputPaths.checkFolderPath("--out", out);
        if (resume) return;
        if (existing == OutputPaths.Existing.REFUSE && Files.exists(out.resolve(CHECKPOINTS).resolve(Checkpoints.LATEST))) {
            throw new OutputPaths.Refused("--out " + out + ": holds a training run already; pass --resume to continue it, --force to replace it, "
                    + "or choose another --out");
        }
        OutputPaths.checkFolderEntries("--out", out, existing, LOG, CHECKPOINTS, MODEL);
    }

    /** Trains, holding the run folder's lock throughout. */
    public Result run() throws IOException {
        checkOutputs(s.out(), s.resume(), s.existing());
        try (RunLock _ = RunLock.inside(s.out())) {
            // under the lock: nothing else is writing here, so whatever is unfinished is stale
            checkOutputs(s.out(), s.resume(), s.existing());
            checkpoints.cleanStale(s.stderr());
            OutputFolder.recover(s.out().resolve(MODEL), s.stderr());
            if (!s.resume()) {
                OutputFolder.deleteTree(checkpoints.root()); // only there when replacing (checked above)
                Files.deleteIfExists(s.out().resolve(LOG));
            }
            return train();
        }
    }

    private Result train() throws IOException {
        PrintWriter out = s.stdout();
        TokenData data = s.data();
        if (data.train().length < h.context()) {
            throw new IllegalArgumentException(s.dataSource() + ": the training stream has " + data.train().length
                    + " tokens, fewer than one window of --context " + h.context());
        }
        if (data.test().length < 2) {
            throw new IllegalArgumentException(s.dataSource() + ": the held-out part has no tokens to evaluate on (too few reviews for a split)");
        }
        String dataHash = data.hash();
        double unigram = data.unigramEntropy();

        LanguageModel model = null;
        AdamW optimizer = null;
        try {
            int start = 0;
            long tokens = 0;
            double secondsBefore = 0, lastLoss = Double.NaN, lastEval = Double.NaN;
            TrainingLog log;
            if (s.resume()) {
                Checkpoints.Saved saved = checkpoints.latest();
                checkCompatible(saved, dataHash);
                try {
                    model = Models.load(s.backend(), saved.dir());
                    String bad = TrainingChecks.firstNonFinite(model);
                    if (bad != null) throw new IOException(bad + ", though checkpoints are written only when finite (a damaged checkpoint)");
                } catch (IOException | RuntimeException e) {
                    throw new IOException("checkpoint " + saved.dir() + ": " + e.getMessage(), e);
                }
                checkModel(model.shape(), saved.dir());
                optimizer = new AdamW(model, 0.9f, 0.95f, 1e-8f, (float) h.weightDecay());
                try {
                    Checkpoints.restoreMoments(saved.dir(), model, optimizer, saved.state().path("adam_steps").asInt(saved.step()));
                } catch (IOException | RuntimeException e) {
                    throw new IOException("checkpoint " + saved.dir() + ": " + e.getMessage(), e);
                }
                start = saved.step();
                tokens = saved.state().path("tokens").asLong();
                secondsBefore = saved.state().path("seconds").asDouble();
                lastLoss = saved.state().path("loss").asDouble(Double.NaN);
                lastEval = saved.state().path("eval_loss").asDouble(Double.NaN);
                log = TrainingLog.resume(s.out().resolve(LOG), start);
                out.printf("resuming %s at step %d of %d%n", saved.dir(), start, h.steps());
            } else {
                Files.createDirectories(s.out());
                model = Models.create(s.backend(), s.model());
                model.initialize(h.seed());
                optimizer = new AdamW(model, 0.9f, 0.95f, 1e-8f, (float) h.weightDecay());
                log = TrainingLog.create(s.out().resolve(LOG));
            }
            describe(out, data, model, unigram);
            out.flush();

            List<Batch> evalBatches = data.evalBatches(h.evalTokens(), h.context(), h.windows());
            Schedule schedule = new Schedule(h.lr(), h.warmup(), h.minLrRatio(), h.steps());
            int every = h.evalEvery() > 0 ? h.evalEvery() : Math.max(1, h.steps() / 20);
            ProgressBar bar = new ProgressBar(s.stderr(), s.terminal(), h.steps(), every);
            TrainingChecks.DivergenceWatch divergence = new TrainingChecks.DivergenceWatch(data.vocabSize(), "tokens", s.stderr());
            long sessionStart = System.nanoTime();
            double trainSeconds = 0;
            long sessionTokens = 0;
            try (TrainingLog l = log) {
                for (int step = start + 1; step <= h.steps(); step++) {
                    long t0 = System.nanoTime();
                    Batch batch = data.trainBatch(h.seed(), step, h.windows(), h.context());
                    model.zeroGradients();
                    Outputs o = model.forward(batch, ForwardOptions.forTraining());
                    double loss = model.languageModelLoss(o);
                    if (!Double.isFinite(loss)) throw new IllegalStateException("the training loss is " + loss + " at step " + step + " (try a lower --lr)");
                    divergence.check(step, loss);
                    model.backward(o, null, null);
                    float lr = schedule.at(step);
                    double norm = optimizer.step(lr, (float) h.gradClip());
                    double stepSeconds = (System.nanoTime() - t0) / 1e9;
                    trainSeconds += stepSeconds;
                    tokens += batch.tokenCount();
                    sessionTokens += batch.tokenCount();
                    lastLoss = loss;

                    boolean last = step == h.steps();
                    double evalLoss = Double.NaN;
                    if (last || (h.evalEvery() > 0 && step % h.evalEvery() == 0)) {
                        evalLoss = evaluate(model, evalBatches);
                        if (!Double.isFinite(evalLoss)) {
                            // finite weights can still be too large for the forward pass (an --lr of 1e30):
                            // such a model is no result, so neither its checkpoint nor the final model is written
                            throw new IllegalStateException("the held-out loss is " + evalLoss + " at step " + step
                                    + ": the model's outputs are not finite, so it is not written (try a lower --lr)");
                        }
                        lastEval = evalLoss;
                    }
                    double elapsed = secondsBefore + (System.nanoTime() - sessionStart) / 1e9;
                    ObjectNode record = JsonNodeFactory.instance.objectNode();
                    record.put("step", step);
                    record.put("loss", loss);
                    record.put("lr", lr);
                    record.put("grad_norm", norm);
                    record.put("tokens", tokens);
                    record.put("tokens_per_s", batch.tokenCount() / stepSeconds);
                    record.put("seconds", elapsed);
                    if (!Double.isNaN(evalLoss)) record.put("eval_loss", evalLoss);
                    l.append(record);

                    if (last || (h.checkpointEvery() > 0 && step % h.checkpointEvery() == 0)) {
                        checkpoints.save(step, model, optimizer, s.tokenizerDir(), state(step, dataHash, data, optimizer, tokens, elapsed, loss, lastEval));
                    }
                    double sessionWall = (System.nanoTime() - sessionStart) / 1e9;
                    int done = step - start;
                    bar.update(step, loss, evalLoss, lastEval, sessionTokens / trainSeconds, sessionWall / done * (h.steps() - step));
                }
            }
            Path modelDir = s.out().resolve(MODEL);
            TrainingChecks.requireFiniteParameters(model, "the model " + modelDir);
            Path partial = OutputFolder.partialFolder(modelDir);
            try {
                model.save(partial, ModelKind.LM);
                Checkpoints.copyTokenizer(s.tokenizerDir(), partial);
                // a resumed run replaces the model it may have written before
                OutputFolder.publish(partial, modelDir, s.resume() ? OutputPaths.Existing.REPLACE : s.existing());
            } catch (IOException | RuntimeException | Error e) {
                OutputFolder.deleteTree(partial);
                throw e;
            }
            double totalSeconds = secondsBefore + (System.nanoTime() - sessionStart) / 1e9;
            double rate = trainSeconds > 0 ? sessionTokens / trainSeconds : Double.NaN;
            if (start == h.steps()) {
                out.printf(Locale.ROOT, "the checkpoint is already at the last step (%d): nothing to train; held-out loss %.4f nats/token%n",
                        start, lastEval);
            } else {
                out.printf(Locale.ROOT, "done: %d steps in %s (%,.0f tokens/s while training); held-out loss %.4f nats/token vs unigram entropy %.4f%n",
                        h.steps(), ProgressBar.duration(totalSeconds), rate, lastEval, unigram);
            }
            out.printf("wrote %s (try: densify generate --model %s --prompt \"This movie\")%n", modelDir, modelDir);
            out.flush();
            return new Result(h.steps(), lastLoss, lastEval, unigram, totalSeconds, rate, modelDir, model.layout().parameterCount());
        } finally {
            if (optimizer != null) optimizer.close();
            if (model != null) model.close();
        }
    }

    /** The mean next-token loss over every held-out window (no gradients). */
    static double evaluate(LanguageModel model, List<Batch> batches) {
        double sum = 0;
        long count = 0;
        for (Batch b : batches) {
            Outputs o = model.forward(b, ForwardOptions.forInference());
            int predicted = b.tokenCount() - b.size();
            sum += model.languageModelLoss(o) * predicted;
            count += predicted;
        }
        return sum / count;
    }

    private ObjectNode state(int step, String dataHash, TokenData data, AdamW optimizer, long tokens, double seconds,
                             double loss, double evalLoss) {
        ObjectNode st = JsonNodeFactory.instance.objectNode();
        st.put("format", Checkpoints.FORMAT);
        st.put("step", step);
        st.put("seed", h.seed());
        st.set("hyper", h.toJson());
        ObjectNode d = st.putObject("data");
        d.put("source", s.dataSource());
        d.put("train_tokens", data.train().length);
        d.put("test_tokens", data.test().length);
        d.put("sha256", dataHash);
        st.putObject("tokenizer").put("vocab_size", data.vocabSize());
        st.put("adam_steps", optimizer.stepCount());
        st.put("tokens", tokens);
        st.put("seconds", seconds);
        st.put("loss", loss);
        if (!Double.isNaN(evalLoss)) st.put("eval_loss", evalLoss);
        st.put("engine", s.engineVersion());
        st.put("device", s.backend().name());
        return st;
    }

    private void checkCompatible(Checkpoints.Saved saved, String dataHash) throws IOException {
        Path stateFile = saved.dir().resolve(Checkpoints.STATE);
        PretrainSettings then;
        try {
            JsonNode hyper = saved.state().get("hyper");
            if (hyper == null || !hyper.isObject()) throw new IllegalArgumentException("field 'hyper' is missing");
            then = PretrainSettings.fromJson(hyper);
        } catch (IllegalArgumentException e) {
            throw new IOException(stateFile + ": " + e.getMessage());
        }
        List<String> diffs = then.trajectoryDifferences(h);
        if (!diffs.isEmpty()) {
            throw new IllegalArgumentException("--resume: the hyper-parameters differ from the checkpoint's (" + String.join("; ", diffs)
                    + "); resume with the same values");
        }
        String thenHash = saved.state().path("data").path("sha256").asText();
        if (!thenHash.equals(dataHash)) {
            throw new IllegalArgumentException("--resume: the training data or tokenizer differs from the checkpoint's (token stream sha256 "
                    + abbreviateHash(thenHash) + " then, " + abbreviateHash(dataHash) + " now); resume with the same --data and --tokenizer");
        }
    }

    private void checkModel(ModelShape c, Path dir) throws IOException {
        ModelShape want = Models.shapeOf(s.model());
        if (c.layers() != h.layers() || c.hiddenSize() != h.dModel() || c.heads() != h.heads() || c.maxSequenceLength() != h.context()
                || c.vocabSize() != s.data().vocabSize()) {
            throw new IOException("checkpoint " + dir + ": config.json (layers " + c.layers() + ", hidden size " + c.hiddenSize() + ", heads " + c.heads()
                    + ", context " + c.maxSequenceLength() + ", vocab_size " + c.vocabSize() + ") does not match state.json");
        }
        if (c.family() != want.family() || c.keyValueHeads() != want.keyValueHeads() || c.intermediateSize() != want.intermediateSize()
                || c.tiedEmbeddings() != want.tiedEmbeddings()) {
            throw new IllegalArgumentException("--resume: checkpoint " + dir + " holds a " + c.family().modelType() + " model with " + c.keyValueHeads()
                    + " key/value heads, intermediate size " + c.intermediateSize() + ", tied embeddings " + c.tiedEmbeddings()
                    + "; resume with the same --family, --kv-heads, --intermediate-size and embeddings");
        }
    }

    private static String abbreviateHash(String hash) {
        return hash.length() > 12 ? hash.substring(0, 12) + "..." : hash.isEmpty() ? "(none)" : hash;
    }

    private void describe(PrintWriter out, TokenData data, LanguageModel model, double unigram) {
        out.printf(Locale.ROOT, "data: %s: %,d training tokens, %,d held-out tokens; vocabulary %,d%n",
                s.dataSource(), data.train().length, data.test().length, data.vocabSize());
        ModelShape c = model.shape();
        String family = c.family() == ModelFamily.GPT2 ? "" : String.format(Locale.ROOT, "%s, %d key/value heads, intermediate %d, ",
                c.familyName(), c.keyValueHeads(), c.intermediateSize());
        out.printf(Locale.ROOT, "model: %s%d layers, d_model %d, %d heads, context %d: %,d parameters on %s%n",
                family, h.layers(), h.dModel(), h.heads(), h.context(), model.layout().parameterCount(), s.backend().name());
        out.printf(Locale.ROOT, "training: %d steps of %d windows x %d tokens, lr %.3g (warm-up %d, cosine to %.3g), weight decay %s, grad clip %s%n",
                h.steps(), h.windows(), h.context(), h.lr(), h.warmup(), h.lr() * h.minLrRatio(), h.weightDecay(), h.gradClip());
        out.printf(Locale.ROOT, "unigram entropy of the training tokens: %.4f nats/token (the best loss without context)%n", unigram);
    }
}
