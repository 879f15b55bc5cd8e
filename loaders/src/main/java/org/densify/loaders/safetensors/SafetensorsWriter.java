package org.densify.loaders.safetensors;

import org.densify.loaders.io.AtomicFiles;
import org.densify.loaders.io.StrictJson;
import com.fasterxml.jackson.core.JsonGenerator;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Collects tensors and writes one safetensors file laid out as the reference library
 * ({@code safetensors.torch.save_file}) lays it out:
 * <ul>
 *   <li>tensors sorted by dtype <em>descending</em> in {@link DType} order (the reference's
 *       "alignment" order: 8-byte types first, then 4, 2, 1, sub-byte), then by name compared as
 *       UTF-8 bytes (the reference sorts Rust {@code String}s, which compare bytewise; Java's
 *       {@code compareTo} would differ for supplementary characters), so that each tensor starts at
 *       a multiple of its element size;</li>
 *   <li>compact JSON header: {@code __metadata__} first (when any was set, keys sorted here by
 *       UTF-8 bytes where the reference's order is a hash map's), then the entries in data order, each as
 *       {@code {"dtype":..,"shape":[..],"data_offsets":[b,e]}};</li>
 *   <li>the header padded with spaces to a multiple of 8 bytes, so data starts 8-aligned.</li>
 * </ul>
 * The file is written atomically ({@link AtomicFiles}): a failure midway — including a data source
 * that throws — leaves no partial file and an existing file under the target name intact.
 *
 * <p>Data given as a {@link MemorySegment} is read at {@link #write(Path)} time, not copied when
 * added: keep it alive until then. Not thread-safe.
 */
public final class SafetensorsWriter {
    private static final int CHUNK = 1 << 20;

    /** One tensor: its bytes come from {@code src}, read as elements of {@code srcLayout}. */
    private record Entry(String name, DType dtype, long[] shape, MemorySegment src, ValueLayout srcLayout) {
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new TreeMap<>(UTF8_ORDER);

    /** Adds a {@code __metadata__} entry (a string map in the format); both must be valid Unicode. */
    public SafetensorsWriter metadata(String key, String value) {
        requireUnicode("__metadata__ key", key);
        requireUnicode("__metadata__ value of '" + key + "'", value);
        metadata.put(key, value);
        return this;
    }

    public SafetensorsWriter metadata(Map<String, String> entries) {
        entries.forEach(this::metadata);
        return this;
    }

    /** Adds a tensor from its raw little-endian bytes. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, byte[] littleEndianBytes) {
        return add(name, dtype, shape, MemorySegment.ofArray(littleEndianBytes));
    }

    /** Adds a tensor whose raw little-endian bytes are {@code littleEndianBytes} (read at write time). */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, MemorySegment littleEndianBytes) {
        return put(new Entry(name, dtype, shape.clone(), littleEndianBytes, ValueLayout.JAVA_BYTE));
    }

    /** Adds an F32 tensor. */
    public SafetensorsWriter add(String name, long[] shape, float[] values) {
        return put(new Entry(name, DType.F32, shape.clone(), MemorySegment.ofArray(values), ValueLayout.JAVA_FLOAT));
    }

    /** Adds an F32 tensor from native-order floats, e.g. a slice of an off-heap parameter block. */
    public SafetensorsWriter addFloats(String name, long[] shape, MemorySegment nativeFloats) {
        return put(new Entry(name, DType.F32, shape.clone(), nativeFloats, ValueLayout.JAVA_FLOAT_UNALIGNED));
    }

    /** Adds an I32 tensor. */
    public SafetensorsWriter add(String name, long[] shape, int[] values) {
        return put(new Entry(name, DType.I32, shape.clone(), MemorySegment.ofArray(values), ValueLayout.JAVA_INT));
    }

    /** Adds an I64 tensor. */
    public SafetensorsWriter add(String name, long[] shape, long[] values) {
        return put(new Entry(name, DType.I64, shape.clone(), MemorySegment.ofArray(values), ValueLayout.JAVA_LONG));
    }

    /** Names added so far. */
    public List<String> names() {
        return List.copyOf(entries.keySet());
    }

    private SafetensorsWriter put(Entry e) {
        if (e.name.equals(SafetensorsHeader.METADATA_KEY)) throw new IllegalArgumentException("'__metadata__' is reserved, not a tensor name");
        requireUnicode("tensor name", e.name);
        if (entries.containsKey(e.name)) throw new IllegalArgumentException("tensor '" + e.name + "' added twice");
        long bytes = byteSize(e.name, e.dtype, e.shape);
        if (e.src.byteSize() != bytes) {
            throw new IllegalArgumentException("tensor '" + e.name + "': shape " + TensorInfo.shapeString(e.shape) + " of "
                    + e.dtype + " needs " + bytes + " bytes but the data holds " + e.src.byteSize());
        }
        entries.put(e.name, e);
        return this;
    }

    private static long byteSize(String name, DType dtype, long[] shape) {
        long n, bits;
        try {
            n = TensorInfo.elementCount(shape);
            bits = Math.multiplyExact(n, dtype.bits());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + TensorInfo.shapeString(shape) + " of " + dtype
                    + " has too many elements (the byte size overflows 64 bits)", e);
        } catch (IllegalArgumentException e) { // a negative dimension
            throw new IllegalArgumentException("tensor '" + name + "': " + e.getMessage(), e);
        }
        if (bits % 8 != 0) throw new IllegalArgumentException("tensor '" + name + "': " + n + " elements of " + dtype + " are not whole bytes");
        return bits / 8;
    }

    /**
     * Orders strings as Rust orders {@code String}s, by their UTF-8 bytes — which is code point
     * order. {@link String#compareTo} compares UTF-16 units instead, and the two disagree when a
     * supplementary character (a surrogate pair, U+D800-U+DFFF as units) meets U+E000-U+FFFF.
     */
    static final Comparator<String> UTF8_ORDER = (a, b) -> {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i), cb = b.codePointAt(j);
            if (ca != cb) return Integer.compare(ca, cb);
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    /** Text the header holds must encode as UTF-8: no unpaired surrogate (readers decode strictly). */
    private static void requireUnicode(String what, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(what + " holds an unpaired surrogate U+" + Integer.toHexString(c).toUpperCase(java.util.Locale.ROOT)
                        + " at index " + i + " (not valid Unicode, cannot be written as UTF-8)");
            }
        }
    }

    /** The tensors in file order: dtype descending, then name in UTF-8 byte order (see the class comment). */
    private List<Entry> ordered() {
        List<Entry> list = new ArrayList<>(entries.values());
        list.sort(Comparator.comparing((Entry e) -> e.dtype).reversed().thenComparing(Entry::name, UTF8_ORDER));
        return list;
    }

    /** The header bytes (JSON plus padding) for tensors in {@code order}, as they will appear after the 8-byte length. */
    private byte[] header(List<Entry> order) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = StrictJson.MAPPER.createGenerator(out)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(SafetensorsHeader.METADATA_KEY);
                for (Map.Entry<String, String> m : metadata.entrySet()) g.writeStringField(m.getKey(), m.getValue());
                g.writeEndObject();
            }
            long offset = 0;
            for (Entry e : order) {
                long end = offset + e.src.byteSize();
                g.writeObjectFieldStart(e.name);
                g.writeStringField("dtype", e.dtype.name());
                g.writeArrayFieldStart("shape");
                for (long d : e.shape) g.writeNumber(d);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(end);
                g.writeEndArray();
                g.writeEndObject();
                offset = end;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // in-memory: cannot happen
        }
        while (out.size() % 8 != 0) out.write(' ');
        return out.toByteArray();
    }

    /** Writes the file atomically, replacing {@code target} if it exists. */
    public void write(Path target) throws IOException {
        List<Entry> order = ordered();
        byte[] header = header(order);
        if (header.length > SafetensorsHeader.MAX_HEADER_SIZE) {
            throw new IllegalStateException("header of " + header.length + " bytes exceeds the format's 100,000,000-byte limit");
        }
        AtomicFiles.write(target, ch -> {
            Sink sink = new Sink(ch);
            sink.put(MemorySegment.ofArray(new long[]{header.length}), ValueLayout.JAVA_LONG);
            sink.put(MemorySegment.ofArray(header), ValueLayout.JAVA_BYTE);
            for (Entry e : order) sink.put(e.src, e.srcLayout);
            sink.flush();
        });
    }

    /**
     * A 1 MiB staging buffer in front of the channel: elements are copied in as little-endian (a
     * plain copy on little-endian hosts), and small tensors share one write call.
     */
    private static final class Sink {
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        private final MemorySegment staging = MemorySegment.ofBuffer(buf);
        private int filled;

        Sink(FileChannel ch) {
            this.ch = ch;
        }

        void put(MemorySegment src, ValueLayout layout) throws IOException {
            long elem = layout.byteSize(), count = src.byteSize() / elem;
            ValueLayout le = layout.withOrder(ByteOrder.LITTLE_ENDIAN).withByteAlignment(1);
            for (long i = 0; i < count; ) {
                if (CHUNK - filled < elem) flush();
                long n = Math.min(count - i, (CHUNK - filled) / elem);
                MemorySegment.copy(src, layout, i * elem, staging, le, filled, n);
                filled += (int) (n * elem);
                i += n;
            }
        }

        void flush() throws IOException {
            buf.limit(filled).position(0);
            AtomicFiles.writeFully(ch, buf);
            buf.clear();
            filled = 0;
        }
    }
}
