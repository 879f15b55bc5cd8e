package org.densify.benchmarks;

import org.densify.loaders.tokenizer.HuggingFaceTokenizer;
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
import java.util.zip.GZIPInputStream;

/**
 * {@code tokenizer.json} tokenizer throughput on the same IMDb text as {@link TokenizerBenchmark}
 * ({@code tokenizer/imdb-sample.txt}, 205,241 bytes): {@code encode} (piece cache warm after the first
 * operation), {@code decode} of its ids, and {@code load} of the file. Run from the repository root:
 * the default file is Qwen3's under the loaders' test resources; {@code -p tokenizerJson=...} points to
 * another ({@code tokenizer.json} or {@code tokenizer.json.gz}), e.g. Llama 3's after
 * {@code scripts/tokenizer/fetch_llama3.sh}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(2)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HuggingFaceTokenizerBenchmark {
    @Param("loaders/src/test/resources/tokenizer/hf/qwen3/tokenizer.json.gz")
    public String tokenizerJson;

    private byte[] json;
    private HuggingFaceTokenizer tokenizer;
    private String sample;
    private int[] sampleIds;

    @Setup
    public void setup() throws IOException {
        Path file = Path.of(tokenizerJson);
        if (!Files.isRegularFile(file)) {
            throw new IOException(file.toAbsolutePath() + " not found: run from the repository root or pass -p tokenizerJson=FILE");
        }
        try (InputStream in = Files.newInputStream(file)) {
            json = file.toString().endsWith(".gz") ? new GZIPInputStream(in).readAllBytes() : in.readAllBytes();
        }
        tokenizer = load();
        try (InputStream in = HuggingFaceTokenizerBenchmark.class.getResourceAsStream("/tokenizer/imdb-sample.txt")) {
            sample = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        sampleIds = tokenizer.encode(sample);
        System.out.printf("%n%s: sample %,d bytes, %,d ids%n", file, sample.getBytes(StandardCharsets.UTF_8).length,
                sampleIds.length);
    }

    @Benchmark
    public HuggingFaceTokenizer load() throws IOException {
        return HuggingFaceTokenizer.read(json, tokenizerJson, null, null);
    }

    @Benchmark
    public int[] encode() {
        return tokenizer.encode(sample);
    }

    @Benchmark
    public String decode() {
        return tokenizer.decode(sampleIds);
    }
}
