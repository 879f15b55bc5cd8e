package org.densify.core.model;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * Keys and values of every layer for S sequences of up to {@code capacity} positions, in one block:
 * [L, 2, S, capacity, width] (layer, keys then values, sequence, position, channel); width is C for
 * GPT-2 and {@code KV * head_dim} for grouped-query attention. Made by {@link LanguageModel#newCache}.
 */
public final class KvCache implements AutoCloseable {
    private final Backend backend;
    private final Tensor block;
    private final int capacity, width;
    private final long perTensor;

    public KvCache(Backend backend, int layers, int sequences, int capacity, int width) {
        this.backend = backend;
        this.capacity = capacity;
        this.width = width;
        this.perTensor = (long) sequences * capacity * width;
        this.block = backend.allocate(2L * layers * perTensor);
    }

    public int capacity() {
        return capacity;
    }

    /** Floats per cached position of one layer's keys (or values). */
    public int width() {
        return width;
    }

    public Tensor keys(int layer) {
        return block.slice(2L * layer * perTensor, perTensor);
    }

    public Tensor values(int layer) {
        return block.slice((2L * layer + 1) * perTensor, perTensor);
    }

    /** Copies k and v of the new rows of a GPT-2 qkv [N, 3C] to positions {@code past[s] + i} of sequence s. */
    public void storeFromQkv(int layer, Tensor qkv, int[] past, int[] count) {
        backend.storeKeysValues(keys(layer), values(layer), qkv, past, count, capacity, width);
    }

    @Override
    public void close() {
        backend.free(block);
    }
}
