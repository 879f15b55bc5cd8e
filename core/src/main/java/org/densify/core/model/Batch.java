package org.densify.core.model;

import java.util.Arrays;

/**
 * A ragged batch: sequences of different lengths laid end to end, no padding. Positions restart at
 * 0 for every sequence.
 *
 * @param tokens     [N] every token id, sequence after sequence
 * @param seqLengths [S] the length of each sequence, each at least 1
 */
public record Batch(int[] tokens, int[] seqLengths) {

    public Batch {
        long n = 0;
        for (int len : seqLengths) {
            if (len < 1) throw new IllegalArgumentException("every sequence needs at least one token, got length " + len);
            n += len;
        }
        if (n != tokens.length) {
            throw new IllegalArgumentException("sequence lengths add up to " + n + " but there are " + tokens.length + " tokens");
        }
    }

    /** A batch of the given sequences. */
    public static Batch of(int[]... sequences) {
        int[] lengths = new int[sequences.length];
        int n = 0;
        for (int s = 0; s < sequences.length; s++) {
            lengths[s] = sequences[s].length;
            n += lengths[s];
        }
        int[] tokens = new int[n];
        int at = 0;
        for (int[] seq : sequences) {
            System.arraycopy(seq, 0, tokens, at, seq.length);
            at += seq.length;
        }
        return new Batch(tokens, lengths);
    }

    /** Number of sequences. */
    public int size() {
        return seqLengths.length;
    }

    /** Total number of tokens N. */
    public int tokenCount() {
        return tokens.length;
    }

    public int maxLength() {
        return Arrays.stream(seqLengths).max().orElse(0);
    }

    /** The index of sequence s's first token. */
    public int start(int s) {
        int at = 0;
        for (int r = 0; r < s; r++) at += seqLengths[r];
        return at;
    }

    /** The index of each sequence's last token, [S]. */
    public int[] lastIndices() {
        int[] last = new int[seqLengths.length];
        int at = 0;
        for (int s = 0; s < seqLengths.length; s++) {
            at += seqLengths[s];
            last[s] = at - 1;
        }
        return last;
    }

    /** The position of every token within its sequence, [N]. */
    public int[] positions() {
        int[] pos = new int[tokens.length];
        int at = 0;
        for (int len : seqLengths) {
            for (int t = 0; t < len; t++) pos[at++] = t;
        }
        return pos;
    }

    /** The next token of each position within its sequence, or -1 at each sequence's last position, [N]. */
    public int[] nextTokenTargets() {
        int[] targets = new int[tokens.length];
        int at = 0;
        for (int len : seqLengths) {
            for (int t = 0; t < len; t++, at++) targets[at] = t + 1 < len ? tokens[at + 1] : -1;
        }
        return targets;
    }

    /** Total attention-map floats per layer for {@code heads} heads: heads * sum(T_s^2). */
    public long attentionSize(int heads) {
        long n = 0;
        for (int len : seqLengths) n += (long) len * len;
        return n * heads;
    }

    /** The sequence s as an array. */
    public int[] sequence(int s) {
        int from = start(s);
        return Arrays.copyOfRange(tokens, from, from + seqLengths[s]);
    }
}
