package org.densify.benchmarks;

import org.densify.core.cpu.CpuThreads;
import org.densify.core.cpu.Gemm;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * {@link Gemm} on GPT-2 124M's shapes; GFLOP/s = 2 M N K / (ms/op) / 1e6.
 * A shape is {@code MxKxN} with an optional layout suffix, the same strings as the numpy/OpenBLAS
 * peer {@code benchmarks/compare/gemm_peer.py} (run both with {@code benchmarks/compare/compare_gemm.sh}):
 * <ul>
 *   <li>none: forward {@code X[M,K] @ W[K,N]} (Conv1D weights stored [in, out]), overwriting c;</li>
 *   <li>{@code :NT}: times a stored [N, K] matrix transposed, overwriting c (backward dX = dY W^T,
 *       the LM head X wte^T);</li>
 *   <li>{@code :TN}: a stored [K, M] matrix transposed times [K, N], accumulated into c
 *       (dW += X^T dY, d wte += dlogits^T X).</li>
 * </ul>
 * The 9 forward shapes at M = 256 tokens, the backward shapes of c_attn/c_fc/c_proj and the LM head,
 * and generation steps with M = 16 sequences; {@code 2048x2048x2048}, a large square multiply, is
 * the machine's measured GEMM peak (the limit row of every table).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(2)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GemmBenchmark {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    @Param({"256x768x768", "256x768x2304", "256x768x3072",
            "256x2304x768", "256x2304x2304", "256x2304x3072",
            "256x3072x768", "256x3072x2304", "256x3072x3072",
            "256x3072x768:NT", "256x768x2304:NT", "768x256x3072:TN", "3072x256x768:TN",
            "256x768x50257:NT", "50257x256x768:TN",
            "16x768x2304", "16x768x3072", "16x3072x768", "16x768x50257:NT",
            "2048x2048x2048"})
    public String shape;

    @Param("2")
    public int threads;

    private Arena arena;
    private Gemm gemm;
    private MemorySegment a, b, c;
    private int m, n, k;
    private boolean transA, transB;

    @Setup(Level.Trial)
    public void setup() {
        String[] dims = shape.split(":")[0].split("x");
        m = Integer.parseInt(dims[0]);
        k = Integer.parseInt(dims[1]);
        n = Integer.parseInt(dims[2]);
        transA = shape.endsWith(":TN");
        transB = shape.endsWith(":NT");
        arena = Arena.ofShared();
        a = random(arena, (long) m * k, 1);
        b = random(arena, (long) k * n, 2);
        c = random(arena, (long) m * n, 3);
        gemm = new Gemm(new CpuThreads(threads));
    }

    private static MemorySegment random(Arena arena, long length, long seed) {
        MemorySegment s = arena.allocate(length * Float.BYTES, 64);
        var r = new SplittableRandom(seed);
        for (long i = 0; i < length; i++) s.setAtIndex(F, i, (float) r.nextDouble(-1, 1));
        return s;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment multiply() {
        gemm.multiply(c, a, b, null, m, n, k, transA, transB, transA);
        return c;
    }
}
