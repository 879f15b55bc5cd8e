package org.densify.rlhf.cli;

import org.densify.core.Backend;
import org.densify.core.Backends;
import picocli.CommandLine.Option;

/** The {@code --device} option shared by the commands that run the engine (a picocli mixin). */
final class DeviceOption {

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "NAME",
            description = "Where to run: cpu (Vector API), scalar (plain-loop reference), cuda, or auto (a GPU when one can run, else cpu) (default: ${DEFAULT-VALUE}).")
    String device;

    /** The backend named by {@code --device}; an unknown name is a usage error, a known one that cannot run here a failure. */
    Backend create() {
        try {
            return Backends.create(device);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("--device: " + e.getMessage());
        }
    }
}
