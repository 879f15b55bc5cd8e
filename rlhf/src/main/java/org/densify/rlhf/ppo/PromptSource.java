package org.densify.rlhf.ppo;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.densify.loaders.data.Review;
import org.densify.loaders.tokenizer.Tokenizer;

/**
 * PPO prompts as the reference builds them for IMDb: the first few tokens of training reviews longer
 * than 200 characters. Each step draws its prompts (review and length) from its own seeded generator,
 * with replacement, so a step's prompts depend only on the seed and the step number (resumable).
 */
public final class PromptSource {
    /** Reviews at most this long are left out, as in the reference's dataset filter. */
    public static final int MIN_REVIEW_CHARS = 200;

    private final List<int[]> openings = new ArrayList<>();
    private final int minTokens, maxTokens;

    /** Tokenises the first {@code maxTokens} tokens of each usable review. */
    public PromptSource(List<Review> reviews, Tokenizer tokenizer, int minTokens, int maxTokens) {
        this.minTokens = minTokens;
        this.maxTokens = maxTokens;
        for (Review r : reviews) {
            if (r.text().length() <= MIN_REVIEW_CHARS) continue;
            // The opening 4 characters per token is plenty for maxTokens tokens of English text.
            String head = r.text().substring(0, Math.min(r.text().length(), 16 * maxTokens + 64));
            int[] ids = tokenizer.encode(head);
            if (ids.length >= maxTokens) openings.add(java.util.Arrays.copyOf(ids, maxTokens));
        }
        if (openings.isEmpty()) {
            throw new IllegalArgumentException("no review is longer than " + MIN_REVIEW_CHARS + " characters and " + maxTokens
                    + " tokens: there are no prompts to draw");
        }
    }

    public int size() {
        return openings.size();
    }

    /**
     * {@code count} prompts: a random review each, cut to a random length drawn from
     * {@code range(minTokens, maxTokens)} (upper end excluded, as TRL's LengthSampler draws).
     */
    public int[][] draw(int count, SplittableRandom random) {
        int[][] prompts = new int[count][];
        for (int i = 0; i < count; i++) {
            int[] opening = openings.get(random.nextInt(openings.size()));
            prompts[i] = java.util.Arrays.copyOf(opening, minTokens + random.nextInt(maxTokens - minTokens));
        }
        return prompts;
    }
}
