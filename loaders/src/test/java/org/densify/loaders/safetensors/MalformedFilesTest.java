package org.densify.loaders.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.densify.loaders.safetensors.RawFiles.concat;
import static org.densify.loaders.safetensors.RawFiles.file;
import static org.densify.loaders.safetensors.RawFiles.le64;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.params.provider.Arguments.arguments;

/**
 * A corpus of malformed files, each with the fragment its error message must contain. Every file is
 * built here byte by byte, so the table documents exactly what is wrong with each.
 */
class MalformedFilesTest {
    @TempDir
    Path dir;

    /** A valid entry for 12 bytes of F32 at [0, 12). */
    private static final String A = "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}";

    static Stream<Arguments> corpus() {
        return Stream.of(
                arguments("empty file", new byte[0], "file is 0 bytes, shorter than the 8-byte header length"),
                arguments("5-byte file", new byte[5], "file is 5 bytes"),
                arguments("header length over the 100 MB cap", concat(le64(100_000_001), new byte[16]), "header length 100000001 exceeds the limit of 100,000,000 bytes"),
                arguments("header length with the top bit set", concat(le64(-1), new byte[16]), "header length 18446744073709551615 exceeds the limit"),
                arguments("header length past the end", concat(le64(50), "{}".getBytes()), "header length 50 runs past the end of the file (10 bytes leave at most 2"),
                arguments("empty header", file("", 0), "header does not start with '{' (found an empty header)"),
                arguments("invalid UTF-8 byte", file(new byte[]{'{', '"', (byte) 0xFF, '"', ':', '1', '}'}, new byte[0]), "header is not valid UTF-8 (bad byte 0xff at file offset 10)"),
                arguments("overlong UTF-8 encoding", file(new byte[]{'{', '"', (byte) 0xC0, (byte) 0xAF, '"', '}'}, new byte[0]), "header is not valid UTF-8"),
                arguments("truncated UTF-8 sequence", file(new byte[]{'{', '}', ' ', (byte) 0xE2, (byte) 0x82}, new byte[0]), "header is not valid UTF-8"),
                arguments("truncated JSON", file("{\"a\":", 0), "header is not valid JSON"),
                arguments("header is an array", file("[1,2]", 0), "header does not start with '{' (found '[')"),
                arguments("leading whitespace", file(" {}", 0), "header does not start with '{' (found ' ')"),
                arguments("trailing garbage after the object", file("{} x", 0), "header is not valid JSON"),
                arguments("two objects", file("{}{}", 0), "header is not valid JSON"),
                arguments("comment in JSON", file("{/* c */}", 0), "header is not valid JSON"),
                arguments("duplicate tensor name", file("{" + A + "," + A + "}", 12), "Duplicate field 'a'"),
                arguments("entry is a number", file("{\"a\":5}", 0), "tensor 'a': entry must be an object with dtype, shape and data_offsets, found 5"),
                arguments("missing dtype", file("{\"a\":{\"shape\":[3],\"data_offsets\":[0,12]}}", 12), "tensor 'a': missing 'dtype'"),
                arguments("missing shape", file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,12]}}", 12), "tensor 'a': missing 'shape'"),
                arguments("missing data_offsets", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3]}}", 12), "tensor 'a': missing 'data_offsets'"),
                arguments("dtype is a number", file("{\"a\":{\"dtype\":32,\"shape\":[3],\"data_offsets\":[0,12]}}", 12), "dtype must be a string, found 32"),
                arguments("unknown dtype", file("{\"a\":{\"dtype\":\"F31\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12), "unknown dtype 'F31' (expected one of [BOOL, F4"),
                arguments("lower-case dtype", file("{\"a\":{\"dtype\":\"f32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12), "unknown dtype 'f32'"),
                arguments("shape is a string", file("{\"a\":{\"dtype\":\"F32\",\"shape\":\"3\",\"data_offsets\":[0,12]}}", 12), "shape must be an array of non-negative integers, found \"3\""),
                arguments("negative dimension", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-3],\"data_offsets\":[0,12]}}", 12), "shape must be an array of non-negative integers, found [-3]"),
                arguments("fractional dimension", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3.0],\"data_offsets\":[0,12]}}", 12), "shape must be an array of non-negative integers, found [3.0]"),
                arguments("dimension beyond 64 bits", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,12]}}", 12), "shape must be an array of non-negative integers"),
                arguments("element count overflow", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,12]}}", 12), "has too many elements (the byte size overflows 64 bits)"),
                arguments("three data_offsets", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12,24]}}", 12), "data_offsets must be an array of exactly 2 non-negative integers, found [0,12,24]"),
                arguments("negative offset", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}}", 0), "data_offsets must be an array of exactly 2 non-negative integers"),
                arguments("end before begin", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,0]}}", 12), "data_offsets [12, 0) end before they begin"),
                arguments("size does not match shape", file("{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,100]}}", 100),
                        "tensor 'h.0.attn.c_attn.weight': data_offsets [0, 100) hold 100 bytes but shape [3, 4] of F32 needs 48"),
                arguments("offsets beyond the data", file("{" + A + "}", 8), "data_offsets [0, 12) run past the end of the data region (8 bytes)"),
                arguments("overlapping tensors", file("{" + A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16), "tensor 'b': data_offsets [8, 16) overlap tensor 'a' at [0, 12)"),
                arguments("same range twice", file("{" + A + ",\"b\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12), "overlap tensor 'a' at [0, 12)"),
                arguments("empty tensor inside another", file("{" + A + ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 12), "tensor 'e': data_offsets [4, 4) overlap tensor 'a'"),
                arguments("hole at the start", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}", 16), "leave a hole of 4 bytes after the start of the data region"),
                arguments("hole between tensors", file("{" + A + ",\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[14,16]}}", 16), "tensor 'b': data_offsets [14, 16) leave a hole of 2 bytes after tensor 'a' (which ends at 12)"),
                arguments("trailing bytes after the last tensor", file("{" + A + "}", 20), "the tensors cover 12 bytes but the data region holds 20: 8 trailing bytes"),
                arguments("data but no tensors", file("{}", 4), "the tensors cover 0 bytes but the data region holds 4"),
                arguments("unexpected key in an entry", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12],\"strides\":[1]}}", 12), "tensor 'a': unexpected key 'strides'"),
                arguments("__metadata__ is a string", file("{\"__metadata__\":\"pt\"}", 0), "__metadata__ must be an object of strings (or null), found \"pt\""),
                arguments("__metadata__ is an array", file("{\"__metadata__\":[]}", 0), "__metadata__ must be an object of strings (or null), found []"),
                arguments("__metadata__ value is a number", file("{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}", 0), "__metadata__ value of 'step' must be a string, found 3"),
                arguments("4-bit tensor of odd length", file("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2), "shape [3] of F4 is 12 bits, not a whole number of bytes"),
                arguments("NaN literal", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,12]}}", 12), "header is not valid JSON"),
                arguments("deeply nested garbage", file("{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}", 0), "header is not valid JSON"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("corpus")
    void rejectsWithAClearMessage(String label, byte[] bytes, String fragment) throws IOException {
        Path p = RawFiles.write(dir, "bad.safetensors", bytes);
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close(), label);
        assertTrue(e.getMessage().startsWith(p + ": "), () -> "message should start with the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(fragment), () -> label + ": expected '" + fragment + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    /** Each case must test something of its own: no label or input is repeated (a copy-paste slip would hide a gap). */
    @Test
    void corpusCasesAreDistinct() {
        List<Arguments> cases = corpus().toList();
        Set<String> labels = new HashSet<>();
        Set<String> inputs = new HashSet<>();
        for (Arguments a : cases) {
            Object[] c = a.get();
            assertTrue(labels.add((String) c[0]), () -> "label used twice: " + c[0]);
            assertTrue(inputs.add(Base64.getEncoder().encodeToString((byte[]) c[1])), () -> "input of '" + c[0] + "' repeats an earlier case");
        }
    }

    /** The reference reads {@code "__metadata__": null} as no metadata (a serde {@code Option}); so does this reader. */
    @Test
    void nullMetadataIsNoMetadata() throws IOException {
        Path p = RawFiles.write(dir, "null-meta.safetensors", file("{\"__metadata__\":null," + A + "}", 12));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(Map.of(), f.metadata());
            assertEquals(List.of("a"), List.copyOf(f.tensors().keySet()));
        }
    }

    @Test
    void headerMayBePaddedWithTrailingWhitespace() throws IOException {
        Path p = RawFiles.write(dir, "ok.safetensors", file("{" + A + "}   \n\t ", 12));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(3, f.info("a").numElements());
        }
    }

    @Test
    void acceptsEntriesInAnyHeaderOrder() throws IOException {
        Path p = RawFiles.write(dir, "order.safetensors",
                file("{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[12,16]}," + A + "}", 16));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of("a", "b"), List.copyOf(f.tensors().keySet()), "data order");
        }
    }
}
