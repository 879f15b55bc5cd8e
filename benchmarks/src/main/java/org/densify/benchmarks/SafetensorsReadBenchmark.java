package org.densify.benchmarks;

import org.densify.loaders.safetensors.SafetensorsFile;
import org.densify.loaders.safetensors.SafetensorsWriter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Reading a 256 MiB F32 safetensors file from a warm page cache (16 tensors of 16 MiB). Each
 * benchmark moves the whole data region once, so GB/s = 268,435,456 B / (ms/op) / 1e6.
 * <ul>
 *   <li>{@code readFloats}: the API most callers use, a fresh {@code float[]} per tensor;</li>
 *   <li>{@code readFloatsIntoOffHeap}: into one preallocated off-heap block, as a parameter load does;</li>
 *   <li>{@code openAndReadIntoOffHeap}: the same from a fresh {@code open} each time, so the cost of
 *       faulting in a new mapping (what a real model load pays) is included;</li>
 *   <li>{@code segmentSum}: a plain scalar loop summing the mapped floats in place (no copy);</li>
 *   <li>peers: {@code peerFileChannelRead} ({@code FileChannel.read} of the file into a direct
 *       {@code ByteBuffer}) and {@code peerMemcpy} (off-heap to off-heap copy of the same size).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
// A fixed, pre-touched heap: otherwise growing the heap for readFloats' fresh 16 MiB arrays costs
// page faults that dwarf the copy (about 1.1 s per 256 MiB on the reference VM), measuring the VM.
@Fork(value = 2, jvmArgsAppend = {"-Xms3g", "-Xmx3g", "-XX:+AlwaysPreTouch"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class SafetensorsReadBenchmark {
    static final int TENSORS = 16;
    static final int FLOATS_PER_TENSOR = 4 << 20; // 16 MiB each, 256 MiB in all
    static final long DATA_BYTES = (long) TENSORS * FLOATS_PER_TENSOR * Float.BYTES;

    private Path dir, file;
    private SafetensorsFile st;
    private String[] names;
    private Arena arena;
    private MemorySegment block, source;
    private ByteBuffer direct;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        dir = Files.createTempDirectory("densify-st-bench");
        file = dir.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        SplittableRandom r = new SplittableRandom(1);
        names = new String[TENSORS];
        for (int t = 0; t < TENSORS; t++) {
            float[] v = new float[FLOATS_PER_TENSOR];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextDouble(-1, 1);
            names[t] = "h." + t + ".weight";
            w.add(names[t], new long[]{2048, FLOATS_PER_TENSOR / 2048}, v);
        }
        w.write(file);
        st = SafetensorsFile.open(file);
        arena = Arena.ofShared();
        block = arena.allocate(DATA_BYTES, 64);
        source = arena.allocate(DATA_BYTES, 64);
        direct = ByteBuffer.allocateDirect((int) Math.min(Integer.MAX_VALUE, Files.size(file)));
        peerFileChannelRead(); // warm the page cache
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        st.close();
        arena.close();
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public void readFloats(Blackhole bh) throws IOException {
        for (String n : names) bh.consume(st.readFloats(n));
    }

    @Benchmark
    public void readFloatsIntoOffHeap() throws IOException {
        long bytes = (long) FLOATS_PER_TENSOR * Float.BYTES;
        for (int t = 0; t < TENSORS; t++) st.readFloats(names[t], block.asSlice(t * bytes, bytes));
    }

    @Benchmark
    public void openAndReadIntoOffHeap() throws IOException {
        long bytes = (long) FLOATS_PER_TENSOR * Float.BYTES;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (int t = 0; t < TENSORS; t++) f.readFloats(names[t], block.asSlice(t * bytes, bytes));
        }
    }

    @Benchmark
    public double segmentSum() throws IOException {
        double total = 0;
        for (String n : names) total += sum(st.segment(n));
        return total;
    }

    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Its own method so C2 compiles the loop as a whole method, not only through on-stack replacement. */
    private static float sum(MemorySegment s) {
        float sum = 0;
        for (long i = 0, count = s.byteSize() / Float.BYTES; i < count; i++) sum += s.getAtIndex(LE, i);
        return sum;
    }

    @Benchmark
    public ByteBuffer peerFileChannelRead() throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            direct.clear();
            while (direct.hasRemaining() && ch.read(direct) >= 0) {
                // keep reading until the buffer is full or the file ends
            }
        }
        return direct;
    }

    @Benchmark
    public MemorySegment peerMemcpy() {
        MemorySegment.copy(source, 0, block, 0, DATA_BYTES);
        return block;
    }
}
