package org.densify.loaders.tokenizer;

import java.util.Arrays;

/**
 * Open-addressing map from non-negative longs (a pair of ids, {@code left << 32 | right}) to longs,
 * without boxing: the BPE rank table and the trainer's pair counts.
 */
final class LongLongMap {
    private static final long EMPTY = -1;
    /** 2^64 / φ, odd: Fibonacci hashing. */
    private static final long PHI = 0x9E3779B97F4A7C15L;

    private long[] keys;
    private long[] values;
    /** Entries; the table doubles when it is half full. */
    private int size;
    /** {@code 64 - log2(keys.length)}: the top bits of the hashed key pick the home slot. */
    private int shift;

    LongLongMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(4, expected) * 2 - 1) << 1;
        keys = new long[cap];
        values = new long[cap];
        shift = shiftFor(cap);
        Arrays.fill(keys, EMPTY);
    }

    /** The shift for a table of {@code capacity} slots, a power of two. */
    static int shiftFor(int capacity) {
        return 64 - Integer.numberOfTrailingZeros(capacity);
    }

    /**
     * The slot where {@code key} is looked for first: the top {@code 64 - shift} bits of
     * {@code key * φ}, so every slot of any capacity can be a home slot.
     */
    static int home(long key, int shift) {
        return (int) ((key * PHI) >>> shift);
    }

    static long pair(int left, int right) {
        return (long) left << 32 | right & 0xFFFFFFFFL;
    }

    private int slot(long key) {
        int mask = keys.length - 1;
        int i = home(key, shift);
        while (keys[i] != EMPTY && keys[i] != key) i = (i + 1) & mask;
        return i;
    }

    long get(long key, long absent) {
        int i = slot(key);
        return keys[i] == EMPTY ? absent : values[i];
    }

    void put(long key, long value) {
        int i = slot(key);
        if (keys[i] == EMPTY) {
            keys[i] = key;
            if (++size * 2 > keys.length) {
                values[i] = value;
                grow();
                return;
            }
        }
        values[i] = value;
    }

    /** Adds {@code delta} to the value (absent counts as 0) and returns the sum. */
    long add(long key, long delta) {
        long v = get(key, 0) + delta;
        put(key, v);
        return v;
    }

    private void grow() {
        long[] k = keys, v = values;
        keys = new long[k.length * 2];
        values = new long[k.length * 2];
        shift = shiftFor(keys.length);
        Arrays.fill(keys, EMPTY);
        for (int j = 0; j < k.length; j++) {
            if (k[j] != EMPTY) {
                int i = slot(k[j]);
                keys[i] = k[j];
                values[i] = v[j];
            }
        }
    }

    /** Calls {@code action} for every entry, in table order. */
    void forEach(Entry action) {
        for (int j = 0; j < keys.length; j++) {
            if (keys[j] != EMPTY) action.accept(keys[j], values[j]);
        }
    }

    @FunctionalInterface
    interface Entry {
        void accept(long key, long value);
    }
}
