package org.densify.rlhf.ppo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Outputs;
import org.densify.rlhf.credit.CreditInput;

/**
 * One PPO step as TRL 0.7.4's {@code PPOTrainer.step} runs it, on a policy with a value head and a
 * frozen reference. {@link #evaluate} is the rollout bookkeeping (old log-probabilities and values
 * from the policy, log-probabilities from the reference); {@link #optimize} turns per-token scores
 * into rewards (minus the KL penalty), advantages and returns, then runs the PPO epochs.
 *
 * <p>Positions follow TRL: completion token t of a sequence with a P-token prompt is predicted by
 * the logits at position P - 1 + t, and its value is the value head there. No dropout, as in TRL:
 * its {@code batched_forward_pass} puts the model in eval mode for every forward the losses use.
 */
public final class PpoTrainer implements AutoCloseable {
    private final LanguageModel policy, reference;
    private final PpoConfig config;
    private final AdamW optimizer;
    private final KlController kl;
    /** Per-row log-probabilities and entropies, kept between passes (allocation on every pass is not free). */
    private Tensor rowLogProbs, rowEntropies;
    private long rowCapacity;

    public PpoTrainer(LanguageModel policy, LanguageModel reference, PpoConfig config) {
        if (!policy.hasValueHead()) throw new IllegalArgumentException("the PPO policy needs a value head (v_head.summary.*)");
        if (reference.vocabSize() != policy.vocabSize()) {
            throw new IllegalArgumentException("the reference model's vocabulary (" + reference.vocabSize()
                    + ") differs from the policy's (" + policy.vocabSize() + ")");
        }
        this.policy = policy;
        this.reference = reference;
        this.config = config;
        this.optimizer = new AdamW(policy, (float) config.adamBeta1(), (float) config.adamBeta2(), (float) config.adamEps(), 0f);
        this.kl = config.klController();
    }

    public PpoConfig config() {
        return config;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    public KlController klController() {
        return kl;
    }

    /** Per sequence, per completion token: what the rollout passes found. */
    public record Rollout(int[][] queries, int[][] responses, float[][] logProbs, float[][] refLogProbs, float[][] values,
                          float[][] policyAttention) {}

    /** TRL's statistics of one minibatch. */
    public record MinibatchStats(double loss, double pgLoss, double vfLoss, double pgClipFraction, double vfClipFraction,
                                 double entropy, double approxKl, double policyKl, double ratioMean, boolean skipped) {}

    /**
     * What one step computed.
     *
     * @param meanKl     mean over sequences of the summed {@code logp - logp_ref} (TRL's objective/kl)
     * @param klCoef     the coefficient the rewards used; {@code klCoefAfter} the controller's next value
     */
    public record StepResult(double[][] rewards, double[][] nonScoreRewards, double[][] advantages, double[][] returns,
                             List<MinibatchStats> minibatches, double meanKl, double klCoef, double klCoefAfter) {
        /** Mean over minibatches of one statistic. */
        public double mean(java.util.function.ToDoubleFunction<MinibatchStats> stat) {
            return minibatches.stream().mapToDouble(stat).average().orElse(Double.NaN);
        }
    }

    /**
     * The rollout passes: the policy's log-probabilities and values (and its last attention row when
     * {@code inputs} holds {@link CreditInput#POLICY_ATTENTION}) and the reference's log-probabilities.
     */
    public Rollout evaluate(int[][] queries, int[][] responses, Set<CreditInput> inputs) {
        Scored p = score(policy, queries, responses,
                inputs.contains(CreditInput.POLICY_ATTENTION) ? ForwardOptions.Capture.LAST_ROW : ForwardOptions.Capture.NONE);
        Scored r = score(reference, queries, responses, ForwardOptions.Capture.NONE);
        return new Rollout(queries, responses, p.logProbs, r.logProbs, p.values, p.attention);
    }

    /**
     * Rewards, advantages, and {@code ppoEpochs} passes of minibatch updates.
     *
     * @param scores per sequence, per completion token, the credit (TRL-ABC adds it to the KL rewards token by token)
     * @param order  per epoch a permutation of the batch; minibatch k is {@code order[e][k*mbs .. (k+1)*mbs)}
     */
    public StepResult optimize(Rollout rollout, float[][] scores, int[][] order) {
        int B = rollout.queries.length;
        if (scores.length != B) throw new IllegalArgumentException(B + " sequences but " + scores.length + " score rows");
        if (order.length != config.ppoEpochs()) throw new IllegalArgumentException("expected " + config.ppoEpochs() + " epoch orders, got " + order.length);
        double coef = kl.value();
        double[][] rewards = new double[B][], nonScore = new double[B][], values = new double[B][];
        double klSum = 0;
        for (int s = 0; s < B; s++) {
            int N = rollout.responses[s].length;
            if (scores[s].length != N) throw new IllegalArgumentException("sequence " + s + ": " + scores[s].length + " scores for " + N + " tokens");
            rewards[s] = new double[N];
            nonScore[s] = new double[N];
            values[s] = new double[N];
            for (int t = 0; t < N; t++) {
                double klt = (double) rollout.logProbs[s][t] - rollout.refLogProbs[s][t];
                klSum += klt;
                nonScore[s][t] = -coef * klt;
                rewards[s][t] = nonScore[s][t] + scores[s][t];
                values[s][t] = rollout.values[s][t];
            }
        }
        Advantages.Result adv = Advantages.compute(rewards, values, config.gamma(), config.lambda());

        int mbs = config.miniBatchSize();
        List<MinibatchStats> stats = new ArrayList<>();
        for (int[] epoch : order) {
            checkPermutation(epoch, B);
            for (int k = 0; k < B; k += mbs) stats.add(minibatch(rollout, adv, Arrays.copyOfRange(epoch, k, k + mbs)));
        }
        double meanKl = klSum / B;
        kl.update(meanKl, B);
        return new StepResult(rewards, nonScore, adv.advantages(), adv.returns(), stats, meanKl, coef, kl.value());
    }

    private MinibatchStats minibatch(Rollout r, Advantages.Result adv, int[] seqs) {
        int[][] q = new int[seqs.length][], y = new int[seqs.length][];
        int n = 0;
        for (int i = 0; i < seqs.length; i++) {
            q[i] = r.queries[seqs[i]];
            y[i] = r.responses[seqs[i]];
            n += y[i].length;
        }
        float[] oldLp = new float[n], oldV = new float[n];
        double[] a = new double[n], ret = new double[n];
        int at = 0;
        for (int s : seqs) {
            int N = r.responses[s].length;
            System.arraycopy(r.logProbs[s], 0, oldLp, at, N);
            System.arraycopy(r.values[s], 0, oldV, at, N);
            System.arraycopy(adv.advantages()[s], 0, a, at, N);
            System.arraycopy(adv.returns()[s], 0, ret, at, N);
            at += N;
        }
        Backend backend = policy.backend();
        Joined j = join(q, y);
        Outputs out = policy.forward(j.batch, ForwardOptions.forTraining());
        int rows = j.batch.tokenCount(), V = policy.vocabSize();
        float[] rowLp = new float[rows], rowEnt = new float[rows];
        reserveRows(backend, rows);
        backend.tokenLogProbs(rowLogProbs, rowEntropies, out.logits(), j.targets, rows, V);
        backend.read(rowLogProbs, 0, rowLp);
        backend.read(rowEntropies, 0, rowEnt);
        float[] rowValues = out.values();
        float[] lp = new float[n], v = new float[n];
        double entropy = 0;
        for (int i = 0; i < n; i++) {
            lp[i] = rowLp[j.rows[i]];
            v[i] = rowValues[j.rows[i]];
            entropy += rowEnt[j.rows[i]];
        }
        PpoLoss.Result loss = PpoLoss.compute(lp, oldLp, v, oldV, a, ret, config.clipRange(), config.valueClipRange(), config.vfCoef(),
                config.ratioThreshold());
        if (!Double.isFinite(loss.loss())) {
            throw new IllegalStateException("the PPO loss is " + loss.loss() + " (policy " + loss.pgLoss() + ", value " + loss.vfLoss()
                    + "): a NaN or infinity reached the rollout or the model");
        }
        float[] dRowLp = new float[rows], dRowV = new float[rows];
        for (int i = 0; i < n; i++) {
            dRowLp[j.rows[i]] = loss.dLogProbs()[i];
            dRowV[j.rows[i]] = loss.dValues()[i];
        }
        backend.tokenLogProbsBackward(out.logits(), out.logits(), j.targets, dRowLp, rows, V);
        out.logitsHoldGradient();
        policy.zeroGradients();
        policy.backward(out, dRowV, null);
        optimizer.step((float) config.learningRate(), 0f);
        return new MinibatchStats(loss.loss(), loss.pgLoss(), loss.vfLoss(), loss.pgClipFraction(), loss.vfClipFraction(), entropy / n,
                loss.approxKl(), loss.policyKl(), loss.ratioMean(), loss.skipped());
    }

    /** A model's log-probabilities (and values, last attention row) of each completion token. */
    private record Scored(float[][] logProbs, float[][] values, float[][] attention) {}

    private void reserveRows(Backend backend, int rows) {
        if (rows <= rowCapacity) return;
        freeRows(backend);
        rowCapacity = Math.max(rows, 2 * rowCapacity);
        rowLogProbs = backend.allocate(rowCapacity);
        rowEntropies = backend.allocate(rowCapacity);
    }

    private void freeRows(Backend backend) {
        if (rowLogProbs != null) {
            backend.free(rowLogProbs);
            backend.free(rowEntropies);
        }
        rowLogProbs = rowEntropies = null;
        rowCapacity = 0;
    }

    private Scored score(LanguageModel model, int[][] q, int[][] y, ForwardOptions.Capture capture) {
        Joined j = join(q, y);
        boolean attention = capture != ForwardOptions.Capture.NONE;
        ForwardOptions options = new ForwardOptions(ForwardOptions.Logits.ALL, capture, false);
        Outputs out = model.forward(j.batch, options);
        Backend backend = model.backend();
        int rows = j.batch.tokenCount();
        float[] rowLp = new float[rows];
        if (backend == policy.backend()) {
            reserveRows(backend, rows);
            backend.tokenLogProbs(rowLogProbs, null, out.logits(), j.targets, rows, model.vocabSize());
            backend.read(rowLogProbs, 0, rowLp);
        } else {
            Tensor lpT = backend.allocate(rows);
            try {
                backend.tokenLogProbs(lpT, null, out.logits(), j.targets, rows, model.vocabSize());
                backend.read(lpT, 0, rowLp);
            } finally {
                backend.free(lpT);
            }
        }
        float[] rowValues = model.hasValueHead() ? out.values() : null;
        float[][] rowAttention = attention ? out.lastRowAttention() : null;
        int S = q.length;
        float[][] lp = new float[S][], v = rowValues == null ? null : new float[S][], att = attention ? new float[S][] : null;
        int at = 0;
        for (int s = 0; s < S; s++) {
            int N = y[s].length;
            lp[s] = new float[N];
            if (v != null) v[s] = new float[N];
            for (int t = 0; t < N; t++) {
                lp[s][t] = rowLp[j.rows[at + t]];
                if (v != null) v[s][t] = rowValues[j.rows[at + t]];
            }
            if (att != null) att[s] = Arrays.copyOfRange(rowAttention[s], q[s].length, q[s].length + N);
            at += N;
        }
        return new Scored(lp, v, att);
    }

    /** Prompt ++ completion sequences, each completion token's predicting row, and the targets of every row (-1 off the completions). */
    private record Joined(Batch batch, int[] rows, int[] targets) {}

    private static Joined join(int[][] q, int[][] y) {
        int S = q.length;
        int[][] seqs = new int[S][];
        int n = 0;
        for (int s = 0; s < S; s++) {
            if (q[s].length == 0) throw new IllegalArgumentException("prompt " + s + " is empty");
            if (y[s].length == 0) throw new IllegalArgumentException("completion " + s + " is empty");
            seqs[s] = Arrays.copyOf(q[s], q[s].length + y[s].length);
            System.arraycopy(y[s], 0, seqs[s], q[s].length, y[s].length);
            n += y[s].length;
        }
        Batch batch = Batch.of(seqs);
        int[] targets = new int[batch.tokenCount()];
        Arrays.fill(targets, -1);
        int[] rows = new int[n];
        int at = 0;
        for (int s = 0; s < S; s++) {
            int start = batch.start(s), P = q[s].length;
            for (int t = 0; t < y[s].length; t++) {
                int row = start + P - 1 + t;
                targets[row] = y[s][t];
                rows[at++] = row;
            }
        }
        return new Joined(batch, rows, targets);
    }

    private static void checkPermutation(int[] order, int B) {
        if (order.length != B) throw new IllegalArgumentException("an epoch order has " + order.length + " entries for a batch of " + B);
        boolean[] seen = new boolean[B];
        for (int i : order) {
            if (i < 0 || i >= B || seen[i]) throw new IllegalArgumentException("an epoch order is not a permutation of 0.." + (B - 1) + ": " + Arrays.toString(order));
            seen[i] = true;
        }
    }

    @Override
    public void close() {
        freeRows(policy.backend());
        optimizer.close();
    }
}
