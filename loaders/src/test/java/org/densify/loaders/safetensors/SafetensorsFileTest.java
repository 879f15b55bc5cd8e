package org.densify.loaders.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SafetensorsFileTest {
    @TempDir
    Path dir;

    private static byte[] randomBytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void everyDtypeRoundTrips(DType dtype) throws IOException {
        // 12 elements fill whole bytes for every dtype, 4- and 6-bit ones included.
        long[] shape = {3, 4};
        Random r = new Random(dtype.ordinal());
        byte[] data = randomBytes(r, 12 * dtype.bits() / 8);
        byte[] other = randomBytes(r, 7);
        Path p = dir.resolve("t.safetensors");
        new SafetensorsWriter().add("x", dtype, shape, data).add("odd", DType.U8, new long[]{7}, other).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            TensorInfo t = f.info("x");
            assertEquals(dtype, t.dtype());
            assertArrayEquals(shape, t.shape());
            assertEquals(12, t.numElements());
            assertEquals(data.length, t.byteSize());
            assertArrayEquals(data, f.segment("x").toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(other, f.segment("odd").toArray(ValueLayout.JAVA_BYTE));
            assertEquals(0, f.dataStart() % 8, "header padded to 8");
            if (dtype.bits() >= 8) assertEquals(0, t.begin() % dtype.byteSize(), "tensor aligned to its element size");
        }
    }

    @Test
    void zeroDimensionalAndEmptyTensors() throws IOException {
        Path p = dir.resolve("e.safetensors");
        new SafetensorsWriter()
                .add("scalar", new long[0], new float[]{2.5f})
                .add("empty", new long[]{0}, new float[0])
                .add("empty2d", DType.F16, new long[]{2, 0}, new byte[0])
                .add("ids", new long[]{0}, new long[0])
                .write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(0, f.info("scalar").rank());
            assertEquals(1, f.info("scalar").numElements());
            assertArrayEquals(new float[]{2.5f}, f.readFloats("scalar"));
            assertEquals(0, f.readFloats("empty").length);
            assertEquals(0, f.readFloats("empty2d").length);
            assertArrayEquals(new long[]{2, 0}, f.info("empty2d").shape());
            assertEquals(0, f.readLongs("ids").length);
            assertEquals(0, f.segment("empty").byteSize());
        }
    }

    @Test
    void metadataRoundTripsWithUnicodeAndEscapes() throws IOException {
        Path p = dir.resolve("m.safetensors");
        Map<String, String> meta = Map.of("format", "pt", "note", "héllo \"wörld\"\n\ttab ✓ 🙂", "empty", "");
        new SafetensorsWriter().metadata(meta).add("a", new long[]{1}, new float[]{1}).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(meta, f.metadata());
        }
    }

    /** Byte-for-byte what the reference library writes for these inputs (from its own tests). */
    @Test
    void writesReferenceBytes() throws IOException {
        byte[] data = RawFiles.f32(0, 1, 2, 3, 4, 5);
        assertFileIs(new SafetensorsWriter().add("attn.0", DType.F32, new long[]{1, 2, 3}, data),
                RawFiles.file("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", data));
        assertFileIs(new SafetensorsWriter().add("attn0", DType.F32, new long[]{1, 1, 2, 3}, data),
                RawFiles.file("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ", data));
        assertFileIs(new SafetensorsWriter(), RawFiles.file("{}      ", 0));
        assertFileIs(new SafetensorsWriter().metadata("framework", "pt"),
                RawFiles.file("{\"__metadata__\":{\"framework\":\"pt\"}}     ", 0));
    }

    private void assertFileIs(SafetensorsWriter w, byte[] expected) throws IOException {
        Path p = dir.resolve("ref.safetensors");
        w.write(p);
        assertArrayEquals(expected, Files.readAllBytes(p));
        SafetensorsFile.open(p).close();
    }

    @Test
    void orderIsDtypeDescendingThenName() throws IOException {
        Path p = dir.resolve("o.safetensors");
        new SafetensorsWriter()
                .add("z_bool", DType.BOOL, new long[]{3}, new byte[]{1, 0, 1})
                .add("b_f32", new long[]{1}, new float[]{1})
                .add("a_f32", new long[]{1}, new float[]{2})
                .add("h", DType.F16, new long[]{1}, new byte[2])
                .add("d", DType.F64, new long[]{1}, new byte[8])
                .add("i", new long[]{1}, new long[]{7})
                .write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of("i", "d", "a_f32", "b_f32", "h", "z_bool"), List.copyOf(f.tensors().keySet()));
            String header = new String(Files.readAllBytes(p), 8, (int) f.dataStart() - 8, StandardCharsets.UTF_8);
            assertTrue(header.indexOf("\"i\"") < header.indexOf("\"d\"") && header.indexOf("\"h\"") < header.indexOf("\"z_bool\""), header);
        }
    }

    /**
     * The reference sorts names as Rust {@code String}s: by UTF-8 bytes, i.e. code points. UTF-16
     * order would put a supplementary character (a surrogate pair, 0xD83D...) before U+E000-U+FFFF.
     */
    @Test
    void namesAreOrderedByUtf8BytesNotUtf16Units() throws IOException {
        String privateUse = "w\uE000", replacement = "w\uFFFD", emoji = "w\uD83D\uDE00"; // U+E000, U+FFFD, U+1F600
        Path p = dir.resolve("u.safetensors");
        new SafetensorsWriter()
                .add(emoji, new long[]{1}, new float[]{3})
                .add(replacement, new long[]{1}, new float[]{2})
                .add("w", new long[]{1}, new float[]{0})
                .add(privateUse, new long[]{1}, new float[]{1})
                .write(p);
        List<String> expected = List.of("w", privateUse, replacement, emoji);
        // Sanity check of the expectation itself: UTF-8 bytes compared unsigned.
        for (int i = 1; i < expected.size(); i++) {
            assertTrue(java.util.Arrays.compareUnsigned(expected.get(i - 1).getBytes(StandardCharsets.UTF_8),
                    expected.get(i).getBytes(StandardCharsets.UTF_8)) < 0);
        }
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(expected, List.copyOf(f.tensors().keySet()), "data order");
            assertArrayEquals(new float[]{1}, f.readFloats(privateUse));
            assertArrayEquals(new float[]{3}, f.readFloats(emoji));
            String header = new String(Files.readAllBytes(p), 8, (int) f.dataStart() - 8, StandardCharsets.UTF_8);
            assertTrue(header.indexOf(privateUse) < header.indexOf(replacement) && header.indexOf(replacement) < header.indexOf(emoji), header);
        }
    }

    /** The header text is encoded as serde_json (the reference's JSON library) encodes it. */
    @Test
    void headerTextIsEncodedAsTheReferenceEncodesIt() throws IOException {
        Path p = dir.resolve("enc.safetensors");
        new SafetensorsWriter().metadata("note", "\u001f\t\"\\/\u00e9\ud83d\ude00").write(p);
        byte[] bytes = Files.readAllBytes(p);
        String header = new String(bytes, 8, bytes.length - 8, StandardCharsets.UTF_8).strip();
        // Control characters: short escapes where JSON has them, else a backslash-u escape in lower-case
        // hex; '/' and non-ASCII as they are; a supplementary character as its 4 UTF-8 bytes, not as a
        // pair of escaped surrogates.
        assertEquals("{\"__metadata__\":{\"note\":\"\\u001f\\t\\\"\\\\/\u00e9\ud83d\ude00\"}}", header);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals("\u001f\t\"\\/\u00e9\ud83d\ude00", f.metadata().get("note"));
        }
    }

    @Test
    void writerRejectsNamesThatAreNotUnicode() {
        SafetensorsWriter w = new SafetensorsWriter();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.add("bad\uD800", new long[]{1}, new float[]{1}));
        assertMessage(e, "tensor name holds an unpaired surrogate U+D800 at index 3");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> w.metadata("k", "\uDC00x")), "__metadata__ value of 'k' holds an unpaired surrogate U+DC00");
        assertEquals(List.of(), w.names());
    }

    @Test
    void elementCountIsTheOneCheckedProduct() {
        assertEquals(1, TensorInfo.elementCount());
        assertEquals(24, TensorInfo.elementCount(2, 3, 4));
        assertEquals(0, TensorInfo.elementCount(5, 0, 7));
        assertThrows(ArithmeticException.class, () -> TensorInfo.elementCount(1L << 32, 1L << 32));
        assertMessage(assertThrows(IllegalArgumentException.class, () -> TensorInfo.elementCount(2, -1)), "negative dimension in shape [2, -1]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new SafetensorsWriter().add("o", DType.U8, new long[]{1L << 62, 4}, new byte[0])),
                "tensor 'o': shape [4611686018427387904, 4] of U8 has too many elements");
    }

    /** IEEE edge values survive widening: subnormals, infinities, NaN and the sign of zero. */
    @Test
    void convertsSpecialFloatValuesExactly() throws IOException {
        short[] halves = {0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, (short) 0xFC00, 0x7E00, (short) 0x8000, (short) 0x8001};
        float[] halfValues = {0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 65504f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0f, -0x1p-24f};
        short[] brains = {0x0001, 0x007F, 0x0080, 0x7F80, (short) 0xFF80, 0x7FC0, (short) 0x8000, (short) 0x8001, 0x7F7F};
        float[] brainValues = {0x1p-133f, 127 * 0x1p-133f, 0x1p-126f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0f, -0x1p-133f,
                0x1.FEp127f};
        // E4M3 (fn): bias 7, subnormals m/8 x 2^-6, 0x7E = 448 the largest, S.1111.111 NaN, no infinity.
        byte[] e4m3 = {0x00, (byte) 0x80, 0x01, 0x07, (byte) 0x81, 0x08, 0x7E, (byte) 0xFE, 0x7F, (byte) 0xFF};
        float[] e4m3Values = {0f, -0f, 0x1p-9f, 7 * 0x1p-9f, -0x1p-9f, 0x1p-6f, 448f, -448f, Float.NaN, Float.NaN};
        // E5M2: bias 15, subnormals m/4 x 2^-14, infinities and NaN as in IEEE half.
        byte[] e5m2 = {0x01, 0x03, 0x7B, 0x7C, (byte) 0xFC, 0x7E, (byte) 0x80};
        float[] e5m2Values = {0x1p-16f, 3 * 0x1p-16f, 57344f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0f};
        double[] doubles = {Double.MIN_VALUE, 1e300, -1e300, Double.NaN, -0.0, 0x1p-149, Float.MAX_VALUE};
        float[] doubleValues = {0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0f, Float.MIN_VALUE, Float.MAX_VALUE};

        ByteBuffer f16 = ByteBuffer.allocate(2 * halves.length).order(ByteOrder.LITTLE_ENDIAN);
        for (short h : halves) f16.putShort(h);
        ByteBuffer bf16 = ByteBuffer.allocate(2 * brains.length).order(ByteOrder.LITTLE_ENDIAN);
        for (short b : brains) bf16.putShort(b);
        ByteBuffer f64 = ByteBuffer.allocate(8 * doubles.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double d : doubles) f64.putDouble(d);
        Path p = dir.resolve("special.safetensors");
        new SafetensorsWriter()
                .add("f16", DType.F16, new long[]{halves.length}, f16.array())
                .add("bf16", DType.BF16, new long[]{brains.length}, bf16.array())
                .add("e4m3", DType.F8_E4M3, new long[]{e4m3.length}, e4m3)
                .add("e5m2", DType.F8_E5M2, new long[]{e5m2.length}, e5m2)
                .add("f64", DType.F64, new long[]{doubles.length}, f64.array())
                .write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            // assertArrayEquals on floats compares bit patterns of non-NaN values: -0 differs from 0.
            assertArrayEquals(halfValues, f.readFloats("f16"));
            assertArrayEquals(brainValues, f.readFloats("bf16"));
            assertArrayEquals(e4m3Values, f.readFloats("e4m3"));
            assertArrayEquals(e5m2Values, f.readFloats("e5m2"));
            assertArrayEquals(doubleValues, f.readFloats("f64"));
            assertEquals(0x80000000, Float.floatToRawIntBits(f.readFloats("f16")[7]), "-0 keeps its sign");
            assertEquals(0x80000000, Float.floatToRawIntBits(f.readFloats("e4m3")[1]), "-0 keeps its sign");
        }
    }

    @Test
    void convertsEveryNumericDtypeToFloats() throws IOException {
        ByteBuffer f16 = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN)
                .putShort(Float.floatToFloat16(1.5f)).putShort(Float.floatToFloat16(-0.25f)).putShort(Float.floatToFloat16(65504f));
        ByteBuffer bf16 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) (Float.floatToIntBits(3.0f) >>> 16)).putShort((short) (Float.floatToIntBits(-1e30f) >>> 16));
        ByteBuffer f64 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(Math.PI).putDouble(-1e-3);
        ByteBuffer i16 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort((short) -300).putShort((short) 0xFFFF);
        ByteBuffer u32 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0xFFFFFFFF);
        ByteBuffer u64 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L).putLong(5);
        Path p = dir.resolve("c.safetensors");
        new SafetensorsWriter()
                .add("f16", DType.F16, new long[]{3}, f16.array())
                .add("bf16", DType.BF16, new long[]{2}, bf16.array())
                .add("f64", DType.F64, new long[]{2}, f64.array())
                .add("i16", DType.I16, new long[]{2}, i16.array())
                .add("u16", DType.U16, new long[]{2}, i16.array())
                .add("u32", DType.U32, new long[]{1}, u32.array())
                .add("u64", DType.U64, new long[]{2}, u64.array())
                .add("i8", DType.I8, new long[]{2}, new byte[]{-128, 127})
                .add("u8", DType.U8, new long[]{2}, new byte[]{-1, 1})
                .add("bool", DType.BOOL, new long[]{2}, new byte[]{0, 1})
                // E5M2 0x3C = 1.0, E4M3 0x38 = 1.0 and 0x7F = NaN, E8M0 127 = 1.0 and 130 = 8.0
                .add("e5m2", DType.F8_E5M2, new long[]{2}, new byte[]{0x3C, (byte) 0xC0})
                .add("e4m3", DType.F8_E4M3, new long[]{3}, new byte[]{0x38, (byte) 0xB8, 0x7F})
                .add("e8m0", DType.F8_E8M0, new long[]{2}, new byte[]{127, (byte) 130})
                .add("i32", new long[]{2}, new int[]{-7, Integer.MAX_VALUE})
                .add("i64", new long[]{2}, new long[]{1L << 40, -3})
                .write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[]{1.5f, -0.25f, 65504f}, f.readFloats("f16"));
            assertArrayEquals(new float[]{3.0f, Float.intBitsToFloat(Float.floatToIntBits(-1e30f) & 0xFFFF0000)}, f.readFloats("bf16"));
            assertArrayEquals(new float[]{(float) Math.PI, -1e-3f}, f.readFloats("f64"));
            assertArrayEquals(new float[]{-300, -1}, f.readFloats("i16"));
            assertArrayEquals(new float[]{65236, 65535}, f.readFloats("u16"));
            assertArrayEquals(new float[]{4294967295f}, f.readFloats("u32"));
            assertArrayEquals(new float[]{18446744073709551615f, 5}, f.readFloats("u64"));
            assertArrayEquals(new float[]{-128, 127}, f.readFloats("i8"));
            assertArrayEquals(new float[]{255, 1}, f.readFloats("u8"));
            assertArrayEquals(new float[]{0, 1}, f.readFloats("bool"));
            assertArrayEquals(new float[]{1, -2}, f.readFloats("e5m2"));
            float[] e4m3 = f.readFloats("e4m3");
            assertEquals(1f, e4m3[0]);
            assertEquals(-1f, e4m3[1]);
            assertTrue(Float.isNaN(e4m3[2]));
            assertArrayEquals(new float[]{1, 8}, f.readFloats("e8m0"));
            assertArrayEquals(new float[]{-7, Integer.MAX_VALUE}, f.readFloats("i32"));
            assertArrayEquals(new float[]{1L << 40, -3}, f.readFloats("i64"));

            assertArrayEquals(new long[]{1L << 40, -3}, f.readLongs("i64"));
            assertArrayEquals(new long[]{65236, 65535}, f.readLongs("u16"));
            assertArrayEquals(new long[]{4294967295L}, f.readLongs("u32"));
            assertArrayEquals(new int[]{-7, Integer.MAX_VALUE}, f.readInts("i32"));
            assertArrayEquals(new int[]{0, 1}, f.readInts("bool"));
            assertArrayEquals(new int[]{-300, -1}, f.readInts("i16"));

            assertMessage(assertThrows(SafetensorsException.class, () -> f.readInts("i64")), "element 0 = 1099511627776 of I64 does not fit in an int");
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readInts("u32")), "does not fit in an int");
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readLongs("u64")), "18446744073709551615 does not fit in a signed 64-bit long");
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readLongs("f16")), "dtype F16 is not an integer type");
        }
    }

    @Test
    void subByteAndComplexTypesOpenButDoNotConvert() throws IOException {
        Path p = dir.resolve("s.safetensors");
        new SafetensorsWriter().add("f4", DType.F4, new long[]{4}, new byte[2]).add("c", DType.C64, new long[]{1}, new byte[8]).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readFloats("f4")), "dtype F4 cannot be read as floats");
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readFloats("c")), "dtype C64 cannot be read as floats");
        }
    }

    @Test
    void readsIntoOffHeapDestinationAtAnyAlignment() throws IOException {
        Path p = dir.resolve("d.safetensors");
        float[] v = {1, 2, 3, 4, 5};
        new SafetensorsWriter().add("w", new long[]{5}, v).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p); Arena arena = Arena.ofConfined()) {
            MemorySegment block = arena.allocate(64);
            MemorySegment dest = block.asSlice(3, 20); // deliberately not 4-aligned
            f.readFloats("w", dest);
            for (int i = 0; i < v.length; i++) assertEquals(v[i], dest.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
            assertThrows(IllegalArgumentException.class, () -> f.readFloats("w", block.asSlice(0, 16)));
        }
    }

    /** Old writers did not pad: data may start at any byte; every read must still work. */
    @Test
    void unalignedDataLoads() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(4 * 3 + 8 * 2 + 8 + 2).order(ByteOrder.LITTLE_ENDIAN);
        d.putFloat(1.25f).putFloat(-2f).putFloat(1e-7f).putDouble(Math.E).putDouble(-0.5).putLong(-42).putShort(Float.floatToFloat16(0.75f));
        for (String pad : List.of("", " ", "  ", "   ")) {
            String header = "{\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                    + "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[12,28]},"
                    + "\"l\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[28,36]},"
                    + "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[36,38]}}" + pad;
            Path p = RawFiles.write(dir, "u.safetensors", RawFiles.file(header, d.array()));
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                assertArrayEquals(new float[]{1.25f, -2f, 1e-7f}, f.readFloats("f"));
                assertArrayEquals(new float[]{(float) Math.E, -0.5f}, f.readFloats("d"));
                assertArrayEquals(new long[]{-42}, f.readLongs("l"));
                assertArrayEquals(new float[]{0.75f}, f.readFloats("h"));
            }
        }
    }

    @Test
    void readingAfterCloseThrowsIllegalState() throws IOException {
        Path p = dir.resolve("x.safetensors");
        new SafetensorsWriter().add("w", new long[]{2}, new float[]{1, 2}).write(p);
        SafetensorsFile f = SafetensorsFile.open(p);
        MemorySegment seg = f.segment("w");
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, () -> f.readFloats("w"));
        assertThrows(IllegalStateException.class, () -> f.segment("w"));
        assertThrows(IllegalStateException.class, () -> seg.get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(1, f.tensors().size(), "the header stays readable");
    }

    @Test
    void missingTensorNamesTheFileAndSomeAvailableNames() throws IOException {
        Path p = dir.resolve("n.safetensors");
        new SafetensorsWriter().add("transformer.wte.weight", new long[]{1}, new float[]{1})
                .add("transformer.wpe.weight", new long[]{1}, new float[]{1}).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertFalse(f.has("wte.weight"));
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.readFloats("wte.weight"));
            assertMessage(e, p + ": tensor 'wte.weight': not found (did you mean 'transformer.wte.weight'?); it holds 2 tensors: ");
            assertMessage(e, "'transformer.wpe.weight'");
        }
    }

    @Test
    void segmentsAreReadOnlyZeroCopySlices() throws IOException {
        Path p = dir.resolve("z.safetensors");
        new SafetensorsWriter().add("w", new long[]{2}, new float[]{1, 2}).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            MemorySegment s = f.segment("w");
            assertTrue(s.isReadOnly());
            assertTrue(s.isMapped());
            assertEquals(2f, s.getAtIndex(SafetensorsFile.LE_FLOAT, 1));
        }
    }

    @Test
    void writerRejectsBadInput() {
        SafetensorsWriter w = new SafetensorsWriter().add("a", new long[]{1}, new float[]{1});
        assertThrows(IllegalArgumentException.class, () -> w.add("a", new long[]{1}, new float[]{1}));
        assertThrows(IllegalArgumentException.class, () -> w.add("__metadata__", new long[]{1}, new float[]{1}));
        assertThrows(IllegalArgumentException.class, () -> w.add("b", new long[]{2}, new float[]{1}));
        assertMessage(assertThrows(IllegalArgumentException.class, () -> w.add("c", new long[]{-1}, new float[0])),
                "tensor 'c': negative dimension in shape [-1]");
        IllegalArgumentException odd = assertThrows(IllegalArgumentException.class, () -> w.add("d", DType.F4, new long[]{3}, new byte[2]));
        assertEquals("tensor 'd': 3 elements of F4 are not whole bytes", odd.getMessage());
    }

    /**
     * A sparse 2.5 GiB file of U8: mapping and slicing go past the 2 GB limit of arrays and
     * ByteBuffers, and its element count is past what any Java array holds. Where the file system
     * has no sparse files this writes 2.5 GiB, once.
     */
    @Test
    void filesBeyondTwoGigabytesOpenAndSlice() throws IOException {
        long bytes = 5L << 29; // 2.5 GiB, one byte per element
        byte[] json = pad8(("{\"big\":{\"dtype\":\"U8\",\"shape\":[" + bytes + "],\"data_offsets\":[0," + bytes + "]}}")
                .getBytes(StandardCharsets.UTF_8));
        Path file = dir.resolve("big.safetensors");
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            raf.write(json);
            raf.setLength(8 + json.length + bytes);
            raf.seek(8 + json.length + bytes - 1);
            raf.write(42);
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            MemorySegment big = f.segment("big");
            assertEquals(bytes, big.byteSize());
            assertEquals(42, big.get(ValueLayout.JAVA_BYTE, bytes - 1));
            assertEquals(0, big.get(ValueLayout.JAVA_BYTE, 1L << 31));
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readFloats("big")), "do not fit in a Java array");
            assertMessage(assertThrows(SafetensorsException.class, () -> f.readLongs("big")), "do not fit in a Java array");
        }
    }

    private static byte[] pad8(byte[] json) {
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = java.util.Arrays.copyOf(json, padded);
        java.util.Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    static void assertMessage(Throwable e, String fragment) {
        assertTrue(e.getMessage().contains(fragment), () -> "expected '" + fragment + "' in: " + e.getMessage());
    }
}
