package org.densify.core.model;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * Keys and values of every layer for S sequences of up to {@code capacity} positions, in one block:
 * [L, 2, S, capacity, C] (layer, keys then values, sequence, position, channel).
 */
final class KvCache implements AutoCloseable {
    private final Backend backend;
    private final Tensor block;
    private final int S, capacity, C;
    private final long perTensor;

    KvCache(Gpt2Model model, int sequences, int capacity) {
        this.backend = model.backend;
        this.S = sequences;
        this.capacity = capacity;
        this.C = model.C;
        this.perTensor = (long) sequences * capacity * C;
        this.block = backend.allocate(2L * model.L * perTensor);
    }

    int capacity() {
        return capacity;
    }

    Tensor keys(int layer) {
        return block.slice(2L * layer * perTensor, perTensor);
    }

    Tensor values(int layer) {
        return block.slice((2L * layer + 1) * perTensor, perTensor);
    }

    /** Copies k and v of the new rows of qkv [N, 3C] to positions {@code past[s] + i} of sequence s. */
    void store(int layer, Tensor qkv, int[] past, int[] count) {
        backend.storeKeysValues(keys(layer), values(layer), qkv, past, count, capacity, C);
    }

    @Override
    public void close() {
        backend.free(block);
    }
}
