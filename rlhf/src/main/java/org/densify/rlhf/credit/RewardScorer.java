package org.densify.rlhf.credit;

import java.util.Arrays;
import java.util.Set;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Outputs;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Encoding;

/**
 * The reward pass: one forward of the reward model over a batch of prompt + completion pairs, giving
 * each pair's scalar reward and, on request, what the credit methods read (the last attention row,
 * the classifier at every completion position).
 *
 * <p>Pairs arrive as the policy's token ids. When the reward model's tokenizer is the policy's, the
 * ids are fed as they are. Otherwise the reward model re-reads the decoded text with its own
 * tokenizer, and each of its tokens is assigned to the policy token in which its first character
 * lies (a reward-model token that starts in the prompt counts as prompt, even if it runs into the
 * completion).
 *
 * <p>Where the reward model reads, as the authors' scripts have it (docs/design.md section 1.6): they set
 * the reward model's {@code pad_token_id} to end-of-text, decode the completion with its end-of-text
 * and re-tokenise prompt + completion, so the reward model is given the end-of-text that ends a
 * completion (generation stops on it and keeps it, as TRL keeps the EOS). Hugging Face's
 * GPT2ForSequenceClassification reads its score at the token before the first padding token, here
 * the token before the first end-of-text (the last token when there is none), while ABC's attention
 * row is the last row of the sequence given to the model, the end-of-text's own row when the
 * completion ends with one, over every completion column including the end-of-text. The score
 * therefore never comes from the end-of-text position, which the classifier never saw in training.
 */
public final class RewardScorer implements RewardSource {
    private final RewardModel rm;
    private final Tokenizer policyTokenizer;
    private final boolean sameTokenizer;

    public RewardScorer(RewardModel rm, Tokenizer policyTokenizer) {
        this(rm, policyTokenizer, !sameVocabulary(rm.tokenizer(), policyTokenizer));
    }

    /** {@code retokenize} forces the text path even for a shared tokenizer (tests compare the two paths). */
    RewardScorer(RewardModel rm, Tokenizer policyTokenizer, boolean retokenize) {
        this.rm = rm;
        this.policyTokenizer = policyTokenizer;
        this.sameTokenizer = !retokenize;
    }

    /** Whether the reward model reads the policy's ids directly (same vocabulary) or re-tokenises the text. */
    public boolean sharesTokenizer() {
        return sameTokenizer;
    }

    public RewardModel rewardModel() {
        return rm;
    }

    /**
     * Scores each pair in one pass.
     *
     * @param wanted what the credit method reads: this pass captures the last attention row for {@link
     *               CreditInput#REWARD_ATTENTION} and applies the classifier at every completion position for
     *               {@link CreditInput#PREFIX_REWARDS}, and ignores the policy's inputs
     */
    @Override
    public ScoredCompletion[] score(int[][] prompts, int[][] completions, Set<CreditInput> wanted) {
        boolean attention = wanted.contains(CreditInput.REWARD_ATTENTION);
        boolean prefixes = wanted.contains(CreditInput.PREFIX_REWARDS);
        int S = prompts.length;
        if (completions.length != S) throw new IllegalArgumentException(S + " prompts but " + completions.length + " completions");
        LanguageModel model = rm.model();
        int[][] inputs = new int[S][];
        int[][] owner = new int[S][]; // per reward-model position: the completion token it belongs to, or -1 (prompt)
        for (int s = 0; s < S; s++) {
            if (completions[s].length == 0) throw new IllegalArgumentException("completion " + s + " is empty: there is no token to credit");
            Aligned a = align(prompts[s], completions[s]);
            inputs[s] = a.ids;
            owner[s] = a.owner;
            if (a.ids.length > model.maxSequenceLength()) {
                throw new IllegalArgumentException("prompt + completion " + s + " is " + a.ids.length + " reward-model tokens, over its n_positions "
                        + model.maxSequenceLength());
            }
        }
        ForwardOptions options = ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)
                .withCapture(attention ? ForwardOptions.Capture.LAST_ROW : ForwardOptions.Capture.NONE);
        Batch batch = Batch.of(inputs);
        Outputs out = model.forward(batch, options);
        int[] readAt = new int[S];
        for (int s = 0; s < S; s++) readAt[s] = classifierPosition(inputs[s], inputs[s].length - 1);
        float[][] scores = out.scoresAt(readAt);
        float[][] rows = attention ? out.lastRowAttention() : null;
        float[][] every = prefixes ? out.scoresAtEveryToken() : null;

        ScoredCompletion[] result = new ScoredCompletion[S];
        for (int s = 0; s < S; s++) {
            int N = completions[s].length;
            float[] perToken = null;
            if (rows != null) {
                perToken = new float[N];
                for (int i = 0; i < owner[s].length; i++) if (owner[s][i] >= 0) perToken[owner[s][i]] += rows[s][i];
            }
            float[] prefixRewards = null;
            float promptReward = Float.NaN;
            if (every != null) {
                prefixRewards = new float[N];
                int start = batch.start(s);
                int lastPrompt = -1;
                for (int i = 0; i < owner[s].length && owner[s][i] < 0; i++) lastPrompt = i;
                promptReward = lastPrompt < 0 ? 0f : RewardModel.scalar(every[start + classifierPosition(inputs[s], lastPrompt)]);
                // the prefix through completion token t ends at the last reward-model token owned by a token <= t,
                // and is read where the classifier reads that prefix (before its first end-of-text)
                float current = promptReward;
                int i = lastPrompt + 1;
                for (int t = 0; t < N; t++) {
                    while (i < owner[s].length && owner[s][i] <= t) current = RewardModel.scalar(every[start + classifierPosition(inputs[s], i++)]);
                    prefixRewards[t] = current;
                }
            }
            result[s] = new ScoredCompletion(N, RewardModel.scalar(scores[s]), perToken, null, null, prefixRewards, promptReward);
        }
        return result;
    }

    /**
     * Where Hugging Face's classifier reads the prefix {@code ids[0 .. end]} with {@code pad_token_id}
     * = end-of-text: the token before the first end-of-text, or {@code end} when the prefix has none
     * (or starts with one: {@code -1} wraps round to the last token, as their index arithmetic does).
     */
    private int classifierPosition(int[] ids, int end) {
        int eot = rm.tokenizer().eotId();
        for (int i = 0; i <= end; i++) if (ids[i] == eot) return i == 0 ? end : i - 1;
        return end;
    }

    private record Aligned(int[] ids, int[] owner) {}

    private Aligned align(int[] prompt, int[] completion) {
        int P = prompt.length, N = completion.length;
        if (sameTokenizer) {
            int[] ids = Arrays.copyOf(prompt, P + N);
            System.arraycopy(completion, 0, ids, P, N);
            int[] owner = new int[P + N];
            for (int i = 0; i < P + N; i++) owner[i] = i - P < 0 ? -1 : i - P;
            return new Aligned(ids, owner);
        }
        // Character offsets of each policy token's end, from the decoded prefixes.
        int[] all = Arrays.copyOf(prompt, P + N);
        System.arraycopy(completion, 0, all, P, N);
        String text = policyTokenizer.decode(all);
        int[] ends = new int[N];
        int promptEnd = Math.min(text.length(), charLength(prompt));
        for (int t = 0; t < N; t++) {
            ends[t] = Math.min(text.length(), charLength(Arrays.copyOf(all, P + t + 1)));
            ends[t] = Math.max(ends[t], t == 0 ? promptEnd : ends[t - 1]);
        }
        // The policy's end-of-text decodes to its literal text, which the reward model's tokenizer reads
        // back as its end-of-text token (Hugging Face's tokenizers split special tokens out first).
        Encoding enc = rm.tokenizer().encodeWithOffsets(text, true);
        int[] owner = new int[enc.size()];
        int t = 0;
        for (int i = 0; i < enc.size(); i++) {
            int start = enc.starts()[i];
            if (start < promptEnd) {
                owner[i] = -1;
                continue;
            }
            while (t < N - 1 && start >= ends[t]) t++;
            owner[i] = t;
        }
        return new Aligned(enc.ids(), owner);
    }

    private int charLength(int[] ids) {
        return policyTokenizer.decode(ids).length();
    }

    /** Same vocabulary, token for token, and the same encoding of a probe text (so the merges agree too). */
    static boolean sameVocabulary(Tokenizer a, Tokenizer b) {
        if (a == b) return true;
        if (a.vocabSize() != b.vocabSize()) return false;
        for (int i = 0; i < a.vocabSize(); i++) if (!Arrays.equals(a.tokenBytes(i), b.tokenBytes(i))) return false;
        String probe = "This movie was not what I expected: the acting, the plot and the music were unforgettable!";
        return Arrays.equals(a.encode(probe), b.encode(probe));
    }
}
