package org.densify.core.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each parameter lives in the one parameter block (and, at the same offsets, in the gradient
 * and optimiser blocks). Names are canonical Hugging Face names without the body prefix
 * ({@code transformer.} for GPT-2, {@code model.} for the Llama family); the order is Hugging Face's
 * state-dict order, then the heads. GPT-2's table:
 *
 * <pre>
 * wte.weight            [V, C]         token embedding, also the tied LM head
 * wpe.weight            [maxT, C]      position embedding
 * h.{l}.ln_1.weight     [C]            h.{l}.ln_1.bias [C]
 * h.{l}.attn.c_attn.weight [C, 3C]     h.{l}.attn.c_attn.bias [3C]      (Conv1D: [in, out])
 * h.{l}.attn.c_proj.weight [C, C]      h.{l}.attn.c_proj.bias [C]
 * h.{l}.ln_2.weight     [C]            h.{l}.ln_2.bias [C]
 * h.{l}.mlp.c_fc.weight [C, F]         h.{l}.mlp.c_fc.bias [F]           (F = n_inner, 4C by default)
 * h.{l}.mlp.c_proj.weight [F, C]       h.{l}.mlp.c_proj.bias [C]
 * ln_f.weight [C]  ln_f.bias [C]
 * lm_head.weight        [V, C]         only when tie_word_embeddings is false
 * score.weight          [labels, C]    classifier head, when present
 * v_head.summary.weight [1, C]  v_head.summary.bias [1]   value head, when present
 * </pre>
 */
public final class ParameterLayout {

    /** One named parameter: {@code [offset, offset + length)} of the block. */
    public record Entry(String name, long[] shape, long offset, long length) {
        /** Matrices and embeddings; AdamW decays these and not the vectors. */
        public boolean isMatrix() {
            return shape.length >= 2;
        }
    }

    private final Map<String, Entry> entries;
    private final long size;

    /** A layout of the named shapes in the given order (any family). */
    public ParameterLayout(Map<String, long[]> shapes) {
        Map<String, Entry> m = new LinkedHashMap<>();
        long offset = 0;
        for (var e : shapes.entrySet()) {
            long n = 1;
            for (long d : e.getValue()) n = Math.multiplyExact(n, d);
            m.put(e.getKey(), new Entry(e.getKey(), e.getValue(), offset, n));
            // Keep every tensor 16-float (64-byte) aligned so vector loads start on a cache line.
            offset = Math.addExact(offset, TensorArena.align(n));
        }
        this.entries = Collections.unmodifiableMap(m);
        this.size = offset;
    }

    /** Total floats in the block, padding included. */
    public long size() {
        return size;
    }

    public boolean has(String name) {
        return entries.containsKey(name);
    }

    public Entry get(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException("no parameter named '" + name + "' in this model (have: "
                + String.join(", ", entries.keySet().stream().limit(6).toList()) + ", ...)");
        return e;
    }

    public List<Entry> entries() {
        return new ArrayList<>(entries.values());
    }

    /** Floats that are parameters (without the alignment padding). */
    public long parameterCount() {
        return entries.values().stream().mapToLong(Entry::length).sum();
    }
}
