package org.densify.rlhf.reward;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.core.Backend;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.ModelShape;
import org.densify.core.model.Outputs;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.io.AtomicFiles;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.run.ProgressBar;
import org.densify.rlhf.run.TrainingLog;
import org.densify.rlhf.run.OutputFolder;
import org.densify.rlhf.run.OutputPaths;
import org.densify.rlhf.run.RunLock;
import org.densify.rlhf.run.TrainingChecks;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Trains a reward model of the init folder's family: a sequence classifier initialised from a language model (or an
 * existing classifier, trained further), on labelled reviews (cross-entropy of the logits at each
 * review's last token) or on preference pairs (Bradley–Terry on {@link
 * org.densify.rlhf.credit.RewardModel#scalar}). See {@link RewardLoss}.
 *
 * <p>Each epoch visits the training side of the hash split ({@link ImdbDataset#split}) once in a
 * fresh order drawn from (seed, epoch), in ragged batches of texts cut to their first
 * {@code maxTokens} tokens; AdamW (betas 0.9 / 0.999, eps 1e-8, decay on matrices only, gradient
 * clipping) under {@link LinearSchedule}. The held-out side is scored after every epoch.
 *
 * <p>The output folder is a Hugging Face {@code GPT2ForSequenceClassification} folder with the
 * tokenizer of {@code init}, {@code train_rm.json} (settings, data, per-epoch and final metrics)
 * and, unless the log goes elsewhere, {@code train_rm.jsonl} (one record per step). It is written
 * into a hidden folder beside it and renamed into place when complete ({@link OutputFolder}: a
 * replacement a crash interrupted is finished or undone by the next run), under a lock beside it
 * ({@link RunLock#beside}).
 */
public final class RewardModelTrainer {
    static final String FORMAT = "densify-train-rm/1";
    public static final String SUMMARY = "train_rm.json";
    public static final String LOG = "train_rm.jsonl";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private RewardModelTrainer() {
    }

    /** The held-out accuracy recorded in a reward-model folder's {@value #SUMMARY}, or NaN when it has none. */
    public static double heldOutAccuracy(Path folder) throws IOException {
        Path summary = folder.resolve(SUMMARY);
        if (!Files.isRegularFile(summary)) return Double.NaN;
        return JSON.readTree(summary.toFile()).path("held_out").path("accuracy").asDouble(Double.NaN);
    }

    /**
     * The options of a run.
     *
     * @param maxTokens    texts are cut to their first maxTokens tokens (and to the model's n_positions)
     * @param labels       1 or 2 classifier labels, or null for the data's default (2 for reviews, 1 for
     *                     pairs); an {@code init} that is already a classifier keeps its own
     * @param gradClip     gradient-norm clipping (Hugging Face's default 1.0); 0 = off
     * @param evalFraction fraction of records held out by the hash split; 0 = no held-out evaluation
     * @param log          the JSONL step log, or null for {@code OUT/train_rm.jsonl}
     * @param force        replace a non-empty output folder and an existing log file
     * @param openings     with reviews, also train on one opening of each training review, of a length
     *                     drawn from 8..openings tokens, labelled
     *                     as its review, so that short texts are scored by what they say; 0 = none
     */
    public record Settings(int maxTokens, int epochs, int batch, double lr, int warmup, double weightDecay, double gradClip,
                           double evalFraction, long seed, Integer labels, Path log, boolean force, int openings) {

        /** The command's defaults: 128 tokens, 1 epoch, batches of 16, lr 5e-5, no warm-up or decay, clip 1, 10% held out. */
        public static Settings defaults() {
            return new Settings(128, 1, 16, 5e-5, 0, 0.0, 1.0, 0.1, 0, null, null, false, 0);
        }

        /** A builder that starts from these settings: the one way to change some of them. */
        public Builder toBuilder() {
            return new Builder(this);
        }

        /** Settings changed one by one from a starting {@link Settings}; {@link #build()} makes the record. */
        public static final class Builder {
            private int maxTokens;
            private int epochs;
            private int batch;
            private double lr;
            private int warmup;
            private double weightDecay;
            private double gradClip;
            private double evalFraction;
            private long seed;
            private Integer labels;
            private Path log;
            private boolean force;
            private int openings;

            private Builder(Settings s) {
                maxTokens = s.maxTokens;
                epochs = s.epochs;
                batch = s.batch;
                lr = s.lr;
                warmup = s.warmup;
                weightDecay = s.weightDecay;
                gradClip = s.gradClip;
                evalFraction = s.evalFraction;
                seed = s.seed;
                labels = s.labels;
                log = s.log;
                force = s.force;
                openings = s.openings;
            }

            public Builder maxTokens(int v) {
                maxTokens = v;
                return this;
            }

            public Builder epochs(int v) {
                epochs = v;
                return this;
            }

            public Builder batch(int v) {
                batch = v;
                return this;
            }

            public Builder lr(double v) {
                lr = v;
                return this;
            }

            public Builder warmup(int v) {
                warmup = v;
                return this;
            }

            public Builder weightDecay(double v) {
                weightDecay = v;
                return this;
            }

            public Builder gradClip(double v) {
                gradClip = v;
                return this;
            }

            public Builder evalFraction(double v) {
                evalFraction = v;
                return this;
            }

            public Builder seed(long v) {
                seed = v;
                return this;
            }

            public Builder labels(Integer v) {
                labels = v;
                return this;
            }

            public Builder log(Path v) {
                log = v;
                return this;
            }

            public Builder force(boolean v) {
                force = v;
                return this;
            }

            public Builder openings(int v) {
                openings = v;
                return this;
            }

            public Settings build() {
                return new Settings(maxTokens, epochs, batch, lr, warmup, weightDecay, gradClip, evalFraction, seed, labels, log, force,
                        openings);
            }
        }

        /** The values the command's options set, by option name (without the dashes): where its defaults come from. */
        public Map<String, Object> asOptions() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("max-tokens", maxTokens);
            m.put("epochs", epochs);
            m.put("batch", batch);
            m.put("lr", lr);
            m.put("warmup", warmup);
            m.put("weight-decay", weightDecay);
            m.put("grad-clip", gradClip);
            m.put("eval-fraction", evalFraction);
            m.put("openings", openings);
            m.put("seed", seed);
            return m;
        }

        /** Each problem as one line naming the option; empty when every value is usable. */
        public List<String> problems() {
            List<String> p = new ArrayList<>();
            if (maxTokens < 1) p.add("--max-tokens must be >= 1, got " + maxTokens);
            if (epochs < 1) p.add("--epochs must be >= 1, got " + epochs);
            if (batch < 1) p.add("--batch must be >= 1, got " + batch);
            String lrProblem = TrainingChecks.learningRateProblem("--lr", lr);
            if (lrProblem != null) p.add(lrProblem);
            if (warmup < 0) p.add("--warmup must be >= 0, got " + warmup);
            if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) p.add("--weight-decay must be >= 0, got " + weightDecay);
            if (!(gradClip >= 0) || Double.isInfinite(gradClip)) p.add("--grad-clip must be >= 0 (0 = off), got " + gradClip);
            if (!(evalFraction >= 0 && evalFraction < 1)) p.add("--eval-fraction must be in [0, 1), got " + evalFraction);
            if (openings != 0 && openings < Examples.Reviews.SHORTEST_OPENING) {
                p.add("--openings must be 0 (none) or >= " + Examples.Reviews.SHORTEST_OPENING + ", got " + openings);
            }
            if (labels != null && labels != 1 && labels != 2) p.add("--labels must be 1 (a scalar reward) or 2 (negative, positive), got " + labels);
            return p;
        }
    }

    /** Metrics of one epoch; the held-out ones are NaN without a held-out set. */
    public record Epoch(int epoch, double trainLoss, double trainAccuracy, double evalLoss, double evalAccuracy) {}

    /**
     * What a run produced. {@code accuracy} and {@code loss} are the held-out ones after the last
     * epoch (NaN without a held-out set): classification accuracy for reviews, the fraction of pairs
     * whose chosen side gets the higher reward for preferences.
     */
    public record Result(double accuracy, double loss, double trainLoss, int steps, int trainExamples, int heldOutExamples,
                         int labels, double seconds, Path out, List<Epoch> epochs) {}

    /** {@link #train(Backend, Settings, Path, RewardData, Path, PrintWriter, boolean)} with plain progress lines (no terminal redraw). */
    public static Result train(Backend backend, Settings s, Path init, RewardData data, Path out, PrintWriter progress) throws IOException {
        return train(backend, s, init, data, out, progress, false);
    }

    /**
     * Trains a reward model from the model folder {@code init} (which also gives the tokenizer) and
     * writes it to {@code out}.
     *
     * @param progress receives a description of the run, the progress bar and each epoch's metrics
     * @param terminal whether {@code progress} is a terminal (the bar redraws in place)
     * @throws IllegalArgumentException for settings, data or an output folder that cannot be used
     * @throws IllegalStateException    when the loss stops being finite
     */
    public static Result train(Backend backend, Settings s, Path init, RewardData data, Path out, PrintWriter progress, boolean terminal)
            throws IOException {
        List<String> problems = s.problems();
        if (!problems.isEmpty()) throw new IllegalArgumentException(problems.getFirst());
        checkOutputs(out, s);
        try (RunLock _ = RunLock.beside(out)) {
            // under the lock no other run writes here: hidden folders beside out are a stopped run's
            OutputFolder.recover(out, progress);
            checkOutputs(out, s);
            return trainLocked(backend, s, init, data, out, progress, terminal);
        }
    }

    /** Refuses an output folder (or log file) that cannot be used or would be replaced without {@code force}. */
    public static void checkOutputs(Path out, Settings s) {
        OutputPaths.Existing existing = OutputPaths.Existing.force(s.force());
        OutputPaths.checkWholeFolder("--out", out, existing);
        if (s.log() != null) {
            if (s.log().toAbsolutePath().normalize().startsWith(out.toAbsolutePath().normalize())) {
                throw new OutputPaths.Refused("--log " + s.log() + ": is inside --out " + out + ", which is written as a whole at the end; "
                        + "leave --log out to log into " + out.resolve(LOG));
            }
            OutputPaths.checkFile("--log", s.log(), existing);
        }
    }

    private static Result trainLocked(Backend backend, Settings s, Path init, RewardData data, Path out, PrintWriter progress, boolean terminal)
            throws IOException {
        Tokenizer tokenizer = Tokenizers.open(init);
        boolean pairs = data instanceof RewardData.Preference;

        boolean continued = ClassifierInit.isClassifier(init);
        ModelShape stored = ModelShape.read(init);
        int labels = s.labels() != null ? s.labels() : pairs ? 1 : 2;
        if (continued && s.labels() != null && s.labels() != stored.numLabels()) {
            throw new IllegalArgumentException("--labels " + s.labels() + ": " + init + " is already a classifier with "
                    + stored.numLabels() + " labels, which training continues");
        }
        if (tokenizer.vocabSize() > stored.vocabSize()) {
            throw new IllegalArgumentException(init + ": the tokenizer has " + tokenizer.vocabSize() + " tokens, more than the model's vocab_size "
                    + stored.vocabSize());
        }
        int classifierLabels = continued ? stored.numLabels() : labels;
        if (classifierLabels != 1 && classifierLabels != 2) {
            throw new IllegalArgumentException(init + "/config.json: a reward model has 1 or 2 labels; this classifier has " + classifierLabels);
        }
        LanguageModel model = ClassifierInit.load(backend, init, labels, tokenizer.eotId(), s.seed());
        try {
            return new Run(backend, s, init, data, out, progress, terminal, model, tokenizer, continued).run();
        } finally {
            model.close();
        }
    }

    /** One run's state. */
    private static final class Run {
        final Backend backend;
        final Settings s;
        final Path init, out;
        final RewardData data;
        final PrintWriter progress;
        final boolean terminal, continued;
        final LanguageModel model;
        final Tokenizer tokenizer;
        final int labels, maxTokens;

        Run(Backend backend, Settings s, Path init, RewardData data, Path out, PrintWriter progress, boolean terminal, LanguageModel model,
            Tokenizer tokenizer, boolean continued) {
            this.backend = backend;
            this.s = s;
            this.init = init;
            this.data = data;
            this.out = out;
            this.progress = progress;
            this.terminal = terminal;
            this.model = model;
            this.tokenizer = tokenizer;
            this.continued = continued;
            this.labels = model.numLabels();
            this.maxTokens = Math.min(s.maxTokens(), model.maxSequenceLength());
        }

        Result run() throws IOException {
            long start = System.nanoTime();
            Examples train, test;
            int[] dropped = new int[1];
            if (data instanceof RewardData.Classification c) {
                ImdbDataset.Split split = ImdbDataset.split(c.reviews(), s.evalFraction());
                train = Examples.Reviews.of(split.train(), tokenizer, maxTokens, dropped);
                if (s.openings() > 0) train = ((Examples.Reviews) train).withOpenings(s.openings(), s.seed());
                test = Examples.Reviews.of(split.test(), tokenizer, maxTokens, dropped);
            } else {
                RewardData.Preference p = (RewardData.Preference) data;
                List<RewardData.Pair> trainPairs = new ArrayList<>(), testPairs = new ArrayList<>();
                for (RewardData.Pair pair : p.pairs()) {
                    String key = pair.prompt() + '\0' + pair.chosen() + '\0' + pair.rejected();
                    (ImdbDataset.isTest(key, s.evalFraction()) ? testPairs : trainPairs).add(pair);
                }
                if (s.openings() > 0) {
                    throw new IllegalArgumentException("--openings applies to reviews, not to preference pairs (" + data.source() + ")");
                }
                train = Examples.Pairs.of(trainPairs, tokenizer, maxTokens, dropped);
                test = Examples.Pairs.of(testPairs, tokenizer, maxTokens, dropped);
            }
            if (train.size() == 0) throw new IllegalArgumentException(data.source() + ": no " + train.noun() + " left to train on after the held-out split");
            if (s.evalFraction() > 0 && test.size() == 0) {
                throw new IllegalArgumentException(data.source() + ": the held-out split (--eval-fraction " + s.evalFraction() + ") has no "
                        + train.noun() + "; use more data, a larger fraction, or 0 for no held-out evaluation");
            }
            describe(train, test, dropped[0]);

            int perEpoch = (train.size() + s.batch() - 1) / s.batch();
            int total = perEpoch * s.epochs();
            LinearSchedule schedule = new LinearSchedule(s.lr(), s.warmup(), total);
            ProgressBar bar = new ProgressBar(progress, terminal, total, Math.max(1, total / 20));
            // a scalar reward's Bradley-Terry loss starts at ln 2 too: a guess between the two texts
            TrainingChecks.DivergenceWatch divergence = new TrainingChecks.DivergenceWatch(Math.max(2, labels), labels == 1 ? "texts of a pair" : "labels",
                    progress);
            Path partial = OutputFolder.partialFolder(out);
            try {
                List<Epoch> epochs = new ArrayList<>();
                double trainSeconds = 0;
                long trainTokens = 0;
                int step = 0;
                double lastEval = Double.NaN;
                ForwardOptions training = new ForwardOptions(ForwardOptions.Logits.NONE, ForwardOptions.Capture.NONE, true);
                Path logFile = s.log() != null ? s.log() : partial.resolve(LOG);
                if (logFile.toAbsolutePath().getParent() != null) Files.createDirectories(logFile.toAbsolutePath().getParent());
                try (AdamW optimizer = new AdamW(model, 0.9f, 0.999f, 1e-8f, (float) s.weightDecay());
                     TrainingLog log = TrainingLog.create(logFile)) {
                    for (int epoch = 1; epoch <= s.epochs(); epoch++) {
                        int[] order = shuffled(train.size(), s.seed(), epoch);
                        double epochLoss = 0;
                        int epochCorrect = 0;
                        for (int b = 0; b < perEpoch; b++) {
                            step++;
                            long t0 = System.nanoTime();
                            int[] idx = Arrays.copyOfRange(order, b * s.batch(), Math.min((b + 1) * s.batch(), order.length));
                            Batch batch = train.batch(idx);
                            model.zeroGradients();
                            Outputs o = model.forward(batch, training);
                            float[][] dscores = new float[batch.size()][labels];
                            Examples.Tally t = train.score(o.scores(), idx, dscores, 1.0 / idx.length);
                            double loss = t.loss() / idx.length;
                            if (!Double.isFinite(loss)) {
                                throw new IllegalStateException("the training loss is " + loss + " at step " + step + " (epoch " + epoch
                                        + "): the model's outputs are not finite (try a lower --lr, or check " + init + ")");
                            }
                            divergence.check(step, loss);
                            model.backward(o, null, dscores);
                            float lr = schedule.at(step);
                            double norm = optimizer.step(lr, (float) s.gradClip());
                            double seconds = (System.nanoTime() - t0) / 1e9;
                            trainSeconds += seconds;
                            trainTokens += batch.tokenCount();
                            epochLoss += t.loss();
                            epochCorrect += t.correct();

                            boolean epochEnd = b == perEpoch - 1;
                            Examples.Tally eval = epochEnd && test.size() > 0 ? evaluate(test) : null;
                            ObjectNode record = JsonNodeFactory.instance.objectNode();
                            record.put("step", step);
                            record.put("epoch", epoch);
                            record.put("loss", loss);
                            record.put("accuracy", (double) t.correct() / idx.length);
                            record.put("lr", lr);
                            record.put("grad_norm", norm);
                            record.put("tokens", trainTokens);
                            record.put("tokens_per_s", batch.tokenCount() / seconds);
                            record.put("seconds", (System.nanoTime() - start) / 1e9);
                            if (epochEnd) {
                                Epoch e = new Epoch(epoch, epochLoss / train.size(), (double) epochCorrect / train.size(),
                                        eval == null ? Double.NaN : eval.loss() / test.size(), eval == null ? Double.NaN : (double) eval.correct() / test.size());
                                epochs.add(e);
                                lastEval = e.evalLoss();
                                record.put("epoch_loss", e.trainLoss());
                                record.put("epoch_accuracy", e.trainAccuracy());
                                if (eval != null) {
                                    record.put("eval_loss", e.evalLoss());
                                    record.put("eval_accuracy", e.evalAccuracy());
                                }
                            }
                            log.append(record);
                            double wall = (System.nanoTime() - start) / 1e9;
                            bar.update(step, loss, epochEnd ? lastEval : Double.NaN, lastEval, trainTokens / trainSeconds, wall / step * (total - step));
                            if (epochEnd) reportEpoch(epochs.getLast(), train, test);
                        }
                    }
                }
                Epoch last = epochs.getLast();
                double seconds = (System.nanoTime() - start) / 1e9;
                Result result = new Result(last.evalAccuracy(), last.evalLoss(), last.trainLoss(), total, train.size(), test.size(), labels,
                        seconds, out, List.copyOf(epochs));
                TrainingChecks.requireFiniteParameters(model, "the reward model " + out);
                model.save(partial, ModelKind.SEQUENCE_CLASSIFIER);
                Checkpoints.copyTokenizer(init, partial);
                AtomicFiles.write(partial.resolve(SUMMARY), JSON.writeValueAsBytes(summary(result, train, test, dropped[0])));
                OutputFolder.publish(partial, out, OutputPaths.Existing.force(s.force()));
                return result;
            } catch (IOException | RuntimeException | Error e) {
                try {
                    OutputFolder.deleteTree(partial);
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }

        /** Loss and correct count over every held-out example, in batches of the training size (no gradients). */
        Examples.Tally evaluate(Examples test) {
            ForwardOptions inference = new ForwardOptions(ForwardOptions.Logits.NONE, ForwardOptions.Capture.NONE, false);
            double loss = 0;
            int correct = 0;
            for (int from = 0; from < test.size(); from += s.batch()) {
                int[] idx = new int[Math.min(s.batch(), test.size() - from)];
                for (int i = 0; i < idx.length; i++) idx[i] = from + i;
                Examples.Tally t = test.score(model.forward(test.batch(idx), inference).scores(), idx, null, 1);
                loss += t.loss();
                correct += t.correct();
            }
            if (!Double.isFinite(loss)) throw new IllegalStateException("the held-out loss is " + loss + ": the model's outputs are not finite");
            return new Examples.Tally(loss, correct);
        }

        private void describe(Examples train, Examples test, int dropped) {
            ModelShape c = model.shape();
            progress.printf(Locale.ROOT, "data: %s: %,d %s to train on, %,d held out (--eval-fraction %s)%s%n", data.source(), train.size(),
                    train.noun() + (s.openings() > 0 ? " and their openings" : ""),
                    test.size(), s.evalFraction(), dropped > 0 ? String.format(Locale.ROOT, "; %,d left out (no tokens)", dropped) : "");
            if (train.identical() + test.identical() > 0) {
                progress.printf(Locale.ROOT, "note: %,d pairs have identical chosen and rejected tokens after the cut to %d tokens: they teach nothing%n",
                        train.identical() + test.identical(), maxTokens);
            }
            progress.printf(Locale.ROOT, "model: %s %s: %d layers, d_model %d, %d label%s %s, %,d parameters on %s%n",
                    continued ? "continuing the classifier" : "a new classifier on the trunk of", init, c.layers(), c.hiddenSize(), labels,
                    labels == 1 ? "" : "s", c.labels(), model.layout().parameterCount(), backend.name());
            progress.printf(Locale.ROOT, "training: %d epochs of %d steps, batches of %d %s cut to their first %d tokens%s%s; lr %.3g (warm-up %d, linear decay), "
                            + "weight decay %s, grad clip %s%n", s.epochs(), (train.size() + s.batch() - 1) / s.batch(), s.batch(), train.noun(), maxTokens,
                    maxTokens < s.maxTokens() ? " (n_positions)" : "",
                    s.openings() > 0 ? String.format(Locale.ROOT, ", with an opening of 8-%d tokens of each", s.openings()) : "",
                    s.lr(), s.warmup(), s.weightDecay(), s.gradClip());
            progress.flush();
        }

        private void reportEpoch(Epoch e, Examples train, Examples test) {
            String held = Double.isNaN(e.evalLoss()) ? "no held-out set"
                    : String.format(Locale.ROOT, "held-out loss %.4f, %s %.2f%% of %,d", e.evalLoss(), train.metric(), 100 * e.evalAccuracy(), test.size());
            progress.printf(Locale.ROOT, "epoch %d/%d: train loss %.4f, %s %.2f%%; %s%n", e.epoch(), s.epochs(), e.trainLoss(), train.metric(),
                    100 * e.trainAccuracy(), held);
            progress.flush();
        }

        private ObjectNode summary(Result r, Examples train, Examples test, int dropped) {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("format", FORMAT);
            o.put("init", init.toString());
            o.put("continued_classifier", continued);
            o.put("labels", labels);
            o.put("objective", train.objective());
            ObjectNode d = o.putObject("data");
            d.put("source", data.source());
            d.put("kind", data instanceof RewardData.Preference ? "preference" : "classification");
            d.put("train", train.size());
            d.put("held_out", test.size());
            d.put("left_out_empty", dropped);
            d.put("max_tokens", maxTokens);
            ObjectNode st = o.putObject("settings");
            st.put("max_tokens", s.maxTokens());
            st.put("epochs", s.epochs());
            st.put("batch", s.batch());
            st.put("lr", s.lr());
            st.put("warmup", s.warmup());
            st.put("schedule", "linear");
            st.put("weight_decay", s.weightDecay());
            st.put("grad_clip", s.gradClip());
            st.put("eval_fraction", s.evalFraction());
            st.put("seed", s.seed());
            st.put("openings", s.openings());
            var list = o.putArray("epochs");
            for (Epoch e : r.epochs()) {
                ObjectNode n = list.addObject();
                n.put("epoch", e.epoch());
                n.put("train_loss", e.trainLoss());
                n.put("train_accuracy", e.trainAccuracy());
                number(n, "eval_loss", e.evalLoss());
                number(n, "eval_accuracy", e.evalAccuracy());
            }
            ObjectNode h = o.putObject("held_out");
            h.put("metric", train.metric());
            number(h, "accuracy", r.accuracy());
            number(h, "loss", r.loss());
            o.put("steps", r.steps());
            o.put("seconds", r.seconds());
            o.put("device", backend.name());
            return o;
        }
    }

    /** JSON has no NaN: a metric that does not exist is null. */
    private static void number(ObjectNode o, String key, double v) {
        if (Double.isNaN(v)) o.putNull(key);
        else o.put(key, v);
    }

    /** A permutation of 0..n-1 drawn from (seed, epoch) alone (Fisher–Yates). */
    static int[] shuffled(int n, long seed, int epoch) {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    /**
     * What a model trained with {@code maxTokens} reads of {@code text}: its first {@code maxTokens}
     * tokens, special-token names encoded as plain text. Score texts the same way to match training.
     */
    public static int[] encode(Tokenizer tok, String text, int maxTokens) {
        int[] ids = tok.encode(text);
        return ids.length > maxTokens ? Arrays.copyOf(ids, maxTokens) : ids;
    }
}
