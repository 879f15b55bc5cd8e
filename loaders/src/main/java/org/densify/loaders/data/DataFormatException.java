package org.densify.loaders.data;

import java.io.IOException;

/** A data file that does not have the expected layout; the message names the file, the record and the field. */
public final class DataFormatException extends IOException {
    public DataFormatException(String message) {
        super(message);
    }

    public DataFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
