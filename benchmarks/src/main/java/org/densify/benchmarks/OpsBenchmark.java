package org.densify.benchmarks;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The non-GEMM ops of one GPT-2 124M layer at T = 256 (C = 768, 12 heads), forward and backward,
 * plus the vocabulary-wide cross-entropy and an AdamW step over 10M parameters. {@code GemmBenchmark}
 * covers the matrix multiplies. Run with {@code -p device=scalar} to see what the Vector API buys.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class OpsBenchmark {
    static final int C = 768, NH = 12, V = 50257, ADAM_PARAMS = 10_000_000;

    @Param("cpu")
    public String device;

    @Param("256")
    public int T;

    private Backend b;
    private int[] seq, tokens, positions, targets;
    private Tensor x, y, dx, mean, rstd, w, bias, qkv, att, out, dqkv, row, h, hOut, dh, logits, dlogits, losses;
    private Tensor params, grads, m, v, wte, wpe;

    private Tensor random(long n, SplittableRandom r, double scale) {
        Tensor t = b.allocate(n);
        float[] chunk = new float[(int) Math.min(n, 1 << 20)];
        for (long at = 0; at < n; at += chunk.length) {
            int len = (int) Math.min(chunk.length, n - at);
            for (int i = 0; i < len; i++) chunk[i] = (float) (r.nextGaussian() * scale);
            b.write(t, at, len == chunk.length ? chunk : java.util.Arrays.copyOf(chunk, len));
        }
        return t;
    }

    @Setup
    public void setUp() {
        b = Backends.create(device);
        SplittableRandom r = new SplittableRandom(1);
        long N = T, NC = N * C;
        seq = new int[]{T};
        tokens = r.ints(T, 0, V).toArray();
        positions = java.util.stream.IntStream.range(0, T).toArray();
        targets = r.ints(T, 0, V).toArray();
        x = random(NC, r, 1);
        y = b.allocate(NC);
        dx = b.allocate(NC);
        mean = b.allocate(N);
        rstd = b.allocate(N);
        w = random(C, r, 1);
        bias = random(C, r, 0.1);
        qkv = random(3 * NC, r, 1);
        att = b.allocate((long) NH * T * T);
        out = b.allocate(NC);
        dqkv = b.allocate(3 * NC);
        row = b.allocate(N);
        h = random(4 * NC, r, 1);
        hOut = b.allocate(4 * NC);
        dh = b.allocate(4 * NC);
        logits = random(N * V, r, 2);
        dlogits = b.allocate(N * V);
        losses = b.allocate(N);
        wte = random((long) V * C, r, 0.02);
        wpe = random(1024L * C, r, 0.02);
        params = random(ADAM_PARAMS, r, 0.02);
        grads = random(ADAM_PARAMS, r, 0.001);
        m = b.allocate(ADAM_PARAMS);
        v = b.allocate(ADAM_PARAMS);
        b.attentionForward(out, att, null, qkv, seq, NH, C);
    }

    @TearDown
    public void tearDown() {
        b.close();
    }

    @Benchmark
    public Tensor embeddingForward() {
        b.embeddingForward(y, tokens, positions, wte, wpe, C);
        return y;
    }

    @Benchmark
    public Tensor layerNormForward() {
        b.layerNormForward(y, mean, rstd, x, w, bias, T, C, 1e-5f);
        return y;
    }

    @Benchmark
    public Tensor layerNormBackward() {
        b.layerNormBackward(dx, w, bias, y, x, w, mean, rstd, T, C);
        return dx;
    }

    @Benchmark
    public Tensor geluForward() {
        b.geluForward(hOut, h, 4L * T * C);
        return hOut;
    }

    @Benchmark
    public Tensor geluBackward() {
        b.geluBackward(dh, h, hOut, 4L * T * C);
        return dh;
    }

    @Benchmark
    public Tensor attentionForward() {
        b.attentionForward(out, att, null, qkv, seq, NH, C);
        return out;
    }

    @Benchmark
    public Tensor attentionForwardCaptureLastRow() {
        b.attentionForward(out, att, row, qkv, seq, NH, C);
        return out;
    }

    @Benchmark
    public Tensor attentionForwardNoMaps() {
        b.attentionForward(out, null, null, qkv, seq, NH, C);
        return out;
    }

    @Benchmark
    public Tensor attentionBackward() {
        b.attentionBackward(dqkv, out, qkv, att, seq, NH, C);
        return dqkv;
    }

    @Benchmark
    public Tensor residualAdd() {
        b.add(y, x, out, (long) T * C);
        return y;
    }

    @Benchmark
    public Tensor crossEntropyWithGradient() {
        b.crossEntropy(losses, dlogits, logits, targets, 1f / T, T, V);
        return losses;
    }

    @Benchmark
    public Tensor adamW10M() {
        b.adamW(params, grads, m, v, ADAM_PARAMS, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, 10, 1f);
        return params;
    }
}
