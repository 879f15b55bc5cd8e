package org.densify.loaders.safetensors;

import org.densify.ffm.MappedFile;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * One memory-mapped safetensors file. {@link #open(Path)} maps the file (no copy, any size) and
 * validates the whole header strictly (see {@link SafetensorsHeader}) before anything can be read, so
 * a file that opens has every tensor inside the data region, the region covered exactly, and every
 * byte range matching its shape and dtype. Data may sit at any alignment: all reads use unaligned
 * little-endian layouts.
 *
 * <p>Thread-safe for concurrent reads. Closing unmaps the file; reads afterwards throw
 * {@link IllegalStateException}, as do segments handed out earlier.
 */
public final class SafetensorsFile implements TensorSource {
    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble LE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Destination layout: native order, any alignment (off-heap parameter slices need not be 4-aligned). */
    private static final ValueLayout.OfFloat OUT_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private final Path path;
    private final MappedFile mapped;
    private final SafetensorsHeader header;
    private final MemorySegment data;

    private SafetensorsFile(Path path, MappedFile mapped, SafetensorsHeader header) {
        this.path = path;
        this.mapped = mapped;
        this.header = header;
        this.data = mapped.segment().asSlice(header.dataStart());
    }

    /** Maps and validates {@code path}; any format problem is a {@link SafetensorsException}. */
    public static SafetensorsFile open(Path path) throws IOException {
        MappedFile mapped = MappedFile.open(path);
        try {
            return new SafetensorsFile(path, mapped, SafetensorsHeader.parse(path, mapped.segment()));
        } catch (IOException | RuntimeException | Error e) {
            mapped.close();
            throw e;
        }
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public Map<String, TensorInfo> tensors() {
        return header.tensors();
    }

    @Override
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** Bytes before the data region: the 8-byte length prefix plus the JSON header. */
    public long dataStart() {
        return header.dataStart();
    }

    @Override
    public TensorInfo info(String name) throws SafetensorsException {
        TensorInfo t = header.tensors().get(name);
        if (t == null) throw notFound(path, name, header.tensors().keySet());
        return t;
    }

    @Override
    public MemorySegment segment(String name) throws SafetensorsException {
        TensorInfo t = info(name);
        ensureOpen();
        return data.asSlice(t.begin(), t.byteSize());
    }

    @Override
    public float[] readFloats(String name) throws SafetensorsException {
        TensorInfo t = info(name);
        long n = t.numElements();
        if (n > MAX_ARRAY) {
            throw SafetensorsException.of(path, name, n + " elements do not fit in a Java array; read it with readFloats(name, MemorySegment)");
        }
        float[] out = new float[(int) n];
        convertFloats(t, segment(name), MemorySegment.ofArray(out));
        return out;
    }

    @Override
    public void readFloats(String name, MemorySegment dest) throws SafetensorsException {
        TensorInfo t = info(name);
        if (dest.byteSize() != t.numElements() * Float.BYTES) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has " + t.numElements()
                    + " elements (" + t.numElements() * Float.BYTES + " bytes as F32) but the destination holds "
                    + dest.byteSize() + " bytes");
        }
        convertFloats(t, segment(name), dest);
    }

    @Override
    public long[] readLongs(String name) throws SafetensorsException {
        TensorInfo t = info(name);
        MemorySegment src = segment(name);
        long[] out = new long[checkedArrayLength(t)];
        for (int i = 0; i < out.length; i++) out[i] = integerAt(t, src, i, Long.MIN_VALUE, Long.MAX_VALUE);
        return out;
    }

    @Override
    public int[] readInts(String name) throws SafetensorsException {
        TensorInfo t = info(name);
        MemorySegment src = segment(name);
        int[] out = new int[checkedArrayLength(t)];
        for (int i = 0; i < out.length; i++) out[i] = (int) integerAt(t, src, i, Integer.MIN_VALUE, Integer.MAX_VALUE);
        return out;
    }

    @Override
    public void close() {
        mapped.close();
    }

    private void ensureOpen() {
        if (!mapped.isOpen()) throw new IllegalStateException(path + " is closed");
    }

    private int checkedArrayLength(TensorInfo t) throws SafetensorsException {
        if (!t.dtype().isInteger()) {
            throw SafetensorsException.of(path, t.name(), "dtype " + t.dtype() + " is not an integer type (expected BOOL, U8, I8, I16, U16, I32, U32, I64 or U64)");
        }
        if (t.numElements() > MAX_ARRAY) {
            throw SafetensorsException.of(path, t.name(), t.numElements() + " elements do not fit in a Java array");
        }
        return (int) t.numElements();
    }

    /** Element {@code i} of an integer tensor, range-checked against {@code [min, max]}. */
    private long integerAt(TensorInfo t, MemorySegment s, long i, long min, long max) throws SafetensorsException {
        long v = switch (t.dtype()) {
            case BOOL -> s.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
            case U8 -> Byte.toUnsignedLong(s.get(ValueLayout.JAVA_BYTE, i));
            case I8 -> s.get(ValueLayout.JAVA_BYTE, i);
            case I16 -> s.getAtIndex(LE_SHORT, i);
            case U16 -> Short.toUnsignedLong(s.getAtIndex(LE_SHORT, i));
            case I32 -> s.getAtIndex(LE_INT, i);
            case U32 -> Integer.toUnsignedLong(s.getAtIndex(LE_INT, i));
            case I64 -> s.getAtIndex(LE_LONG, i);
            case U64 -> {
                long u = s.getAtIndex(LE_LONG, i);
                if (u < 0) throw SafetensorsException.of(path, t.name(), "element " + i + " = " + Long.toUnsignedString(u) + " does not fit in a signed 64-bit long");
                yield u;
            }
            default -> throw new AssertionError(t.dtype());
        };
        if (v < min || v > max) {
            throw SafetensorsException.of(path, t.name(), "element " + i + " = " + v + " of " + t.dtype() + " does not fit in an int");
        }
        return v;
    }

    /**
     * Converts {@code src} (the tensor's bytes) into {@code dst} as native floats. F32 is one bulk
     * copy (which byte-swaps only on big-endian hosts); the others convert element by element.
     */
    private void convertFloats(TensorInfo t, MemorySegment src, MemorySegment dst) throws SafetensorsException {
        long n = t.numElements();
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(src, LE_FLOAT, 0, dst, OUT_FLOAT, 0, n);
            case F16 -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(OUT_FLOAT, i, Float.float16ToFloat(src.getAtIndex(LE_SHORT, i)));
            }
            case BF16 -> {
                // bfloat16 is the top half of an IEEE float32.
                for (long i = 0; i < n; i++) dst.setAtIndex(OUT_FLOAT, i, Float.intBitsToFloat(src.getAtIndex(LE_SHORT, i) << 16));
            }
            case F64 -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(OUT_FLOAT, i, (float) src.getAtIndex(LE_DOUBLE, i));
            }
            case F8_E5M2, F8_E4M3, F8_E8M0 -> {
                float[] table = Float8.table(t.dtype());
                for (long i = 0; i < n; i++) dst.setAtIndex(OUT_FLOAT, i, table[src.get(ValueLayout.JAVA_BYTE, i) & 0xFF]);
            }
            case BOOL, U8, I8, I16, U16, I32, U32, I64 -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(OUT_FLOAT, i, (float) integerAt(t, src, i, Long.MIN_VALUE, Long.MAX_VALUE));
            }
            case U64 -> {
                for (long i = 0; i < n; i++) {
                    long u = src.getAtIndex(LE_LONG, i);
                    // Unsigned to float with correct rounding: halve (keeping the sticky bit), convert, double.
                    dst.setAtIndex(OUT_FLOAT, i, u >= 0 ? (float) u : (float) ((u >>> 1) | (u & 1)) * 2f);
                }
            }
            default -> throw SafetensorsException.of(path, t.name(), "dtype " + t.dtype() + " cannot be read as floats");
        }
    }

    /** "tensor 'x': not found; it holds N tensors: ..." listing near names (prefix differences) first. */
    static SafetensorsException notFound(Path file, String name, java.util.Collection<String> names) {
        List<String> near = new ArrayList<>();
        for (String n : names) if (n.endsWith("." + name) || name.endsWith("." + n)) near.add(n);
        List<String> sample = new ArrayList<>(near);
        for (String n : names) {
            if (sample.size() >= 5) break;
            if (!sample.contains(n)) sample.add(n);
        }
        String listed = sample.stream().limit(5).map(n -> "'" + n + "'").collect(Collectors.joining(", "));
        String more = names.size() > Math.min(5, sample.size()) ? ", ..." : "";
        String hint = near.isEmpty() ? "" : " (did you mean '" + near.getFirst() + "'?)";
        return SafetensorsException.of(file, name, "not found" + hint + "; it holds " + names.size()
                + " tensor" + (names.size() == 1 ? "" : "s") + (names.isEmpty() ? "" : ": " + listed + more));
    }

    /** Decoding tables for the 8-bit float types (256 entries each, built once on first use). */
    static final class Float8 {
        private static final float[] E5M2 = new float[256], E4M3 = new float[256], E8M0 = new float[256];

        static {
            for (int b = 0; b < 256; b++) {
                // E5M2 is the top byte of an IEEE half.
                E5M2[b] = Float.float16ToFloat((short) (b << 8));
                // E4M3 "fn" (PyTorch float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN.
                int exp = (b >>> 3) & 0xF, man = b & 7;
                float mag = (exp == 0xF && man == 7) ? Float.NaN
                        : exp == 0 ? man / 8f * 0x1p-6f
                        : (1 + man / 8f) * (float) Math.pow(2, exp - 7);
                E4M3[b] = (b & 0x80) != 0 ? -mag : mag;
                // E8M0 (MX scale): 2^(b-127), 0xFF is NaN.
                E8M0[b] = b == 0xFF ? Float.NaN : (float) Math.pow(2, b - 127);
            }
        }

        static float[] table(DType t) {
            return switch (t) {
                case F8_E5M2 -> E5M2;
                case F8_E4M3 -> E4M3;
                case F8_E8M0 -> E8M0;
                default -> throw new IllegalArgumentException(t.toString());
            };
        }

        private Float8() {
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + header.tensors().size() + " tensors]";
    }
}
