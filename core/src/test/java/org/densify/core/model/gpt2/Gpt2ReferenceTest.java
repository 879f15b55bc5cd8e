package org.densify.core.model.gpt2;

import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.densify.core.Backend;
import org.densify.core.cpu.ScalarBackend;
import org.densify.core.cpu.VectorBackend;
import org.densify.loaders.safetensors.TensorSource;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine against PyTorch: fixtures written by scripts/fixtures/make_gpt2_fixtures.py (float64
 * answers for small random GPT-2 folders). Every config, both CPU backends, every tensor.
 */
public class Gpt2ReferenceTest {
    static final Path ROOT = Path.of("src/test/resources/gpt2");
    static final double FORWARD_TOLERANCE = 1e-5;
    static final double GRADIENT_TOLERANCE = 1e-4;
    /**
     * Adam divides each gradient by its own running magnitude, so an element whose gradient is
     * rounding noise (the key third of c_attn.bias has an exactly zero gradient: softmax ignores a
     * constant added to a row of scores) moves by up to lr per step in either direction. After three
     * steps a float32 engine therefore lands within 3 lr of the float64 answer per element, and a
     * few such elements lift the relative error of a tensor above the gradient tolerance.
     */
    static final double ADAM_TOLERANCE = 1e-3;

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (String config : List.of("tiny-1l", "small-2l", "cls-3l")) {
            for (String backend : List.of("scalar", "cpu")) list.add(Arguments.of(config, backend));
        }
        return list.stream();
    }

    static Backend backend(String name) {
        return name.equals("scalar") ? new ScalarBackend() : new VectorBackend();
    }

    /** The fixture's sequences, in ids.{n} order. */
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
             Gpt2Model model = Gpt2Model.load(backend, dir);
             TensorSource fixture = TensorSource.open(dir.resolve("fixtures.safetensors"))) {
            int[][] seqs = sequences(fixture);
            Batch batch = Batch.of(seqs);
            int V = model.config().vocabSize();
            Outputs out = model.forward(batch, ForwardOptions.forTraining());

            float[] logits = new float[batch.tokenCount() * V];
            backend.read(out.logits(), 0, logits);
            float[] values = model.hasValueHead() ? out.values() : null;
            float[][] scores = model.hasClassifier() ? out.scores() : null;
            for (int n = 0; n < seqs.length; n++) {
                int start = batch.start(n), T = seqs[n].length;
                assertClose(fixture.readFloats("logits." + n), Arrays.copyOfRange(logits, start * V, (start + T) * V),
                        FORWARD_TOLERANCE, config + " logits." + n);
                for (int l = 0; l < model.config().nLayer(); l++) {
                    assertClose(fixture.readFloats("attn." + n + "." + l), out.attention(n, l), FORWARD_TOLERANCE,
                            config + " attn." + n + "." + l);
                }
                if (fixture.has("values." + n)) {
                    assertClose(fixture.readFloats("values." + n), Arrays.copyOfRange(values, start, start + T),
                            FORWARD_TOLERANCE, config + " values." + n);
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
            assertEquals(4 + 12 * model.config().nLayer(), checked,
                    "every body parameter has a gradient fixture");
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void threeAdamWStepsMatchPyTorch(String config, String backendName) throws IOException {
        for (boolean clipped : new boolean[]{false, true}) {
            Path dir = ROOT.resolve(config);
            try (Backend backend = backend(backendName);
                 Gpt2Model model = Gpt2Model.load(backend, dir);
                 TensorSource fixture = TensorSource.open(dir.resolve("fixtures.safetensors"));
                 AdamW adam = new AdamW(model, 0.9f, 0.999f, 1e-8f, 0.1f)) {
                Batch batch = Batch.of(sequences(fixture));
                float[] norms = new float[3];
                for (int step = 0; step < 3; step++) {
                    model.zeroGradients();
                    Outputs out = model.forward(batch, ForwardOptions.forTraining());
                    model.languageModelLoss(out);
                    model.backward(out, null, null);
                    norms[step] = (float) adam.step(1e-2f, clipped ? 0.5f : 0f);
                }
                String prefix = clipped ? "adamw_clipped." : "adamw.";
                if (clipped) assertClose(fixture.readFloats("grad_norm.adamw_clipped"), norms, GRADIENT_TOLERANCE, config + " grad norms");
                int checked = 0;
                for (ParameterLayout.Entry e : model.layout().entries()) {
                    if (!fixture.has(prefix + e.name())) continue;
                    float[] p = new float[Math.toIntExact(e.length())];
                    backend.read(model.parameter(e.name()), 0, p);
                    float[] expected = fixture.readFloats(prefix + e.name());
                    for (int i = 0; i < p.length; i++) {
                        assertEquals(expected[i], p[i], 3 * 1e-2 * 1.01, config + " " + prefix + e.name() + "[" + i + "] moved more than 3 steps of lr");
                    }
                    assertClose(expected, p, ADAM_TOLERANCE, config + " " + prefix + e.name());
                    checked++;
                }
                assertEquals(4 + 12 * model.config().nLayer(), checked, "every body parameter has an AdamW fixture");
            }
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void capturedLastRowIsTheHeadMeanOfTheLastLayersLastRow(String config, String backendName) throws IOException {
        Path dir = ROOT.resolve(config);
        try (Backend backend = backend(backendName);
             Gpt2Model model = Gpt2Model.load(backend, dir);
             TensorSource fixture = TensorSource.open(dir.resolve("fixtures.safetensors"))) {
            int[][] seqs = sequences(fixture);
            int H = model.config().nHead(), last = model.config().nLayer() - 1;
            Outputs out = model.forward(Batch.of(seqs), new ForwardOptions(ForwardOptions.Logits.NONE, ForwardOptions.Capture.LAST_ROW, false));
            float[][] rows = out.lastRowAttention();
            for (int n = 0; n < seqs.length; n++) {
                int T = seqs[n].length;
                float[] maps = fixture.readFloats("attn." + n + "." + last);
                float[] expected = new float[T];
                for (int j = 0; j < T; j++) {
                    double sum = 0;
                    for (int h = 0; h < H; h++) sum += maps[(h * T + T - 1) * T + j];
                    expected[j] = (float) (sum / H);
                }
                assertClose(expected, rows[n], FORWARD_TOLERANCE, config + " last row " + n);
            }
        }
    }

    /** ||actual - expected|| / ||expected|| under {@code tolerance}; NaN never passes. */
    public static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
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
