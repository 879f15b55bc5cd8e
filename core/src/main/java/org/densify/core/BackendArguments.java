package org.densify.core;

/**
 * The argument checks every backend makes before an op, with one wording: the CPU backends so that a
 * bad id fails clearly instead of reading out of bounds, the GPU backend because there a bad index
 * is a silent write into someone else's memory or a fault that poisons the context.
 */
public final class BackendArguments {
    private BackendArguments() {
    }

    public static void heads(int NH, int C) {
        if (NH <= 0 || C % NH != 0) throw new IllegalArgumentException("C = " + C + " is not divisible by NH = " + NH);
    }

    /** H query heads share KV key/value heads evenly; head size hd at least 1 (even when rotated). */
    public static void groupedHeads(int H, int KV, int hd) {
        if (H <= 0 || KV <= 0 || H % KV != 0) {
            throw new IllegalArgumentException("H = " + H + " query heads cannot share KV = " + KV + " key/value heads evenly");
        }
        if (hd <= 0) throw new IllegalArgumentException("head size " + hd + " must be positive");
    }

    /** N = sum(seqLengths), after checking that no length is negative. */
    public static int totalLength(int[] seqLengths) {
        long n = 0;
        for (int T : seqLengths) {
            if (T < 0) throw new IllegalArgumentException("negative sequence length " + T);
            n += T;
        }
        return Math.toIntExact(n);
    }

    /** Token ids in [0, vocab) and positions in [0, maxPositions), one of each per row. */
    public static void ids(int[] tokens, int[] positions, long vocab, long maxPositions) {
        if (tokens.length != positions.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + positions.length + " positions");
        }
        for (int t = 0; t < tokens.length; t++) {
            if (tokens[t] < 0 || tokens[t] >= vocab) {
                throw new IllegalArgumentException("token id " + tokens[t] + " at row " + t + " is outside [0, " + vocab + ")");
            }
            if (positions[t] < 0 || positions[t] >= maxPositions) {
                throw new IllegalArgumentException("position " + positions[t] + " at row " + t + " is outside [0, " + maxPositions + ")");
            }
        }
    }

    /** Targets below 0 mean "no target"; V and above is an error. */
    public static void targets(int[] targets, int N, int V) {
        if (targets.length < N) throw new IllegalArgumentException(targets.length + " targets for " + N + " rows");
        for (int i = 0; i < N; i++) {
            if (targets[i] >= V) throw new IllegalArgumentException("target " + targets[i] + " at row " + i + " is >= V = " + V);
        }
    }

    public static void cache(int[] past, int[] count, int cacheCapacity, int qStride, int C) {
        if (past.length != count.length) throw new IllegalArgumentException(past.length + " past lengths but " + count.length + " counts");
        if (qStride < C) throw new IllegalArgumentException("qStride " + qStride + " < C = " + C);
        for (int s = 0; s < past.length; s++) {
            if (past[s] < 0 || count[s] < 0 || (long) past[s] + count[s] > cacheCapacity) {
                throw new IllegalArgumentException("sequence " + s + ": past " + past[s] + " + count " + count[s]
                        + " does not fit a cache of " + cacheCapacity + " positions");
            }
        }
    }

    public static void nonNegative(long n, String what) {
        if (n < 0) throw new IllegalArgumentException("negative " + what + " " + n);
    }

    /** {@code t} holds at least {@code floats} floats. */
    public static void fits(Tensor t, long floats, String what) {
        if (t.length() < floats) {
            throw new IllegalArgumentException(what + " has " + t.length() + " floats, the operation needs " + floats);
        }
    }
}
