package org.densify.loaders.safetensors;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The one exception for a safetensors file (or sharded folder) that is malformed or does not hold
 * what was asked for. The message always starts with the file, then names the tensor where one is
 * involved, the problem and what was expected, so a user can act on the single line the CLI prints.
 */
public class SafetensorsException extends IOException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }

    /** {@code "<file>: <problem>"}. */
    static SafetensorsException of(Path file, String problem) {
        return new SafetensorsException(file + ": " + problem);
    }

    /** {@code "<file>: tensor '<name>': <problem>"}. */
    static SafetensorsException of(Path file, String tensor, String problem) {
        return new SafetensorsException(file + ": tensor '" + tensor + "': " + problem);
    }
}
