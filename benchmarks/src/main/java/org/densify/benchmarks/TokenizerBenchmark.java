package org.densify.benchmarks;

import org.densify.loaders.tokenizer.Gpt2Tokenizer;
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
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * GPT-2 tokenizer throughput on IMDb reviews ({@code tokenizer/imdb-sample.txt}, 205,241 bytes of
 * reviews the tests do not use). MB/s = bytes per op / (ms/op) / 1e3:
 * <ul>
 *   <li>{@code encodeWarm}: the sample repeated 10 times (2,052,410 bytes), piece cache already warm;</li>
 *   <li>{@code encodeFreshCache}: the sample once with a new, empty cache, as a first pass over a corpus;</li>
 *   <li>{@code encodeNoCache}: the sample once with no cache: every piece goes through the merges;</li>
 *   <li>{@code decode}: the sample's 47k ids back to text.</li>
 * </ul>
 * Run from the repository root: the GPT-2 files are read from the loaders' test resources
 * ({@code -p gpt2Dir=...} to point elsewhere). The peer is {@code benchmarks/tokenizer/peer_gpt3_encoder.js}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(2)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class TokenizerBenchmark {
    static final int REPEAT = 10;

    @Param("loaders/src/test/resources/tokenizer/gpt2")
    public String gpt2Dir;

    private Gpt2Tokenizer warm, base;
    private String sample, repeated;
    private int[] sampleIds;

    @Setup
    public void setup() throws IOException {
        Path dir = Path.of(gpt2Dir);
        if (!Files.isDirectory(dir)) {
            throw new IOException(dir.toAbsolutePath() + " not found: run from the repository root or pass -p gpt2Dir=DIR");
        }
        base = Gpt2Tokenizer.load(dir);
        try (InputStream in = TokenizerBenchmark.class.getResourceAsStream("/tokenizer/imdb-sample.txt")) {
            sample = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        repeated = sample.repeat(REPEAT);
        warm = base.withCacheCapacity(Gpt2Tokenizer.DEFAULT_CACHE_CAPACITY);
        warm.encode(sample);
        sampleIds = base.encode(sample);
        System.out.printf("%nsample: %,d bytes, %,d ids; repeated: %,d bytes%n",
                sample.getBytes(StandardCharsets.UTF_8).length, sampleIds.length,
                repeated.getBytes(StandardCharsets.UTF_8).length);
    }

    @Benchmark
    public int[] encodeWarm() {
        return warm.encode(repeated);
    }

    @Benchmark
    public int[] encodeFreshCache() {
        return base.withCacheCapacity(Gpt2Tokenizer.DEFAULT_CACHE_CAPACITY).encode(sample);
    }

    @Benchmark
    public int[] encodeNoCache() {
        return base.withCacheCapacity(0).encode(sample);
    }

    @Benchmark
    public String decode() {
        return base.decode(sampleIds);
    }
}
