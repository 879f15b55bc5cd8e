package org.densify.rlhf.credit;

/**
 * One prompt and its sampled completion, as a {@link RewardFunction} sees it: the policy's token ids
 * and their text.
 *
 * @param index          its place in the batch
 * @param promptIds      the prompt's token ids
 * @param completionIds  the completion's token ids, with the end-of-text that ended it, if one did
 * @param promptText     the prompt decoded
 * @param completionText the completion decoded without special tokens (no end-of-text)
 */
public record Completion(int index, int[] promptIds, int[] completionIds, String promptText, String completionText) {
}
