package org.densify.loaders.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import org.densify.loaders.io.StrictJson;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The parsed, validated header of one safetensors file. Validation is at least as strict as the
 * reference library (huggingface/safetensors): what it rejects is rejected here too, and a few
 * things it lets through (duplicate names, unknown keys in an entry, a non-string metadata value)
 * are rejected as well, because a file holding them was not written by a correct writer. What it
 * accepts that a correct writer may produce is accepted: {@code "__metadata__": null} (its
 * {@code Option<HashMap>} reads null as absent) is empty metadata.
 */
record SafetensorsHeader(long dataStart, Map<String, TensorInfo> tensors, Map<String, String> metadata) {

    /** The reference library refuses larger headers; so do we (it also bounds our allocation). */
    static final long MAX_HEADER_SIZE = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";
    private static final Set<String> ENTRY_KEYS = Set.of("dtype", "shape", "data_offsets");

    /** Parses and validates the header of {@code file} (the whole mapped file); {@code path} only names it in errors. */
    static SafetensorsHeader parse(Path path, MemorySegment file) throws SafetensorsException {
        long size = file.byteSize();
        if (size < 8) {
            throw SafetensorsException.of(path, "file is " + size + " bytes, shorter than the 8-byte header length (not a safetensors file?)");
        }
        long n = file.get(SafetensorsFile.LE_LONG, 0);
        if (n < 0 || n > MAX_HEADER_SIZE) {
            throw SafetensorsException.of(path, "header length " + Long.toUnsignedString(n)
                    + " exceeds the limit of 100,000,000 bytes (not a safetensors file?)");
        }
        if (n > size - 8) {
            throw SafetensorsException.of(path, "header length " + n + " runs past the end of the file (" + size
                    + " bytes leave at most " + (size - 8) + " for the header; truncated file?)");
        }
        byte[] headerBytes = file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String json;
        try {
            json = StrictJson.decodeUtf8(headerBytes);
        } catch (StrictJson.Malformed e) {
            throw SafetensorsException.of(path, "header is not valid UTF-8 (bad byte 0x"
                    + Integer.toHexString(headerBytes[(int) e.offset()] & 0xFF) + " at file offset " + (8 + e.offset()) + ")");
        }
        // The reference rejects anything but '{' first (no leading whitespace); trailing spaces pad.
        if (json.isEmpty() || json.charAt(0) != '{') {
            throw SafetensorsException.of(path, "header does not start with '{' (found "
                    + (json.isEmpty() ? "an empty header" : "'" + json.charAt(0) + "'") + ")");
        }
        JsonNode root;
        try {
            root = StrictJson.parse(json);
        } catch (StrictJson.Malformed e) {
            throw new SafetensorsException(path + ": header is " + e.getMessage(), e);
        }
        if (!root.isObject()) {
            throw SafetensorsException.of(path, "header is not a JSON object");
        }
        long dataLength = size - 8 - n;
        Map<String, String> metadata = Map.of();
        List<TensorInfo> list = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(path, e.getValue());
            } else {
                list.add(parseEntry(path, e.getKey(), e.getValue(), dataLength));
            }
        }
        checkCoverage(path, list, dataLength);
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (TensorInfo t : list) tensors.put(t.name(), t);
        return new SafetensorsHeader(8 + n, Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> parseMetadata(Path path, JsonNode node) throws SafetensorsException {
        if (node.isNull()) return Map.of(); // the reference reads null as "no metadata"
        if (!node.isObject()) {
            throw SafetensorsException.of(path, "__metadata__ must be an object of strings (or null), found " + StrictJson.abbreviate(node));
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw SafetensorsException.of(path, "__metadata__ value of '" + e.getKey() + "' must be a string, found " + StrictJson.abbreviate(e.getValue()));
            }
            m.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(m);
    }

    /** One tensor entry: exact key set, known dtype, sizes that agree and fit the data region. */
    private static TensorInfo parseEntry(Path path, String name, JsonNode node, long dataLength) throws SafetensorsException {
        if (!node.isObject()) {
            throw SafetensorsException.of(path, name, "entry must be an object with dtype, shape and data_offsets, found " + StrictJson.abbreviate(node));
        }
        for (String key : (Iterable<String>) node::fieldNames) {
            if (!ENTRY_KEYS.contains(key)) {
                throw SafetensorsException.of(path, name, "unexpected key '" + key + "' (an entry holds only dtype, shape and data_offsets)");
            }
        }
        JsonNode dt = require(path, name, node, "dtype");
        if (!dt.isTextual()) throw SafetensorsException.of(path, name, "dtype must be a string, found " + StrictJson.abbreviate(dt));
        DType dtype = DType.fromName(dt.textValue());
        if (dtype == null) {
            throw SafetensorsException.of(path, name, "unknown dtype '" + dt.textValue() + "' (expected one of " + Arrays.toString(DType.values()) + ")");
        }
        long[] shape = longs(path, name, require(path, name, node, "shape"), "shape", -1);
        long[] offsets = longs(path, name, require(path, name, node, "data_offsets"), "data_offsets", 2);
        long begin = offsets[0], end = offsets[1];
        String range = "data_offsets [" + begin + ", " + end + ")";
        long bytes;
        try {
            long elements = TensorInfo.elementCount(shape);
            long bits = Math.multiplyExact(elements, dtype.bits());
            if (bits % 8 != 0) {
                throw SafetensorsException.of(path, name, "shape " + TensorInfo.shapeString(shape) + " of " + dtype
                        + " is " + bits + " bits, not a whole number of bytes");
            }
            bytes = bits / 8;
        } catch (ArithmeticException e) {
            throw SafetensorsException.of(path, name, "shape " + TensorInfo.shapeString(shape) + " has too many elements (the byte size overflows 64 bits)");
        }
        if (end < begin) throw SafetensorsException.of(path, name, range + " end before they begin");
        if (end - begin != bytes) {
            throw SafetensorsException.of(path, name, range + " hold " + (end - begin) + " bytes but shape "
                    + TensorInfo.shapeString(shape) + " of " + dtype + " needs " + bytes);
        }
        if (end > dataLength) {
            throw SafetensorsException.of(path, name, range + " run past the end of the data region (" + dataLength + " bytes)");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /**
     * Sorted by offsets, the tensors must tile the data region exactly: no overlap, no hole, nothing
     * after the last one. (Zero-byte tensors may sit at any boundary.)
     */
    private static void checkCoverage(Path path, List<TensorInfo> list, long dataLength) throws SafetensorsException {
        list.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long cursor = 0;
        TensorInfo prev = null;
        for (TensorInfo t : list) {
            String range = "data_offsets [" + t.begin() + ", " + t.end() + ")";
            if (t.begin() < cursor) {
                throw SafetensorsException.of(path, t.name(), range + " overlap tensor '" + prev.name()
                        + "' at [" + prev.begin() + ", " + prev.end() + ")");
            }
            if (t.begin() > cursor) {
                throw SafetensorsException.of(path, t.name(), range + " leave a hole of " + (t.begin() - cursor) + " bytes after "
                        + (prev == null ? "the start of the data region" : "tensor '" + prev.name() + "' (which ends at " + cursor + ")")
                        + "; tensors must cover the data region without gaps");
            }
            cursor = t.end();
            prev = t;
        }
        if (cursor != dataLength) {
            throw SafetensorsException.of(path, "the tensors cover " + cursor + " bytes but the data region holds "
                    + dataLength + ": " + (dataLength - cursor) + " trailing bytes after the last tensor");
        }
    }

    private static JsonNode require(Path path, String name, JsonNode entry, String key) throws SafetensorsException {
        JsonNode v = entry.get(key);
        if (v == null) throw SafetensorsException.of(path, name, "missing '" + key + "'");
        return v;
    }

    /** An array of non-negative integers (each fitting a long), of exactly {@code count} if >= 0. */
    private static long[] longs(Path path, String name, JsonNode node, String key, int count) throws SafetensorsException {
        String expected = key + " must be an array of " + (count >= 0 ? "exactly " + count + " " : "") + "non-negative integers";
        if (!node.isArray() || (count >= 0 && node.size() != count)) {
            throw SafetensorsException.of(path, name, expected + ", found " + StrictJson.abbreviate(node));
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw SafetensorsException.of(path, name, expected + ", found " + StrictJson.abbreviate(node));
            }
            out[i] = v.longValue();
        }
        return out;
    }

}
