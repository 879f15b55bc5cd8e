package org.densify.rlhf.cli;

import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.safetensors.DType;
import org.densify.loaders.safetensors.SafetensorsFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class DumpCommandTest {

    @TempDir
    static Path tmp;
    static Path classifier, lm;

    static final int[][] SEQS = {{5, 17, 42, 260, 7}, {99}, {1, 2, 3}};

    @BeforeAll
    static void models() throws Exception {
        Path tok = TinyFixtures.writeTokenizer(tmp);
        classifier = TinyFixtures.writeModel(tmp.resolve("classifier"), tok, ModelKind.SEQUENCE_CLASSIFIER, 16, 1);
        lm = TinyFixtures.writeModel(tmp.resolve("lm"), tok, ModelKind.LM, 16, 2);
    }

    private static String ids(int[] seq) {
        StringBuilder sb = new StringBuilder();
        for (int t : seq) sb.append(sb.isEmpty() ? "" : ",").append(t);
        return sb.toString();
    }

    private static MainTest.Run dump(Path model, Path out, boolean grads) {
        String[] args = {"dump", "--model", model.toString(), "--ids", ids(SEQS[0]), "--ids", ids(SEQS[1]), "--ids", ids(SEQS[2]),
                "--out", out.toString()};
        if (grads) {
            args = java.util.Arrays.copyOf(args, args.length + 1);
            args[args.length - 1] = "--grads";
        }
        return MainTest.run(args);
    }

    @Test
    void writesEveryTensorAndMatchesTheModelApi() throws Exception {
        Path out = tmp.resolve("classifier.safetensors");
        MainTest.Run r = dump(classifier, out, true);
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("over 6 predicted positions"), r.out());

        try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.load(backend, classifier);
             SafetensorsFile f = SafetensorsFile.open(out)) {
            int V = TinyFixtures.VOCAB, H = 2, L = 2;
            Set<String> expected = new HashSet<>(Set.of("loss"));
            for (int n = 0; n < SEQS.length; n++) {
                int T = SEQS[n].length;
                expected.addAll(Set.of("ids." + n, "logits." + n, "score." + n, "values." + n));
                assertArrayEquals(new long[]{T}, f.info("ids." + n).shape());
                assertEquals(DType.I64, f.info("ids." + n).dtype());
                assertArrayEquals(SEQS[n], f.readInts("ids." + n));
                assertArrayEquals(new long[]{T, V}, f.info("logits." + n).shape());
                assertArrayEquals(new long[]{2}, f.info("score." + n).shape());
                assertArrayEquals(new long[]{T}, f.info("values." + n).shape());
                for (int l = 0; l < L; l++) {
                    expected.add("attn." + n + "." + l);
                    assertArrayEquals(new long[]{H, T, T}, f.info("attn." + n + "." + l).shape());
                }
            }
            for (ParameterLayout.Entry e : m.layout().entries()) {
                expected.add("grad." + e.name());
                assertArrayEquals(e.shape(), f.info("grad." + e.name()).shape(), e.name());
            }
            assertEquals(expected, f.tensors().keySet());
            assertArrayEquals(new long[0], f.info("loss").shape());
            assertEquals(classifier.toAbsolutePath().normalize().toString(), f.metadata().get("model"));
            assertTrue(f.metadata().get("engine").startsWith("densify "), f.metadata().toString());

            // The same ragged batch through the API: every output bit for bit.
            Batch batch = Batch.of(SEQS);
            Outputs o = m.forward(batch, ForwardOptions.forTraining());
            float[][] scores = o.scores();
            float[] values = o.values();
            for (int n = 0; n < SEQS.length; n++) {
                int T = SEQS[n].length, start = batch.start(n);
                float[] logits = new float[T * V];
                backend.read(o.logits(), (long) start * V, logits);
                assertArrayEquals(logits, f.readFloats("logits." + n), "logits." + n);
                assertArrayEquals(scores[n], f.readFloats("score." + n));
                assertArrayEquals(java.util.Arrays.copyOfRange(values, start, start + T), f.readFloats("values." + n));
                for (int l = 0; l < L; l++) assertArrayEquals(o.attention(n, l), f.readFloats("attn." + n + "." + l));
            }
            float[] attn = f.readFloats("attn.0.1");
            assertEquals(1.0, attn[0], 1e-6, "row 0 of a causal map attends only to itself");
            double loss = m.languageModelLoss(o);
            assertEquals((float) loss, f.readFloats("loss")[0]);
            m.zeroGradients();
            m.backward(o, null, null);
            for (ParameterLayout.Entry e : m.layout().entries()) {
                float[] g = new float[Math.toIntExact(e.length())];
                backend.read(m.gradient(e.name()), 0, g);
                assertArrayEquals(g, f.readFloats("grad." + e.name()), e.name());
            }
        }
    }

    @Test
    void gradientsAreThoseOfTheDumpedLoss() throws Exception {
        Path base = tmp.resolve("lm.safetensors");
        assertEquals(0, dump(lm, base, true).status());
        // The largest gradient entry of ln_f.bias, checked by a central difference of the dumped loss
        // through two dumps of perturbed copies of the model.
        String name = "ln_f.bias";
        float[] grad;
        try (SafetensorsFile f = SafetensorsFile.open(base)) {
            grad = f.readFloats("grad." + name);
            assertFalse(f.has("values.0") || f.has("score.0"), "an LM folder has no classifier or value head");
        }
        int at = 0;
        for (int i = 1; i < grad.length; i++) if (Math.abs(grad[i]) > Math.abs(grad[at])) at = i;
        float eps = 1e-2f;
        double[] losses = new double[2];
        for (int k = 0; k < 2; k++) {
            Path dir = tmp.resolve("lm-perturbed-" + k);
            try (Backend backend = Backends.create("cpu"); Gpt2Model m = Gpt2Model.load(backend, lm)) {
                float[] v = new float[1];
                backend.read(m.parameter(name), at, v);
                backend.write(m.parameter(name), at, new float[]{v[0] + (k == 0 ? eps : -eps)});
                m.save(dir, ModelKind.LM);
            }
            Path out = tmp.resolve("lm-perturbed-" + k + ".safetensors");
            assertEquals(0, dump(dir, out, false).status());
            try (SafetensorsFile f = SafetensorsFile.open(out)) {
                losses[k] = f.readFloats("loss")[0];
                assertFalse(f.has("grad." + name), "no gradients without --grads");
            }
        }
        double numeric = (losses[0] - losses[1]) / (2 * eps);
        assertTrue(Math.abs(grad[at]) > 1e-3, "gradient too small to check: " + grad[at]);
        assertEquals(grad[at], numeric, 0.02 * Math.abs(grad[at]) + 2e-4, "analytic " + grad[at] + " vs numeric " + numeric);
    }

    @Test
    void oneTokenSequencesHaveNoLoss() throws Exception {
        Path out = tmp.resolve("single.safetensors");
        MainTest.Run r = MainTest.run("dump", "--model", lm.toString(), "--ids", "7", "--ids", "8", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("no loss"), r.out());
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertFalse(f.has("loss"));
            assertArrayEquals(new long[]{1, TinyFixtures.VOCAB}, f.info("logits.1").shape());
        }
        MainTest.Run grads = MainTest.run("dump", "--model", lm.toString(), "--ids", "7", "--out", out.toString(), "--grads", "--force");
        assertEquals(Main.EXIT_USAGE, grads.status());
        assertTrue(grads.err().contains("--grads needs a loss"), grads.err());
    }

    @Test
    void badIdsAreUsageErrors() {
        Path out = tmp.resolve("bad.safetensors");
        String[][] cases = {
                {"1,2,300", "token id 300 is outside the vocabulary [0, 300)"},
                {"1,x", "'x' is not a token id"},
                {"1,-4", "token id -4 is negative"},
                {"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "17 tokens exceed the model's n_positions 16"},
        };
        for (String[] c : cases) {
            MainTest.Run r = MainTest.run("dump", "--model", lm.toString(), "--ids", "4,5", "--ids", c[0], "--out", out.toString());
            assertEquals(Main.EXIT_USAGE, r.status(), c[0]);
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains("--ids #1: " + c[1]), r.err());
        }
        assertFalse(out.toFile().exists());
        MainTest.Run device = MainTest.run("dump", "--model", lm.toString(), "--ids", "4,5", "--out", out.toString(), "--device", "tpu");
        assertEquals(Main.EXIT_USAGE, device.status());
        assertTrue(device.err().contains("unknown device 'tpu'"), device.err());
        MainTest.Run missing = MainTest.run("dump", "--model", tmp.resolve("nope").toString(), "--ids", "4,5", "--out", out.toString());
        assertEquals(Main.EXIT_FAILURE, missing.status());
        assertTrue(missing.err().contains("nope"), missing.err());
    }
}
