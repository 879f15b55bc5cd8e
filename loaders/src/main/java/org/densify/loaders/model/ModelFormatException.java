package org.densify.loaders.model;

import java.io.IOException;

/**
 * A model folder that cannot be used: a missing or invalid {@code config.json}, a configuration this
 * engine does not support, or weights that do not match the configuration. The message starts with
 * the file concerned and says what was expected. (Malformed safetensors files themselves raise
 * {@link org.densify.loaders.safetensors.SafetensorsException}.)
 */
public class ModelFormatException extends IOException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
