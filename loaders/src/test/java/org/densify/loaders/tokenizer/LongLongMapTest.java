package org.densify.loaders.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class LongLongMapTest {
    @Test
    void behavesAsAMapThroughGrowth() {
        LongLongMap map = new LongLongMap(4);
        Map<Long, Long> oracle = new HashMap<>();
        SplittableRandom rnd = new SplittableRandom(9);
        for (int i = 0; i < 200_000; i++) {
            long key = LongLongMap.pair(rnd.nextInt(2000), rnd.nextInt(2000));
            long delta = rnd.nextInt(-5, 6);
            assertEquals(oracle.merge(key, delta, Long::sum), map.add(key, delta));
        }
        for (Map.Entry<Long, Long> e : oracle.entrySet()) assertEquals(e.getValue(), map.get(e.getKey(), -7));
        assertEquals(-7, map.get(LongLongMap.pair(5000, 1), -7));
        long[] seen = new long[1];
        map.forEach((k, v) -> {
            assertEquals(oracle.get(k), v);
            seen[0]++;
        });
        assertEquals(oracle.size(), seen[0]);
    }

    /**
     * Home slots must use the whole table. The old hash kept 24 bits of the product, so a table of
     * 2^26 slots only ever started probing in its first quarter and long runs formed there.
     */
    @Test
    void homeSlotsSpreadOverTablesBeyondTwoToThe24() {
        for (int log2 : new int[]{10, 24, 26, 30}) {
            int capacity = 1 << log2, shift = LongLongMap.shiftFor(capacity);
            assertEquals(64 - log2, shift);
            int[] eighths = new int[8];
            int keys = 0;
            // Merge-table keys: pairs of small ids, the keys the tokenizer and trainer use.
            for (int left = 0; left < 1024; left++) {
                for (int right = 0; right < 512; right++) {
                    int slot = LongLongMap.home(LongLongMap.pair(left, right), shift);
                    assertTrue(slot >= 0 && slot < capacity, "slot " + slot + " of " + capacity);
                    eighths[slot >>> (log2 - 3)]++;
                    keys++;
                }
            }
            for (int part = 0; part < 8; part++) {
                double share = eighths[part] / (double) keys;
                assertEquals(0.125, share, 0.01, "capacity 2^" + log2 + ": share of eighth " + part);
            }
        }
    }

    @Test
    void fewCollisionsInALargeTable() {
        // 2^20 keys in 2^26 slots: random homes collide about n^2 / 2m = 8192 times.
        int shift = LongLongMap.shiftFor(1 << 26);
        java.util.BitSet used = new java.util.BitSet(1 << 26);
        int collisions = 0;
        for (int left = 0; left < 1 << 10; left++) {
            for (int right = 0; right < 1 << 10; right++) {
                int slot = LongLongMap.home(LongLongMap.pair(left, right), shift);
                if (used.get(slot)) collisions++;
                used.set(slot);
            }
        }
        assertTrue(collisions < 16_384, collisions + " collisions");
    }
}
