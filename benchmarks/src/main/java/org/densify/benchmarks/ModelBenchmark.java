package org.densify.benchmarks;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
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
 * The whole model at GPT-2 124M shape (12 layers, d 768, 12 heads, vocab 50257, random weights),
 * the same work as {@code benchmarks/compare/torch_peer.py}:
 * <ul>
 *   <li>{@code forward}: B = 1, T = 256, logits of every position;</li>
 *   <li>{@code forwardNoHead}: the same without the LM head;</li>
 *   <li>{@code forwardCaptureLastRow}: {@code forwardNoHead} plus the captured last attention row
 *       (Attention Based Credit's input); its extra time over {@code forwardNoHead} is the capture's cost;</li>
 *   <li>{@code forwardBackward}: forward, mean next-token loss and the backward into every parameter gradient;</li>
 *   <li>{@code generate}: 16 prompts of 16 tokens, 64 sampled tokens each with the KV cache
 *       (tokens/s = 1024 / seconds).</li>
 * </ul>
 * Run with {@code -p device=cpu} (default) or another device name of {@code Backends.create}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:MaxDirectMemorySize=8g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
public class ModelBenchmark {
    @Param("cpu")
    public String device;

    @Param("256")
    public int T;

    private Backend backend;
    private Gpt2Model model;
    private Batch batch;
    private int[][] prompts;

    @Setup
    public void setUp() {
        backend = Backends.create(device);
        Gpt2Config config = Gpt2Config.builder().vocabSize(50257).nPositions(1024).nEmbd(768).nLayer(12).nHead(12)
                .kind(ModelKind.LM).build();
        model = Gpt2Model.create(backend, config, Gpt2Model.Heads.NONE);
        model.initialize(1);
        SplittableRandom r = new SplittableRandom(2);
        batch = Batch.of(r.ints(T, 0, 50257).toArray());
        prompts = new int[16][];
        for (int s = 0; s < 16; s++) prompts[s] = r.ints(16, 0, 50257).toArray();
    }

    @TearDown
    public void tearDown() {
        model.close();
        backend.close();
    }

    @Benchmark
    public Outputs forward() {
        return model.forward(batch, ForwardOptions.forInference());
    }

    @Benchmark
    public Outputs forwardNoHead() {
        return model.forward(batch, ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE));
    }

    @Benchmark
    public float[][] forwardCaptureLastRow() {
        Outputs out = model.forward(batch, new ForwardOptions(ForwardOptions.Logits.NONE, ForwardOptions.Capture.LAST_ROW, false));
        return out.lastRowAttention();
    }

    @Benchmark
    public double forwardBackward() {
        model.zeroGradients();
        Outputs out = model.forward(batch, ForwardOptions.forTraining());
        double loss = model.languageModelLoss(out);
        model.backward(out, null, null);
        backend.synchronize();
        return loss;
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @Warmup(iterations = 1)
    @Measurement(iterations = 3)
    public Generator.Result generate() {
        int[] maxNew = new int[16];
        java.util.Arrays.fill(maxNew, 64);
        return new Generator(model).generate(prompts, maxNew, Sampler.multinomial(), 3, -1, null);
    }
}
