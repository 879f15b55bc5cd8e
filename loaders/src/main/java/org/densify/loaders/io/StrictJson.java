package org.densify.loaders.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The one JSON setup for every file the loaders read as JSON (safetensors headers, shard indexes,
 * {@code config.json}; the IMDb loader streams through the same factory): the bytes are decoded as strict UTF-8 first (a malformed or overlong
 * sequence, a surrogate or a truncated character is an error, never a U+FFFD; no encoding is
 * guessed from the first bytes), then parsed as exactly one JSON value with duplicate object keys
 * and trailing tokens rejected (trailing whitespace is fine). Comments, single quotes, NaN and other
 * extensions stay off, as in Jackson's defaults. Fractional numbers are kept as exact decimals, as
 * written ({@code 1e400} is not silently infinity, {@code 10000.0} stays {@code 10000.0}), so JSON a
 * caller does not interpret is written back unchanged.
 *
 * <p>For writing, the mapper emits UTF-8 as serde_json (which the safetensors reference uses) does:
 * characters outside the BMP as raw 4-byte UTF-8, not as a pair of backslash-u escapes, and control
 * characters escaped with lower-case hex.
 *
 * <p>Problems are {@link Malformed}, which carries a one-line reason without a file name: each
 * caller wraps it in its own exception type naming the file.
 */
public final class StrictJson {
    /** Larger strings are refused; the safetensors header cap, so a legal header always fits. */
    public static final int MAX_STRING_LENGTH = 100_000_000;
    /** A valid safetensors header nests 3 deep and a Hugging Face config about 4; deeper is garbage. */
    public static final int MAX_NESTING_DEPTH = 64;

    /** Strict duplicates, no trailing tokens, the limits above. Safe to share; also used for writing. */
    public static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .streamReadConstraints(StreamReadConstraints.builder()
                            .maxStringLength(MAX_STRING_LENGTH)
                            .maxNameLength(MAX_STRING_LENGTH)
                            .maxNestingDepth(MAX_NESTING_DEPTH)
                            .build())
                    .build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonNodeFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)
            .enable(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8)
            .disable(JsonWriteFeature.WRITE_HEX_UPPER_CASE)
            .build();

    private StrictJson() {
    }

    /** Why some bytes are not strict JSON; the message is one line and names no file. */
    public static final class Malformed extends Exception {
        private final long offset;
        private final boolean encoding;

        Malformed(String message, long offset, boolean encoding, Throwable cause) {
            super(message, cause);
            this.offset = offset;
            this.encoding = encoding;
        }

        /** Where the problem was found: a byte offset for UTF-8 errors, a character offset for JSON errors, or -1. */
        public long offset() {
            return offset;
        }

        /** True when the bytes were not UTF-8 (as opposed to not JSON). */
        public boolean isEncodingError() {
            return encoding;
        }
    }

    /**
     * Decodes {@code bytes} as UTF-8, refusing anything the standard calls malformed. The message
     * names the first bad byte and its offset within {@code bytes}.
     */
    public static String decodeUtf8(byte[] bytes) throws Malformed {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // UTF-8 never yields more chars than bytes
        CoderResult r = decoder.decode(in, out, true);
        if (!r.isError()) r = decoder.flush(out);
        if (r.isError()) {
            int at = in.position();
            throw new Malformed("not valid UTF-8 (bad byte 0x" + Integer.toHexString(bytes[at] & 0xFF) + " at offset " + at + ")", at, true, null);
        }
        return out.flip().toString();
    }

    /** Parses already-decoded text as exactly one JSON value (see the class comment). */
    public static JsonNode parse(String json) throws Malformed {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            JsonLocation where = e.getLocation();
            long offset = where == null ? -1 : where.getCharOffset();
            throw new Malformed("not valid JSON" + (offset >= 0 ? " at character " + offset : "") + ": " + oneLine(e.getOriginalMessage()), offset, false, e);
        }
        // readTree gives a MissingNode (or null) for empty input; for us that is not JSON.
        if (root == null || root.isMissingNode()) throw new Malformed("not valid JSON: no value (empty input)", 0, false, null);
        return root;
    }

    /** {@link #decodeUtf8(byte[])} then {@link #parse(String)}. */
    public static JsonNode parse(byte[] utf8) throws Malformed {
        return parse(decodeUtf8(utf8));
    }

    /** A value's text cut to 60 characters, for error messages that quote what was found. */
    public static String abbreviate(Object value) {
        String s = String.valueOf(value);
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    private static String oneLine(String s) {
        return s == null ? "(no details)" : s.replaceAll("\\s*\\R\\s*", " ").strip();
    }
}
