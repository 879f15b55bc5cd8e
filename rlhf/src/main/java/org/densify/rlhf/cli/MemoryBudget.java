package org.densify.rlhf.cli;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.densify.core.Backend;
import org.densify.core.cpu.CpuMemory;
import org.densify.core.model.Heads;
import org.densify.core.model.ModelShape;

/**
 * Estimates, before anything is allocated, the memory a command will need, from sizes the config
 * and the options fix: parameters (and their gradients and AdamW moments when training), the
 * activations of one pass and the KV cache. The CPU backends keep tensors off the Java heap, in
 * memory the JVM caps at {@code -XX:MaxDirectMemorySize} (by default the maximum heap), so a
 * command that would pass that cap is refused with the sizes instead of failing with an
 * OutOfMemoryError half-way. The estimates are lower bounds: what they miss is small next to them.
 */
final class MemoryBudget {
    private final String what;
    private final Map<String, Long> parts = new LinkedHashMap<>();

    private MemoryBudget(String what) {
        this.what = what;
    }

    /** A budget for the named task ("generate", "pretrain", ...). */
    static MemoryBudget of(String what) {
        return new MemoryBudget(what);
    }

    /** Adds {@code bytes} under {@code name}; sizes past a long saturate. */
    MemoryBudget add(String name, double bytes) {
        parts.merge(name, bytes >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) Math.ceil(bytes), MemoryBudget::saturatingAdd);
        return this;
    }

    long total() {
        long sum = 0;
        for (long v : parts.values()) sum = saturatingAdd(sum, v);
        return sum;
    }

    /** Refuses when the total passes what the backend may allocate (CPU backends only: a GPU has its own memory). */
    void check(Backend backend) {
        if (backend instanceof CpuMemory) check(offHeapLimit());
    }

    void check(long limit) {
        long total = total();
        if (total <= limit) return;
        StringBuilder b = new StringBuilder(what).append(" needs about ").append(gib(total)).append(" (");
        String sep = "";
        for (var e : parts.entrySet()) {
            b.append(sep).append(e.getKey()).append(' ').append(gib(e.getValue()));
            sep = ", ";
        }
        b.append(") but the JVM may allocate ").append(gib(limit))
                .append(" off the heap (-XX:MaxDirectMemorySize, by default the maximum heap -Xmx): use smaller sizes, ")
                .append("or raise it with DENSIFY_JAVA_OPTS");
        throw new IllegalArgumentException(b.toString());
    }

    /** Whether a pass keeps every layer's activations for a backward pass. */
    enum Pass {
        INFERENCE,
        TRAINING
    }

    /** Bytes of parameters of a model of this config with these heads. */
    static double parameters(ModelShape config, Heads heads) {
        return 4.0 * config.parameterFloats(heads);
    }

    /** Bytes of the keys and values of every layer for {@code sequences} of {@code positions}. */
    static double kvCache(ModelShape config, long sequences, long positions) {
        return 4.0 * 2 * config.layers() * (double) sequences * positions * config.keyValueWidth();
    }

    /**
     * Bytes of one pass's activations over {@code rows} tokens of sequences of {@code length}: one
     * layer's worth for inference, every layer's (and their gradients) for training, and the logits.
     */
    static double activations(ModelShape config, double rows, long length, long logitRows, Pass pass) {
        boolean training = pass == Pass.TRAINING;
        double C = config.hiddenSize(), F = config.intermediateSize();
        double perLayer = rows * (11 * C + 2 * F) + config.heads() * rows * length;
        double layers = training ? config.layers() * perLayer + perLayer : perLayer;
        return 4.0 * (layers + (double) logitRows * config.vocabSize() * (training ? 2 : 1));
    }

    /** What the CPU backends may allocate: MaxDirectMemorySize when set, else the maximum heap (the JVM's default). */
    static long offHeapLimit() {
        try {
            var hotspot = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            long set = Long.parseLong(hotspot.getVMOption("MaxDirectMemorySize").getValue());
            if (set > 0) return set;
        } catch (RuntimeException | LinkageError e) {
            // not HotSpot: fall back on the default
        }
        return Runtime.getRuntime().maxMemory();
    }

    static String gib(double bytes) {
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (1L << 30));
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1L << 20));
    }

    private static long saturatingAdd(long a, long b) {
        long s = a + b;
        return ((a ^ s) & (b ^ s)) < 0 ? Long.MAX_VALUE : s;
    }
}
