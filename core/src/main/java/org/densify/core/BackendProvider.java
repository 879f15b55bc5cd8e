package org.densify.core;

/**
 * A backend found at run time (the CUDA backend lives in a module {@code core} does not depend on).
 * Registered through {@code META-INF/services/org.densify.core.BackendProvider}.
 */
public interface BackendProvider {

    /** The device name users type: "cuda". */
    String name();

    /** Null when the backend can run here, else one line saying why not (no driver, no kernels ...). */
    String unavailableReason();

    Backend create();
}
