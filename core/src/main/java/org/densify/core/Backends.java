package org.densify.core;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.function.Supplier;
import org.densify.core.cpu.CpuThreads;
import org.densify.core.cpu.ScalarBackend;
import org.densify.core.cpu.VectorBackend;

/**
 * Picks a backend by device name: {@code cpu} (the Vector API backend; the scalar reference when
 * the system property {@code densify.simd} is {@code false}), {@code scalar}, {@code cuda} or any
 * other provider on the class path, and {@code auto} (the first provider that can run here, else
 * {@code cpu}).
 */
public final class Backends {
    private Backends() {
    }

    public static Backend create(String device) {
        return create(device, VectorBackend::new);
    }

    /**
     * As {@link #create(String)}, but the Vector API backend gets a worker pool of its own with
     * {@code cpuThreads} workers instead of the shared one: for runs side by side in one JVM (an
     * experiment's parallel cells). Other devices are created as by {@link #create(String)}.
     */
    public static Backend create(String device, int cpuThreads) {
        return create(device, () -> new VectorBackend(new CpuThreads(cpuThreads)));
    }

    private static Backend create(String device, Supplier<Backend> vector) {
        return switch (device) {
            case "cpu" -> Boolean.parseBoolean(System.getProperty("densify.simd", "true")) ? vector.get() : new ScalarBackend();
            case "scalar" -> new ScalarBackend();
            case "auto" -> {
                for (BackendProvider p : providers()) {
                    if (p.unavailableReason() == null) yield p.create();
                }
                yield create("cpu", vector);
            }
            default -> {
                List<String> known = new ArrayList<>(List.of("auto", "cpu", "scalar"));
                for (BackendProvider p : providers()) {
                    if (p.name().equals(device)) {
                        String why = p.unavailableReason();
                        if (why != null) throw new IllegalStateException("device '" + device + "' cannot run here: " + why);
                        yield p.create();
                    }
                    known.add(p.name());
                }
                throw new IllegalArgumentException("unknown device '" + device + "'; expected one of " + String.join(", ", known)
                        + (device.equals("cuda") ? " (the CUDA backend is not on the class path)" : ""));
            }
        };
    }

    /** Why {@code device} cannot run here (not on the class path, no driver, no GPU ...), or null when it can. */
    public static String unavailableReason(String device) {
        if (device.equals("cpu") || device.equals("scalar") || device.equals("auto")) return null;
        for (BackendProvider p : providers()) if (p.name().equals(device)) return p.unavailableReason();
        return "no backend called '" + device + "' is on the class path";
    }

    private static List<BackendProvider> providers() {
        List<BackendProvider> list = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class).forEach(list::add);
        return list;
    }
}
