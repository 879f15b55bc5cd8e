package org.densify.benchmarks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.densify.benchmarks.torch.PeerAgreement;
import org.densify.benchmarks.torch.TorchLlama;
import org.densify.benchmarks.torch.TorchRuntime;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.Heads;
import org.densify.core.model.Outputs;
import org.densify.core.model.Sampler;
import org.densify.core.model.llama.LlamaModel;
import org.densify.loaders.model.LlamaConfig;
import org.densify.loaders.model.ModelFormatException;
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
 * The Llama engine at SmolLM2-135M's shape (30 layers, d 576, 9 query heads sharing 3 key/value
 * heads, intermediate 1536, vocab 49152, tied embeddings, rope_theta 1e5, RMSNorm eps 1e-5; random
 * weights) against its PyTorch 2.7 peer ({@link TorchLlama}: libtorch 2.7.1 through DJL) on the
 * same weights and tokens, both sides at {@link #threads} threads. Each Densify benchmark has a
 * {@code torch} twin doing the same work:
 * <ul>
 *   <li>{@code forward}: B 1, T 256, logits of every position;</li>
 *   <li>{@code forwardBackward}: forward, mean next-token loss and the backward into every parameter
 *       gradient (B 1, T 256);</li>
 *   <li>{@code generate}: 16 prompts of 16 tokens, 64 sampled tokens each with the KV cache
 *       (multinomial, temperature 1; tokens/s = 1024 / seconds), sampling in Java with Densify's
 *       {@link Sampler} on both sides.</li>
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
public class LlamaModelBenchmark {
    private static final int SEQUENCES = 16, PROMPT = 16, NEW_TOKENS = 64, LENGTH = 256;

    /** SmolLM2-135M's config.json, the fields the engine reads. */
    static final String SMOLLM2_135M = """
            {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
             "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
             "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": true,
             "hidden_act": "silu"}""";

    /** Threads on both sides: Densify's {@code densify.threads}, libtorch's intra-op pool (inter-op 1). */
    @Param("2")
    public int threads;

    private Backend backend;
    private LlamaModel model;
    private AdamW adamW;
    private NDManager manager;
    private TorchLlama peer;
    private int[][] single;
    private Batch singleBatch;
    private NDArray singleTokens;
    private int[][] prompts;
    private final PeerAgreement.Optimizer optimizer = PeerAgreement.Optimizer.PRETRAINING;

    @Setup
    public void setUp(BenchmarkParams params) throws ModelFormatException {
        System.setProperty("densify.threads", Integer.toString(threads));
        backend = Backends.create("cpu");
        LlamaConfig config = LlamaConfig.parse(SMOLLM2_135M, "SmolLM2-135M's shape");
        model = LlamaModel.create(backend, config, Heads.NONE);
        model.initialize(1);
        adamW = optimizer.densify(model);
        manager = TorchRuntime.start(threads);
        peer = new TorchLlama(manager, model);

        SplittableRandom r = new SplittableRandom(2);
        int V = config.vocabSize();
        single = new int[][] {r.ints(LENGTH, 0, V).toArray()};
        prompts = new int[SEQUENCES][];
        for (int s = 0; s < SEQUENCES; s++) prompts[s] = r.ints(PROMPT, 0, V).toArray();
        singleBatch = Batch.of(single);

        PeerAgreement.Losses losses = PeerAgreement.check(model, adamW, peer, single, optimizer);
        System.out.println("PyTorch peer: " + TorchRuntime.describe() + "; Densify " + threads + " threads");
        System.out.println("Peer check (SmolLM2-135M shape, B 1, T 256) passed: " + losses);

        boolean timesTorch = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1).startsWith("torch");
        // AdamW's moments were needed only for the check's step; nothing timed here steps the optimiser
        adamW.close();
        adamW = null;
        if (timesTorch) {
            model.close();
            model = null;
            singleTokens = peer.tokens(single);
            NDScope.unregister(singleTokens);
        } else {
            peer.close();
            peer = null;
        }
    }

    @TearDown
    public void tearDown() {
        if (peer != null) peer.close();
        if (singleTokens != null) singleTokens.close();
        manager.close();
        if (model != null) model.close();
        backend.close();
    }

    // ---- Densify --------------------------------------------------------------------------------

    @Benchmark
    public Outputs forward() {
        return model.forward(singleBatch, ForwardOptions.forInference());
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
    @BenchmarkMode(Mode.SingleShotTime)
    @Warmup(iterations = 1)
    @Measurement(iterations = 3)
    public Generator.Result generate() {
        int[] maxNew = new int[SEQUENCES];
        Arrays.fill(maxNew, NEW_TOKENS);
        return new Generator(model).generate(prompts, maxNew, Sampler.multinomial(), 3, -1, null);
    }

    // ---- PyTorch 2.7 ------------------------------------------------------------------------------

    @Benchmark
    public float torchForward() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return peer.logits(singleTokens).getFloat(0, 0, 0);
        }
    }

    @Benchmark
    public double torchForwardBackward() {
        return peer.forwardBackward(single);
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @Warmup(iterations = 1)
    @Measurement(iterations = 3)
    public int[][] torchGenerate() {
        return peer.generate(prompts, NEW_TOKENS, Sampler.multinomial(), 3);
    }
}
