package org.densify.core.model;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.densify.core.Tensor;

/**
 * Batched sampling with a KV cache over ragged prompts: one prefill pass over every prompt, then
 * one token per unfinished sequence per step. Deterministic in the seed: sequences draw from one
 * generator in index order.
 */
public final class Generator {

    /** Called for each new token as soon as it is drawn (streaming). */
    public interface Listener {
        void onToken(int sequence, int token, double logProbability);
    }

    /** What generation records besides the tokens. */
    public enum Recording {
        /** Tokens and log-probabilities only. */
        NONE,
        /**
         * Also, for every new token, the last layer's attention row (averaged over heads) of the
         * query that predicted it, as the cached-attention kernel computes it during the step: what
         * Hugging Face's {@code generate(output_attentions=True)} returns, and what ABC-D reads.
         */
        LAST_LAYER_ROWS
    }

    /**
     * @param tokens        the new tokens of each sequence (the prompt excluded)
     * @param logProbs      each new token's log-probability under the model's own distribution
     *                      (log softmax of the raw logits: no temperature, truncation or end-of-text
     *                      ban), as PPO needs it
     * @param attentionRows with {@link Recording#LAST_LAYER_ROWS}, per sequence and new token k, the
     *                      head-averaged last-layer attention of the query at position {@code P - 1 + k}
     *                      (the last prompt token for k = 0, else new token k - 1) over positions
     *                      {@code 0 .. P + k - 1} (P = prompt length); otherwise null
     */
    public record Result(int[][] tokens, float[][] logProbs, float[][][] attentionRows) {}

    private final LanguageModel model;

    public Generator(LanguageModel model) {
        this.model = model;
    }

    /**
     * Generates up to {@code maxNewTokens[s]} tokens after {@code prompts[s]}, stopping a sequence
     * early when it draws {@code stopToken} (kept in its output; -1 never stops).
     */
    public Result generate(int[][] prompts, int[] maxNewTokens, Sampler sampler, long seed, int stopToken, Listener listener) {
        return generate(prompts, new int[prompts.length], maxNewTokens, sampler, seed, stopToken, Recording.NONE, listener);
    }

    /**
     * As {@link #generate(int[][], int[], Sampler, long, int, Listener)}, with {@code stopToken} banned
     * (never drawn) until sequence s has {@code minNewTokens[s]} new tokens: Hugging Face's {@code
     * min_new_tokens}. The ban is applied here, on the host, where every backend's logits are drawn.
     */
    public Result generate(int[][] prompts, int[] minNewTokens, int[] maxNewTokens, Sampler sampler, long seed, int stopToken,
                           Recording recording, Listener listener) {
        if (minNewTokens.length != prompts.length) throw new IllegalArgumentException(prompts.length + " prompts but " + minNewTokens.length + " minimum lengths");
        if (maxNewTokens.length != prompts.length) throw new IllegalArgumentException(prompts.length + " prompts but " + maxNewTokens.length + " lengths");
        for (int s = 0; s < prompts.length; s++) {
            if (minNewTokens[s] < 0 || minNewTokens[s] > maxNewTokens[s]) {
                throw new IllegalArgumentException("sequence " + s + ": min new tokens must be in [0, max new tokens = " + maxNewTokens[s] + "], got "
                        + minNewTokens[s]);
            }
        }
        return run(prompts, minNewTokens, maxNewTokens, null, sampler, seed, stopToken, recording, listener);
    }

    /**
     * Feeds {@code completions[s]} after {@code prompts[s]} through the same cached passes as
     * generation (teacher forcing): the log-probabilities and attention rows are those that
     * generating exactly these tokens would have recorded.
     */
    public Result teacherForce(int[][] prompts, int[][] completions, Recording recording) {
        if (completions.length != prompts.length) throw new IllegalArgumentException(prompts.length + " prompts but " + completions.length + " completions");
        int[] lengths = new int[prompts.length];
        for (int s = 0; s < prompts.length; s++) {
            lengths[s] = completions[s].length;
            for (int t : completions[s]) {
                if (t < 0 || t >= model.vocabSize()) throw new IllegalArgumentException("completion " + s + ": token id " + t + " is outside the vocabulary [0, " + model.vocabSize() + ")");
            }
        }
        return run(prompts, new int[prompts.length], lengths, completions, null, 0, -1, recording, null);
    }

    /** Generation, or teacher forcing when {@code forced} is not null (then the sampler is unused). */
    private Result run(int[][] prompts, int[] minNewTokens, int[] maxNewTokens, int[][] forced, Sampler sampler, long seed, int stopToken,
                       Recording recording, Listener listener) {
        int S = prompts.length;
        int capacity = 0;
        for (int s = 0; s < S; s++) {
            if (prompts[s].length == 0) throw new IllegalArgumentException("prompt " + s + " is empty: generation needs at least one token to start from");
            if (maxNewTokens[s] < 0) throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens[s]);
            int total = prompts[s].length + maxNewTokens[s];
            if (total > model.maxSequenceLength()) {
                throw new IllegalArgumentException("prompt " + s + " (" + prompts[s].length + " tokens) plus " + maxNewTokens[s]
                        + " new tokens exceeds the model's maximum sequence length " + model.maxSequenceLength());
            }
            capacity = Math.max(capacity, total);
        }
        capacity = Math.max(capacity, 1);
        SplittableRandom random = new SplittableRandom(seed);
        int[][] out = new int[S][];
        float[][] logProbs = new float[S][];
        float[][][] rows = recording == Recording.LAST_LAYER_ROWS ? new float[S][][] : null;
        int[] produced = new int[S];
        for (int s = 0; s < S; s++) {
            out[s] = new int[maxNewTokens[s]];
            logProbs[s] = new float[maxNewTokens[s]];
            if (rows != null) rows[s] = new float[maxNewTokens[s]][];
        }
        Tensor lastRows = rows == null ? null : model.backend().allocate((long) S * capacity);
        float[] hostRows = rows == null ? null : new float[S * capacity];
        try (KvCache cache = model.newCache(S, capacity)) {
            // Prefill: every prompt at once.
            Batch prompt = Batch.of(prompts);
            model.checkTokens(prompt.tokens(), prompt.seqLengths());
            int[] past = new int[S];
            int[] active = new int[S];
            for (int s = 0; s < S; s++) active[s] = s;
            int activeCount = S;
            int[] tokens = prompt.tokens();
            int[] count = prompt.seqLengths().clone();
            int[] positions = prompt.positions();
            while (true) {
                Tensor logits = model.decode(tokens, positions, count, activeCount, cache, past, lastRows);
                if (hostRows != null) model.backend().read(lastRows, 0, hostRows);
                // Draw for each active sequence, in sequence order.
                int next = 0;
                int[] nextActive = new int[activeCount];
                for (int r = 0; r < activeCount; r++) {
                    int s = active[r];
                    if (produced[s] >= maxNewTokens[s]) { // asked for no new tokens: prefill only
                        past[s] += count[s];
                        continue;
                    }
                    float[] row = new float[model.vocabSize()];
                    model.backend().read(logits, (long) r * model.vocabSize(), row);
                    int token;
                    double lp;
                    if (forced != null) {
                        token = forced[s][produced[s]];
                        lp = Sampler.logProbability(row, token);
                    } else {
                        Sampler.Draw draw = sampler.draw(row, produced[s] < minNewTokens[s] ? stopToken : -1, random);
                        token = draw.token();
                        lp = draw.logProbability();
                    }
                    if (rows != null) {
                        int from = s * capacity;
                        rows[s][produced[s]] = Arrays.copyOfRange(hostRows, from, from + past[s] + count[s]);
                    }
                    out[s][produced[s]] = token;
                    logProbs[s][produced[s]] = (float) lp;
                    produced[s]++;
                    if (listener != null) listener.onToken(s, token, lp);
                    past[s] += count[s];
                    if (produced[s] < maxNewTokens[s] && token != stopToken) nextActive[next++] = s;
                }
                // Sequences with nothing to draw (max 0) never entered; drop finished ones.
                Arrays.fill(count, 0);
                if (next == 0) break;
                active = Arrays.copyOf(nextActive, next);
                activeCount = next;
                tokens = new int[next];
                positions = new int[next];
                for (int r = 0; r < next; r++) {
                    int s = active[r];
                    tokens[r] = out[s][produced[s] - 1];
                    positions[r] = past[s];
                    count[s] = 1;
                }
            }
        } finally {
            if (lastRows != null) model.backend().free(lastRows);
        }
        for (int s = 0; s < S; s++) {
            out[s] = Arrays.copyOf(out[s], produced[s]);
            logProbs[s] = Arrays.copyOf(logProbs[s], produced[s]);
            if (rows != null) rows[s] = Arrays.copyOf(rows[s], produced[s]);
        }
        return new Result(out, logProbs, rows);
    }
}
