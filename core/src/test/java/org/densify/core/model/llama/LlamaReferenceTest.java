package org.densify.core.model.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.densify.core.Backend;
import org.densify.core.cpu.ScalarBackend;
import org.densify.core.cpu.VectorBackend;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.KvCache;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;
import org.densify.core.model.Sampler;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.safetensors.TensorSource;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Llama family against PyTorch: fixtures written by scripts/fixtures/make_llama_fixtures.py
 * (float64 answers for small random Llama, Qwen2 and Qwen3 folders with grouped-query attention,
 * llama3 RoPE scaling, biases, q/k norms, tied and untied heads, BF16 weights). Both CPU backends.
 */
class LlamaReferenceTest {
    static final Path ROOT = Path.of("src/test/resources/llama");
    static final double FORWARD_TOLERANCE = 1e-5, GRADIENT_TOLERANCE = 1e-4;
    static final List<String> CONFIGS = List.of("llama-gqa3-tied", "qwen2-gqa4-untied-bf16", "qwen3-cls");

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (String config : CONFIGS) {
            for (String backend : List.of("scalar", "cpu")) list.add(Arguments.of(config, backend));
        }
        return list.stream();
    }

    static Backend backend(String name) {
        return name.equals("scalar") ? new ScalarBackend() : new VectorBackend();
    }

    static int[][] sequences(TensorSource fixture) throws IOException {
        List<int[]> seqs = new ArrayList<>();
        for (int n = 0; fixture.has("ids." + n); n++) {
            seqs.add(Arrays.stream(fixture.readLongs("ids." + n)).mapToInt(Math::toIntExact).toArray());
        }
        assertTrue(seqs.size() >= 2, "fixture has at least two sequences");
        return seqs.toArray(int[][]::new);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void forwardLossAndGradientsMatchPyTorch(String config, String backendName) throws IOException {
        Path dir = ROOT.resolve(config);
        try (Backend backend = backend(backendName);
             LanguageModel model = Models.load(backend, dir);
             TensorSource fixture = TensorSource.open(dir.resolve("fixtures.safetensors"))) {
            assertTrue(model instanceof LlamaModel, "the registry opens a " + model.family() + " folder as a LlamaModel");
            LlamaModel llama = (LlamaModel) model;
            int[][] seqs = sequences(fixture);
            Batch batch = Batch.of(seqs);
            int V = model.vocabSize();
            Outputs out = model.forward(batch, ForwardOptions.forTraining().withCapture(ForwardOptions.Capture.LAST_ROW));

            float[] logits = new float[batch.tokenCount() * V];
            backend.read(out.logits(), 0, logits);
            float[] values = model.hasValueHead() ? out.values() : null;
            float[][] scores = model.hasClassifier() ? out.scores() : null;
            float[][] lastRows = out.lastRowAttention();
            int H = llama.config().numHeads(), L = llama.config().numLayers();
            for (int n = 0; n < seqs.length; n++) {
                int start = batch.start(n), T = seqs[n].length;
                assertClose(fixture.readFloats("logits." + n), Arrays.copyOfRange(logits, start * V, (start + T) * V),
                        FORWARD_TOLERANCE, config + " logits." + n);
                for (int l = 0; l < L; l++) {
                    assertClose(fixture.readFloats("attn." + n + "." + l), out.attention(n, l), FORWARD_TOLERANCE,
                            config + " attn." + n + "." + l);
                }
                float[] maps = fixture.readFloats("attn." + n + "." + (L - 1));
                float[] expectedLast = new float[T];
                for (int j = 0; j < T; j++) {
                    double sum = 0;
                    for (int h = 0; h < H; h++) sum += maps[(h * T + T - 1) * T + j];
                    expectedLast[j] = (float) (sum / H);
                }
                assertClose(expectedLast, lastRows[n], FORWARD_TOLERANCE, config + " last row " + n);
                if (fixture.has("values." + n)) {
                    assertClose(fixture.readFloats("values." + n), Arrays.copyOfRange(values, start, start + T), FORWARD_TOLERANCE,
                            config + " values." + n);
                }
                if (fixture.has("score." + n)) {
                    assertClose(fixture.readFloats("score." + n), scores[n], FORWARD_TOLERANCE, config + " score." + n);
                }
            }
            assertTrue(model.hasValueHead() == fixture.has("values.0") && model.hasClassifier() == fixture.has("score.0"),
                    "the fixture checks every head the folder has");

            double loss = model.languageModelLoss(out);
            assertClose(fixture.readFloats("loss"), new float[]{(float) loss}, FORWARD_TOLERANCE, config + " loss");
            model.zeroGradients();
            model.backward(out, null, null);
            int checked = 0;
            for (ParameterLayout.Entry e : model.layout().entries()) {
                String name = "grad." + e.name();
                if (!fixture.has(name)) continue;
                float[] grad = new float[Math.toIntExact(e.length())];
                backend.read(model.gradient(e.name()), 0, grad);
                assertClose(fixture.readFloats(name), grad, GRADIENT_TOLERANCE, config + " " + name);
                checked++;
            }
            long body = model.layout().entries().stream().filter(e -> !e.name().startsWith("score.") && !e.name().startsWith("v_head.")).count();
            assertEquals(body, checked, "every body parameter (and an untied lm_head) has a gradient fixture");
        }
    }

    /** backward from the value and classifier heads alone (dvalues, dscores), into every parameter including the heads. */
    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void headGradientsMatchPyTorch(String config, String backendName) throws IOException {
        Path dir = ROOT.resolve(config);
        try (Backend backend = backend(backendName);
             LanguageModel model = Models.load(backend, dir);
             TensorSource fixture = TensorSource.open(dir.resolve("fixtures.safetensors"))) {
            if (!fixture.has("headgrad.embed_tokens.weight")) return; // an LM without value head: nothing beyond the loss
            int[][] seqs = sequences(fixture);
            Batch batch = Batch.of(seqs);
            Outputs out = model.forward(batch, ForwardOptions.forTraining().withLogits(ForwardOptions.Logits.NONE));
            float[] dvalues = null;
            float[][] dscores = null;
            if (model.hasValueHead()) {
                dvalues = new float[batch.tokenCount()];
                for (int n = 0; n < seqs.length; n++) {
                    float[] c = fixture.readFloats("dvalues." + n);
                    System.arraycopy(c, 0, dvalues, batch.start(n), c.length);
                }
            }
            if (model.hasClassifier()) {
                dscores = new float[seqs.length][];
                for (int n = 0; n < seqs.length; n++) dscores[n] = fixture.readFloats("dscores." + n);
            }
            model.zeroGradients();
            model.backward(out, dvalues, dscores);
            int checked = 0;
            for (ParameterLayout.Entry e : model.layout().entries()) {
                float[] grad = new float[Math.toIntExact(e.length())];
                backend.read(model.gradient(e.name()), 0, grad);
                assertClose(fixture.readFloats("headgrad." + e.name()), grad, GRADIENT_TOLERANCE, config + " headgrad." + e.name());
                checked++;
            }
            assertEquals(model.layout().entries().size(), checked);
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void rotaryFrequenciesMatchPyTorch(String config, String backendName) throws IOException {
        Path dir = ROOT.resolve(config);
        try (Backend backend = backend(backendName);
             LlamaModel model = LlamaModel.load(backend, dir);
             TensorSource fixture = TensorSource.open(dir.resolve("fixtures.safetensors"))) {
            double[] f = model.config().inverseFrequencies();
            float[] got = new float[f.length];
            for (int i = 0; i < f.length; i++) got[i] = (float) f[i];
            assertClose(fixture.readFloats("inv_freq"), got, 1e-7, config + " inv_freq");
        }
    }

    /** Prefill and one-token steps against the cache give the logits of full forwards over the same prefixes. */
    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void cachedDecodingEqualsTheFullForward(String config, String backendName) throws IOException {
        Path dir = ROOT.resolve(config);
        try (Backend backend = backend(backendName); LanguageModel model = Models.load(backend, dir)) {
            int V = model.vocabSize();
            int[][] seqs = {{3, 17, 5, 9, 11, 2, 7, 30}, {4}, {8, 1, 6, 12, 19}};
            int[] prompt = {5, 1, 3};
            int steps = 4;
            try (KvCache cache = model.newCache(seqs.length, 8 + 1)) {
                int[] past = new int[seqs.length];
                // prefill: the first prompt[s] tokens of each sequence
                int[][] prefixes = new int[seqs.length][];
                for (int s = 0; s < seqs.length; s++) prefixes[s] = Arrays.copyOf(seqs[s], prompt[s]);
                Batch first = Batch.of(prefixes);
                float[] logits = readRows(backend, model.decode(first.tokens(), first.positions(), first.seqLengths(), seqs.length, cache, past, null),
                        seqs.length, V);
                for (int s = 0; s < seqs.length; s++) {
                    assertClose(fullLastLogits(model, prefixes[s]), Arrays.copyOfRange(logits, s * V, (s + 1) * V), FORWARD_TOLERANCE,
                            config + " prefill " + s);
                    past[s] = prompt[s];
                }
                for (int step = 0; step < steps; step++) {
                    List<Integer> advancing = new ArrayList<>();
                    for (int s = 0; s < seqs.length; s++) if (past[s] < seqs[s].length) advancing.add(s);
                    if (advancing.isEmpty()) break;
                    int[] tokens = new int[advancing.size()], positions = new int[advancing.size()], count = new int[seqs.length];
                    for (int r = 0; r < advancing.size(); r++) {
                        int s = advancing.get(r);
                        tokens[r] = seqs[s][past[s]];
                        positions[r] = past[s];
                        count[s] = 1;
                    }
                    float[] rows = readRows(backend, model.decode(tokens, positions, count, advancing.size(), cache, past, null), advancing.size(), V);
                    for (int r = 0; r < advancing.size(); r++) {
                        int s = advancing.get(r);
                        past[s]++;
                        assertClose(fullLastLogits(model, Arrays.copyOf(seqs[s], past[s])), Arrays.copyOfRange(rows, r * V, (r + 1) * V),
                                FORWARD_TOLERANCE, config + " step " + step + " sequence " + s);
                    }
                }
            }
            // and through the generator: greedy tokens are the argmax of full forwards
            int[][] prompts = {{3, 17, 5}, {4}};
            Generator.Result greedy = new Generator(model).generate(prompts, new int[]{5, 3}, new Sampler(0f, 0, 1f), 0, -1, null);
            for (int s = 0; s < prompts.length; s++) {
                int[] seq = prompts[s];
                for (int i = 0; i < greedy.tokens()[s].length; i++) {
                    float[] full = fullLastLogits(model, seq);
                    assertEquals(argmax(full), greedy.tokens()[s][i], config + " greedy token " + i + " of " + s);
                    seq = Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = greedy.tokens()[s][i];
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void savedFoldersLoadBackTheSame(String config, String backendName, @TempDir Path tmp) throws IOException {
        Path dir = ROOT.resolve(config);
        try (Backend backend = backend(backendName); LanguageModel model = Models.load(backend, dir)) {
            ModelKind kind = model.hasClassifier() ? ModelKind.SEQUENCE_CLASSIFIER : ModelKind.LM;
            Path out = tmp.resolve("saved");
            model.save(out, kind);
            assertTrue(Files.isRegularFile(out.resolve("config.json")) && Files.isRegularFile(out.resolve("model.safetensors")));
            assertEquals(model.family(), ModelFamily.ofFolder(out));
            try (LanguageModel again = Models.load(backend, out)) {
                assertEquals(model.layout().size(), again.layout().size());
                float[] a = new float[Math.toIntExact(model.layout().size())], b = new float[a.length];
                backend.read(model.parameters(), 0, a);
                backend.read(again.parameters(), 0, b);
                assertArrayEquals(a, b, "every parameter round-trips exactly");
                assertEquals(((LlamaModel) model).config().withKind(kind).toJson(), ((LlamaModel) again).config().toJson());
            }
        }
    }

    /** The BF16 folder split into two shards with an index loads to the same parameters. */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"qwen2-gqa4-untied-bf16"})
    void shardedFoldersLoadTheSame(String config, @TempDir Path tmp) throws IOException {
        Path dir = ROOT.resolve(config);
        Files.copy(dir.resolve("config.json"), tmp.resolve("config.json"));
        StringBuilder map = new StringBuilder();
        try (TensorSource single = TensorSource.open(dir.resolve("model.safetensors"))) {
            org.densify.loaders.safetensors.SafetensorsWriter[] shards = {
                    new org.densify.loaders.safetensors.SafetensorsWriter().metadata("format", "pt"),
                    new org.densify.loaders.safetensors.SafetensorsWriter().metadata("format", "pt")};
            int i = 0;
            for (var t : single.tensors().values()) {
                int shard = i++ % 2;
                shards[shard].add(t.name(), t.dtype(), t.shape(), single.segment(t.name()));
                String file = "model-0000" + (shard + 1) + "-of-00002.safetensors";
                map.append(map.isEmpty() ? "" : ", ").append('"').append(t.name()).append("\": \"").append(file).append('"');
            }
            shards[0].write(tmp.resolve("model-00001-of-00002.safetensors"));
            shards[1].write(tmp.resolve("model-00002-of-00002.safetensors"));
        }
        Files.writeString(tmp.resolve("model.safetensors.index.json"), "{\"metadata\": {}, \"weight_map\": {" + map + "}}");
        try (Backend backend = new VectorBackend(); LanguageModel a = Models.load(backend, dir); LanguageModel b = Models.load(backend, tmp)) {
            float[] x = new float[Math.toIntExact(a.layout().size())], y = new float[x.length];
            backend.read(a.parameters(), 0, x);
            backend.read(b.parameters(), 0, y);
            assertArrayEquals(x, y);
        }
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static float[] fullLastLogits(LanguageModel model, int[] seq) {
        return model.forward(Batch.of(seq), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.LAST)).logitsRow(0);
    }

    private static float[] readRows(Backend backend, org.densify.core.Tensor logits, int rows, int V) {
        float[] out = new float[rows * V];
        backend.read(logits, 0, out);
        return out;
    }

    /** ||actual - expected|| / ||expected|| under {@code tolerance}; NaN never passes. */
    static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        double rel = norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
        assertTrue(rel < tolerance, what + ": relative L2 error " + rel + " >= " + tolerance);
    }
}
