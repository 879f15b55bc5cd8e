package org.densify.loaders.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * Reads a tokenizer file as UTF-8, strictly: the first malformed sequence (a stray continuation
 * byte, a truncated or overlong sequence, an encoded surrogate, a code point above U+10FFFF) is an
 * {@link IOException} that names the file, the byte offset, the line and the bytes, instead of
 * being replaced by U+FFFD as {@code InputStreamReader} does. A vocabulary read through a replacing
 * decoder would silently hold tokens that are not in the file.
 *
 * <p>One leading byte order mark (U+FEFF) is dropped: it marks the encoding and is no part of the
 * content. {@link #close()} leaves the stream open; its owner closes it.
 */
final class StrictUtf8Reader extends Reader {
    private final InputStream in;
    private final String name;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    private final byte[] raw = new byte[8192];
    /** Undecoded bytes, in read mode over {@link #raw}. */
    private final ByteBuffer bytes = ByteBuffer.wrap(raw).limit(0);
    /** Decoded chars not yet handed out, in read mode. */
    private final CharBuffer chars = CharBuffer.allocate(8192).limit(0);
    /** The file offset of {@code raw[0]}. */
    private long base;
    /** Newlines decoded before the chars now in {@link #chars}. */
    private long newlines;
    private boolean eof, done, started;

    StrictUtf8Reader(InputStream in, String name) {
        this.in = in;
        this.name = name;
    }

    @Override
    public int read(char[] cbuf, int off, int len) throws IOException {
        java.util.Objects.checkFromIndexSize(off, len, cbuf.length);
        if (len == 0) return 0;
        if (!chars.hasRemaining() && !fill()) return -1;
        int n = Math.min(len, chars.remaining());
        chars.get(cbuf, off, n);
        return n;
    }

    /** Decodes the next chars into {@link #chars} (empty when called); false at the end of the input. */
    private boolean fill() throws IOException {
        if (done) return false;
        for (int i = chars.position() - 1; i >= 0; i--) {
            if (chars.get(i) == '\n') newlines++;
        }
        chars.clear();
        try {
            while (chars.position() == 0) {
                CoderResult r = decoder.decode(bytes, chars, eof);
                if (r.isError()) throw invalid(r.length());
                if (chars.position() > 0) break;
                if (eof) {
                    decoder.flush(chars);
                    done = true;
                    break;
                }
                readMore(); // underflow: the chars buffer is empty, so it cannot have overflowed
            }
        } finally {
            chars.flip();
        }
        if (!started && chars.hasRemaining()) {
            started = true;
            if (chars.get(chars.position()) == '\uFEFF') chars.get();
            if (!chars.hasRemaining()) return fill();
        }
        return chars.hasRemaining();
    }

    private void readMore() throws IOException {
        base += bytes.position();
        bytes.compact();
        int n = in.read(raw, bytes.position(), bytes.remaining());
        if (n < 0) {
            eof = true;
        } else {
            bytes.position(bytes.position() + n);
        }
        bytes.flip();
    }

    private IOException invalid(int length) {
        long line = newlines + 1;
        for (int i = 0; i < chars.position(); i++) {
            if (chars.get(i) == '\n') line++;
        }
        int at = bytes.position();
        String hex = HexFormat.ofDelimiter(" ").withUpperCase().formatHex(raw, at, Math.min(at + length, bytes.limit()));
        return new IOException(name + ": invalid UTF-8 at byte " + (base + at) + " (line " + line + "): " + hex);
    }

    @Override
    public void close() {
        // The stream belongs to the caller.
    }
}
