package org.densify.core;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
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
        return switch (device) {
            case "cpu" -> Boolean.parseBoolean(System.getProperty("densify.simd", "true")) ? new VectorBackend() : new ScalarBackend();
            case "scalar" -> new ScalarBackend();
            case "auto" -> {
                for (BackendProvider p : providers()) {
                    if (p.unavailableReason() == null) yield p.create();
                }
                yield create("cpu");
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
