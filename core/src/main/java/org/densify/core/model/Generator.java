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

    /**
     * @param tokens   the new tokens of each sequence (the prompt excluded)
     * @param logProbs each new token's log-probability under the model's own distribution
     *                 (log softmax of the raw logits: no temperature or truncation), as PPO needs it
     */
    public record Result(int[][] tokens, float[][] logProbs) {}

    private final LanguageModel model;

    public Generator(LanguageModel model) {
        this.model = model;
    }

    /**
     * Generates up to {@code maxNewTokens[s]} tokens after {@code prompts[s]}, stopping a sequence
     * early when it draws {@code stopToken} (kept in its output; -1 never stops).
     */
    public Result generate(int[][] prompts, int[] maxNewTokens, Sampler sampler, long seed, int stopToken, Listener listener) {
        int S = prompts.length;
        if (maxNewTokens.length != S) throw new IllegalArgumentException(S + " prompts but " + maxNewTokens.length + " lengths");
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
        SplittableRandom random = new SplittableRandom(seed);
        int[][] out = new int[S][];
        float[][] logProbs = new float[S][];
        int[] produced = new int[S];
        for (int s = 0; s < S; s++) {
            out[s] = new int[maxNewTokens[s]];
            logProbs[s] = new float[maxNewTokens[s]];
        }
                try (KvCache cache = model.newCache(S, Math.max(capacity, 1))) {
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
                Tensor logits = model.decode(tokens, positions, count, activeCount, cache, past);
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
                    Sampler.Draw draw = sampler.draw(row, random);
                    int token = draw.token();
                    double lp = draw.logProbability();
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
        }
        for (int s = 0; s < S; s++) {
            out[s] = Arrays.copyOf(out[s], produced[s]);
            logProbs[s] = Arrays.copyOf(logProbs[s], produced[s]);
        }
        return new Result(out, logProbs);
    }
}
