package org.densify.loaders.tokenizer;

import java.util.Arrays;

/**
 * Open-addressing map from non-negative longs (a pair of ids, {@code left << 32 | right}) to longs,
 * without boxing: the BPE rank table and the trainer's pair counts.
 */
final class LongLongMap {
    private static final long EMPTY = -1;

    private long[] keys;
    private long[] values;
    private int size;

    LongLongMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(4, expected) * 2 - 1) << 1;
        keys = new long[cap];
        values = new long[cap];
        Arrays.fill(keys, EMPTY);
    }

    static long pair(int left, int right) {
        return (long) left << 32 | right & 0xFFFFFFFFL;
    }

    int size() {
        return size;
    }

    private int slot(long key) {
        int mask = keys.length - 1;
        int i = (int) ((key * 0x9E3779B97F4A7C15L) >>> 40) & mask;
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
