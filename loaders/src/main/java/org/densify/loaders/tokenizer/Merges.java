package org.densify.loaders.tokenizer;

import java.util.Arrays;

/**
 * The BPE merge step on id arrays, with the reference encoder's exact rules. Each round finds the
 * lowest-ranked adjacent pair, then merges every occurrence of it left to right (non-overlapping),
 * and repeats until no pair has a rank.
 *
 * <p>Two details of the JavaScript reference are kept. It looks ranks up by the string
 * {@code left + "," + right}, so a pair whose comma-joined spelling equals a merge's (for GPT-2,
 * 11 pairs such as {@code ("\",", "\"")} and merge {@code ("\"", ",\"")}) has that merge's rank;
 * such aliases are entered in the table when it is built. And when several distinct pairs share the
 * lowest rank, it merges the last one in the word. Neither changed any output in an exhaustive
 * check of short punctuation strings, but they cost nothing.
 *
 * <p>Short pieces use the direct quadratic loop; long ones (a CJK sentence without spaces, a long
 * blob) a heap over pair positions, which does the same rounds in {@code O(n log n)}.
 */
final class Merges {
    /** Pieces with more symbols than this use the heap. */
    static final int SHORT = 48;
    private static final long NONE = -1;

    /** {@code pair(left, right) -> rank << 32 | merged id}. */
    private final LongLongMap table;

    Merges(LongLongMap table) {
        this.table = table;
    }

    static long entry(int rank, int merged) {
        return (long) rank << 32 | merged;
    }

    private long lookup(int left, int right) {
        return table.get(LongLongMap.pair(left, right), NONE);
    }

    /** Merges {@code sym[0, n)} in place and returns the new length. */
    int merge(int[] sym, int n) {
        return n <= SHORT ? mergeShort(sym, n) : mergeLong(sym, n);
    }

    int mergeShort(int[] sym, int n) {
        while (n > 1) {
            long best = Long.MAX_VALUE;
            int at = -1;
            for (int i = 0; i < n - 1; i++) {
                long e = lookup(sym[i], sym[i + 1]);
                // <= : among equal ranks the last pair wins, as in the reference.
                if (e != NONE && (e >>> 32) <= (best >>> 32)) {
                    best = e;
                    at = i;
                }
            }
            if (at < 0) break;
            n = replacePair(sym, n, sym[at], sym[at + 1], (int) best);
        }
        return n;
    }

    /**
     * Replaces every occurrence of the pair {@code (a, b)} in {@code sym[0, n)} by {@code merged},
     * left to right without overlap, in place; returns the new length. The one merge step shared by
     * the encoder and {@link BpeTrainer}, so training and encoding apply a merge identically.
     */
    static int replacePair(int[] sym, int n, int a, int b, int merged) {
        int w = 0;
        for (int i = 0; i < n; ) {
            if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
                sym[w++] = merged;
                i += 2;
            } else {
                sym[w++] = sym[i++];
            }
        }
        return w;
    }

    int mergeLong(int[] sym, int n) {
        // Symbols form a linked list over their original positions, so position order is word order.
        int[] next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) push(heap, sym, next, i);
        int[] round = new int[16];
        while (!heap.isEmpty()) {
            long rank = heap.peek() >>> 32;
            int m = 0;
            while (!heap.isEmpty() && heap.peek() >>> 32 == rank) {
                int i = (int) heap.poll();
                if (next[i] >= 0 && sym[i] >= 0 && lookup(sym[i], sym[next[i]]) >>> 32 == rank) {
                    if (m == round.length) round = Arrays.copyOf(round, m * 2);
                    round[m++] = i;
                }
            }
            if (m == 0) continue; // every entry was stale
            Arrays.sort(round, 0, m);
            int last = round[m - 1];
            int a = sym[last], b = sym[next[last]], merged = (int) lookup(a, b);
            for (int r = 0; r < m; r++) {
                int i = round[r];
                if (r > 0 && i == round[r - 1]) continue;
                int j = next[i];
                if (sym[i] < 0 || j < 0) continue; // consumed by a merge earlier in this round
                if (sym[i] == a && sym[j] == b) {
                    sym[i] = merged;
                    sym[j] = -1;
                    next[i] = next[j];
                    if (next[j] >= 0) prev[next[j]] = i;
                    if (prev[i] >= 0) push(heap, sym, next, prev[i]);
                    push(heap, sym, next, i);
                } else {
                    heap.add(rank << 32 | i); // another pair of the same rank: a later round
                }
            }
        }
        int w = 0;
        for (int i = 0; i >= 0; i = next[i]) sym[w++] = sym[i];
        return w;
    }

    private void push(LongHeap heap, int[] sym, int[] next, int i) {
        if (next[i] < 0) return;
        long e = lookup(sym[i], sym[next[i]]);
        if (e != NONE) heap.add((e >>> 32) << 32 | i);
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) {
            a = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        long peek() {
            return a[0];
        }

        void add(long x) {
            if (size == a.length) a = Arrays.copyOf(a, size * 2);
            int i = size++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= x) break;
                a[i] = a[p];
                i = p;
            }
            a[i] = x;
        }

        long poll() {
            long top = a[0], x = a[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) break;
                if (c + 1 < size && a[c + 1] < a[c]) c++;
                if (a[c] >= x) break;
                a[i] = a[c];
                i = c;
            }
            a[i] = x;
            return top;
        }
    }
}
