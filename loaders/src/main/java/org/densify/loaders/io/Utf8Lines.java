package org.densify.loaders.io;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * Reads UTF-8 text line by line (ends: \n, \r\n), replacing malformed bytes by U+FFFD as a reader
 * would, but not silently: the first line with malformed bytes is reported once, by file and line
 * number, to a warning sink. Later ones are replaced without a word, so a file in another encoding
 * gives one warning, not one per line.
 */
public final class Utf8Lines implements AutoCloseable {
    private final InputStream in;
    private final String name;
    private final Consumer<String> warnings;
    private final CharsetDecoder strict = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private long lineNumber;
    private boolean warned;

    /** Lines of {@code in}, called {@code name} in the warning; closing this closes {@code in}. */
    public Utf8Lines(InputStream in, String name, Consumer<String> warnings) {
        this.in = new BufferedInputStream(in, 1 << 16);
        this.name = name;
        this.warnings = warnings;
    }

    /** The next line without its end, or null at the end of the input. */
    public String next() throws IOException {
        line.reset();
        int b;
        while ((b = in.read()) != -1 && b != '\n') line.write(b);
        if (b == -1 && line.size() == 0) return null;
        lineNumber++;
        byte[] bytes = line.toByteArray();
        int length = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        try {
            return strict.decode(ByteBuffer.wrap(bytes, 0, length)).toString();
        } catch (CharacterCodingException e) {
            if (!warned) {
                warned = true;
                warnings.accept(name + " line " + lineNumber + ": not valid UTF-8; the bad bytes are read as U+FFFD"
                        + " (later lines are not reported)");
            }
            return new String(bytes, 0, length, StandardCharsets.UTF_8);
        }
    }

    /** The number of the line {@link #next} returned last (from 1). */
    public long lineNumber() {
        return lineNumber;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
