package org.densify.benchmarks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.densify.core.model.Heads;
import org.densify.benchmarks.torch.PeerAgreement;
import org.densify.benchmarks.torch.TorchGpt2;
import org.densify.benchmarks.torch.TorchRuntime;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.gpt2.Gpt2Model;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The whole model at GPT-2 124M shape (12 layers, d 768, 12 heads, vocab 50257, random weights)
 * against its PyTorch 2.7 peer ({@link TorchGpt2}: libtorch 2.7.1 through DJL) on the same weights
 * and tokens, both sides at {@link #threads} threads. Each Densify benchmark has a {@code torch}
 * twin doing the same work:
 * <ul>
 *   <li>{@code forward}: B 1, T 256, logits of every position; {@code forwardNoHead} without the LM head;</li>
 *   <li>{@code forwardBatch}: B 8, T 128, logits of every position;</li>
 *   <li>{@code forwardBackward}: forward, mean next-token loss and the backward into every parameter
 *       gradient (B 1, T 256);</li>
 *   <li>{@code trainStep}: {@code forwardBackward} plus gradient-norm clipping and an AdamW step;</li>
 *   <li>{@code generate}: 16 prompts of 16 tokens, 64 sampled tokens each with the KV cache
 *       (tokens/s = 1024 / seconds), sampling in Java with Densify's {@link Sampler} on both sides.</li>
 * </ul>
 * Before anything is timed, every fork checks that the two compute the same losses on the same
 * weights ({@link PeerAgreement#check}, B 1 T 256, relative difference under 1e-4) and fails
 * otherwise; then the side not being timed is closed.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-XX:MaxDirectMemorySize=8g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
public class ModelBenchmark {
    private static final int SEQUENCES = 16, PROMPT = 16, NEW_TOKENS = 64;

    /** Threads on both sides: Densify's {@code densify.threads}, libtorch's intra-op pool (inter-op 1). */
    @Param("2")
    public int threads;

    private Backend backend;
    private Gpt2Model model;
    private AdamW adamW;
    private NDManager manager;
    private TorchGpt2 peer;
    private int[][] single, batch8;
    private Batch singleBatch, batch8Batch;
    private NDArray singleTokens, batch8Tokens;
    private int[][] prompts;
    private final PeerAgreement.Optimizer optimizer = PeerAgreement.Optimizer.PRETRAINING;

    @Setup
    public void setUp(BenchmarkParams params) {
        System.setProperty("densify.threads", Integer.toString(threads));
        backend = Backends.create("cpu");
        Gpt2Config config = Gpt2Config.builder().vocabSize(50257).nPositions(1024).nEmbd(768).nLayer(12).nHead(12)
                .kind(ModelKind.LM).build();
        model = Gpt2Model.create(backend, config, Heads.NONE);
        model.initialize(1);
        adamW = optimizer.densify(model);
        manager = TorchRuntime.start(threads);
        peer = new TorchGpt2(manager, model);

        SplittableRandom r = new SplittableRandom(2);
        single = new int[][] {r.ints(256, 0, 50257).toArray()};
        batch8 = new int[8][];
        for (int s = 0; s < 8; s++) batch8[s] = r.ints(128, 0, 50257).toArray();
        prompts = new int[SEQUENCES][];
        for (int s = 0; s < SEQUENCES; s++) prompts[s] = r.ints(PROMPT, 0, 50257).toArray();
        singleBatch = Batch.of(single);
        batch8Batch = Batch.of(batch8);

        PeerAgreement.Losses losses = PeerAgreement.check(model, adamW, peer, single, optimizer);
        System.out.println("PyTorch peer: " + TorchRuntime.describe() + "; Densify " + threads + " threads");
        System.out.println("Peer check (GPT-2 124M, B 1, T 256) passed: " + losses);

        boolean timesTorch = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1).startsWith("torch");
        if (timesTorch) {
            adamW.close();
            model.close();
            adamW = null;
            model = null;
            singleTokens = peer.tokens(single);
            batch8Tokens = peer.tokens(batch8);
            NDScope.unregister(singleTokens, batch8Tokens);
        } else {
            peer.close();
            peer = null;
        }
    }

    @TearDown
    public void tearDown() {
        if (peer != null) peer.close();
        if (singleTokens != null) singleTokens.close();
        if (batch8Tokens != null) batch8Tokens.close();
        manager.close();
        if (adamW != null) adamW.close();
        if (model != null) model.close();
        backend.close();
    }

    // ---- Densify --------------------------------------------------------------------------------

    @Benchmark
    public Outputs forward() {
        return model.forward(singleBatch, ForwardOptions.forInference());
    }

    @Benchmark
    public Outputs forwardNoHead() {
        return model.forward(singleBatch, ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE));
    }

    @Benchmark
    public Outputs forwardBatch() {
        return model.forward(batch8Batch, ForwardOptions.forInference());
    }

    @Benchmark
    public double forwardBackward() {
        model.zeroGradients();
        Outputs out = model.forward(singleBatch, ForwardOptions.forTraining());
        double loss = model.languageModelLoss(out);
        model.backward(out, null, null);
        backend.synchronize();
        return loss;
    }

    @Benchmark
    public double trainStep() {
        double loss = forwardBackward();
        optimizer.step(adamW);
        backend.synchronize();
        return loss;
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @Warmup(iterations = 1)
    @Measurement(iterations = 3)
    public Generator.Result generate() {
        int[] maxNew = new int[SEQUENCES];
        Arrays.fill(maxNew, NEW_TOKENS);
        return new Generator(model).generate(prompts, maxNew, Sampler.multinomial(), 3, -1, null);
    }

    // ---- PyTorch 2.7 ------------------------------------------------------------------------------

    private static float firstValue(NDArray a) {
        return a.getFloat(0, 0, 0);
    }

    @Benchmark
    public float torchForward() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return firstValue(peer.logits(singleTokens));
        }
    }

    @Benchmark
    public float torchForwardNoHead() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return firstValue(peer.hidden(singleTokens));
        }
    }

    @Benchmark
    public float torchForwardBatch() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return firstValue(peer.logits(batch8Tokens));
        }
    }

    @Benchmark
    public double torchForwardBackward() {
        return peer.forwardBackward(single);
    }

    @Benchmark
    public double torchTrainStep() {
        double loss = peer.forwardBackward(single);
        optimizer.step(peer);
        return loss;
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @Warmup(iterations = 1)
    @Measurement(iterations = 3)
    public int[][] torchGenerate() {
        return peer.generate(prompts, NEW_TOKENS, Sampler.multinomial(), 3);
    }
}
