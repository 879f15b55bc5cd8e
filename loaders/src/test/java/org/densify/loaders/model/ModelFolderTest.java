package org.densify.loaders.model;

import org.densify.loaders.safetensors.DType;
import org.densify.loaders.safetensors.SafetensorsException;
import org.densify.loaders.safetensors.SafetensorsFile;
import org.densify.loaders.safetensors.SafetensorsWriter;
import org.densify.loaders.safetensors.TensorInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ModelFolderTest {
    @TempDir
    Path dir;

    /** A tiny GPT-2: V=11, P=7, d=8, 2 layers, 2 heads, MLP 32. */
    static Gpt2Config.Builder tiny() {
        return Gpt2Config.builder().vocabSize(11).nPositions(7).nEmbd(8).nLayer(2).nHead(2);
    }

    /** Random values for every body tensor plus the given heads, by canonical name. */
    static Map<String, float[]> weights(Gpt2Config c, String... heads) {
        Random r = new Random(42);
        Map<String, float[]> m = new LinkedHashMap<>();
        Gpt2Tensors.body(c).forEach((name, shape) -> m.put(name, random(r, shape)));
        for (String h : heads) m.put(h, random(r, Gpt2Tensors.headShape(h, c)));
        return m;
    }

    private static float[] random(Random r, long[] shape) {
        float[] v = new float[Math.toIntExact(TensorInfo.elementCount(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** Writes a folder by hand: config plus tensors under exactly the given stored names. */
    private Path folder(String name, Gpt2Config c, Map<String, float[]> stored) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        c.write(d.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        stored.forEach((k, v) -> {
            long[] shape = shapeOf(c, Gpt2Tensors.canonical(k), v.length);
            w.add(k, shape, v);
        });
        w.write(d.resolve("model.safetensors"));
        return d;
    }

    private static long[] shapeOf(Gpt2Config c, String canonical, int n) {
        long[] s = Gpt2Tensors.body(c).get(canonical);
        if (s == null) s = Gpt2Tensors.headShape(canonical, c);
        return s != null ? s : new long[]{n};
    }

    private static Map<String, float[]> prefixed(Map<String, float[]> canonical, Gpt2Config c) {
        Map<String, float[]> m = new LinkedHashMap<>();
        canonical.forEach((k, v) -> m.put(Gpt2Tensors.body(c).containsKey(k) ? "transformer." + k : k, v));
        return m;
    }

    @Test
    void readsPrefixedAndUnprefixedNamesAlike() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).build();
        Map<String, float[]> w = weights(c);
        Path plain = folder("plain", c, w);
        Path pre = folder("prefixed", c, prefixed(w, c));
        for (Path d : new Path[]{plain, pre}) {
            try (ModelFolder m = ModelFolder.open(d)) {
                assertEquals(ModelKind.LM, m.kind());
                assertEquals(8, m.config().nEmbd());
                assertArrayEquals(w.get("h.1.mlp.c_fc.weight"), m.floats("h.1.mlp.c_fc.weight"));
                assertArrayEquals(new long[]{8, 24}, m.expectedShape("h.0.attn.c_attn.weight"));
                assertArrayEquals(new long[]{32, 8}, m.expectedShape("h.0.mlp.c_proj.weight"));
                assertFalse(m.hasLmHead(), "tied head");
                assertFalse(m.hasValueHead());
                assertEquals(c.bodyParameters(), m.parameterCount());
                assertEquals(d == pre ? "transformer.wte.weight" : "wte.weight", m.storedName("wte.weight"));
                assertEquals(DType.F32, m.dtype("ln_f.bias"));
            }
        }
    }

    @Test
    void readsIntoOffHeapSlices() throws IOException {
        Gpt2Config c = tiny().build();
        Map<String, float[]> w = weights(c);
        try (ModelFolder m = ModelFolder.open(folder("m", c, w)); Arena arena = Arena.ofConfined()) {
            MemorySegment dest = arena.allocate(11 * 8 * 4L);
            m.floats("wte.weight", dest);
            assertEquals(w.get("wte.weight")[17], dest.getAtIndex(ValueLayout.JAVA_FLOAT, 17));
        }
    }

    @Test
    void untiedLmHeadMustBeStoredWithItsShape() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).tieWordEmbeddings(false).build();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(folder("untied", c, prefixed(weights(c), c))));
        assertTrue(e.getMessage().contains("missing tensor 'lm_head.weight' (expected shape [11, 8])"), e.getMessage());
        try (ModelFolder m = ModelFolder.open(folder("untied2", c, prefixed(weights(c, Gpt2Tensors.LM_HEAD), c)))) {
            assertTrue(m.hasLmHead());
            assertEquals(88, m.floats(Gpt2Tensors.LM_HEAD).length);
        }
    }

    @Test
    void classifierNeedsScoreWithNumLabelsRows() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(1).padTokenId(0).build();
        try (ModelFolder m = ModelFolder.open(folder("rm", c, prefixed(weights(c, Gpt2Tensors.SCORE), c)))) {
            assertEquals(ModelKind.SEQUENCE_CLASSIFIER, m.kind());
            assertArrayEquals(new long[]{1, 8}, m.expectedShape(Gpt2Tensors.SCORE));
            assertEquals(8, m.floats(Gpt2Tensors.SCORE).length);
        }
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(folder("rm2", c, prefixed(weights(c), c))));
        assertTrue(e.getMessage().contains("missing tensor 'score.weight' (expected shape [1, 8]) for a GPT2ForSequenceClassification"), e.getMessage());
    }

    @Test
    void kindIsInferredWhenArchitecturesAreAbsent() throws IOException {
        Gpt2Config c = tiny().numLabels(3).build();
        try (ModelFolder m = ModelFolder.open(folder("inferred", c, weights(c, Gpt2Tensors.SCORE)))) {
            assertEquals(ModelKind.SEQUENCE_CLASSIFIER, m.kind());
        }
        try (ModelFolder m = ModelFolder.open(folder("inferred-lm", c, weights(c)))) {
            assertEquals(ModelKind.LM, m.kind());
        }
    }

    @Test
    void valueHeadIsOptionalButComplete() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).build();
        try (ModelFolder m = ModelFolder.open(folder("vh", c, prefixed(weights(c, Gpt2Tensors.VALUE_HEAD_WEIGHT, Gpt2Tensors.VALUE_HEAD_BIAS), c)))) {
            assertTrue(m.hasValueHead());
            assertEquals(1, m.floats(Gpt2Tensors.VALUE_HEAD_BIAS).length);
        }
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> ModelFolder.open(folder("vh2", c, prefixed(weights(c, Gpt2Tensors.VALUE_HEAD_WEIGHT), c))));
        assertTrue(e.getMessage().contains("a value head needs both"), e.getMessage());
    }

    @Test
    void missingTensorNamesFileTensorAndExpectedShape() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).build();
        Map<String, float[]> w = prefixed(weights(c), c);
        w.remove("transformer.h.1.ln_2.weight");
        w.remove("transformer.ln_f.bias");
        Path d = folder("missing", c, w);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertEquals(d.resolve("model.safetensors") + ": missing tensor 'transformer.h.1.ln_2.weight' (expected shape [8]) for a "
                + "GPT2LMHeadModel with n_layer=2, n_embd=8, vocab_size=11, n_positions=7; 1 more missing: 'transformer.ln_f.bias'", e.getMessage());
    }

    /** Names in the message are written as the file writes them: all unprefixed here. */
    @Test
    void missingTensorsOfAnUnprefixedFileAreShownUnprefixed() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).build();
        Map<String, float[]> w = weights(c);
        w.remove("h.0.ln_1.bias");
        w.remove("h.1.mlp.c_fc.weight");
        w.remove("wpe.weight");
        Path d = folder("missing-plain", c, w);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertTrue(e.getMessage().contains("missing tensor 'wpe.weight' (expected shape [7, 8])"), e.getMessage());
        assertTrue(e.getMessage().endsWith("; 2 more missing: 'h.0.ln_1.bias', 'h.1.mlp.c_fc.weight'"), e.getMessage());
    }

    @Test
    void wrongShapeSaysExpectedAndActual() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).build();
        Gpt2Config bigger = tiny().nEmbd(10).build();
        Map<String, float[]> w = prefixed(weights(c), c);
        Path d = folder("shape", c, w);
        // Rewrite one tensor with a transposed shape.
        SafetensorsWriter sw = new SafetensorsWriter();
        w.forEach((k, v) -> sw.add(k, k.endsWith("h.0.attn.c_attn.weight") ? new long[]{24, 8}
                : shapeOf(c, Gpt2Tensors.canonical(k), v.length), v));
        sw.write(d.resolve("model.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertTrue(e.getMessage().contains("tensor 'transformer.h.0.attn.c_attn.weight' has shape [24, 8], expected [8, 24]"), e.getMessage());
        // Config and weights disagreeing about n_embd.
        bigger.write(d.resolve("config.json"));
        ModelFormatException e2 = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertTrue(e2.getMessage().contains("tensor 'transformer.h.0.attn.c_attn.bias' has shape [24], expected [30] for a GPT2LMHeadModel with n_layer=2, n_embd=10"),
                e2.getMessage());
    }

    @Test
    void tensorsTheConfigDoesNotExplainAreRejected() throws IOException {
        Gpt2Config three = tiny().nLayer(3).kind(ModelKind.LM).build();
        Path d = folder("extra", three, prefixed(weights(three), three));
        tiny().kind(ModelKind.LM).build().write(d.resolve("config.json")); // config says 2 layers
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertTrue(e.getMessage().contains("12 tensors that a GPT2LMHeadModel with n_layer=2"), e.getMessage());
        assertTrue(e.getMessage().contains("'transformer.h.2.attn.c_attn.bias'"), e.getMessage());
    }

    @Test
    void maskBuffersAreIgnored() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.LM).build();
        Map<String, float[]> w = prefixed(weights(c), c);
        w.put("transformer.h.0.attn.bias", new float[49]);
        w.put("transformer.h.1.attn.masked_bias", new float[1]);
        try (ModelFolder m = ModelFolder.open(folder("buffers", c, w))) {
            assertFalse(m.tensorNames().contains("h.0.attn.bias"));
            assertEquals(c.bodyParameters(), m.parameterCount());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.floats("h.0.attn.bias"));
            assertTrue(e.getMessage().startsWith("'h.0.attn.bias' is not a GPT-2 tensor name"), e.getMessage());
        }
    }

    @Test
    void integerWeightsAreRejected() throws IOException {
        Gpt2Config c = tiny().build();
        Path d = folder("ints", c, weights(c));
        SafetensorsWriter sw = new SafetensorsWriter();
        weights(c).forEach((k, v) -> {
            if (k.equals("ln_f.bias")) sw.add(k, new long[]{8}, new long[8]);
            else sw.add(k, shapeOf(c, k, v.length), v);
        });
        sw.write(d.resolve("model.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertTrue(e.getMessage().contains("tensor 'ln_f.bias' has dtype I64, expected a floating-point dtype"), e.getMessage());
    }

    @Test
    void halfPrecisionWeightsConvert() throws IOException {
        Gpt2Config c = tiny().build();
        Path d = folder("bf16", c, weights(c));
        SafetensorsWriter sw = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(d.resolve("model.safetensors"))) {
            for (String k : f.tensors().keySet()) {
                float[] v = f.readFloats(k);
                byte[] b = new byte[v.length * 2];
                for (int i = 0; i < v.length; i++) {
                    int bits = Float.floatToIntBits(v[i]) >>> 16;
                    b[2 * i] = (byte) bits;
                    b[2 * i + 1] = (byte) (bits >>> 8);
                }
                sw.add(k, DType.BF16, f.info(k).shape(), b);
            }
        }
        sw.write(d.resolve("model.safetensors"));
        try (ModelFolder m = ModelFolder.open(d)) {
            assertEquals(DType.BF16, m.dtype("wte.weight"));
            float expected = Float.intBitsToFloat(Float.floatToIntBits(weights(c).get("wte.weight")[3]) & 0xFFFF0000);
            assertEquals(expected, m.floats("wte.weight")[3]);
        }
    }

    @Test
    void unsupportedArchitectureNamesConfigJson() throws IOException {
        Gpt2Config c = tiny().build();
        Path d = folder("arch", c, weights(c));
        Files.writeString(d.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"]}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(d));
        assertTrue(e.getMessage().startsWith(d.resolve("config.json") + ": field 'architectures': unsupported architecture 'LlamaForCausalLM'"), e.getMessage());
    }

    @Test
    void missingConfigOrWeights() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(empty));
        assertTrue(e.getMessage().contains("no config.json"), e.getMessage());
        tiny().build().write(empty.resolve("config.json"));
        IOException e2 = assertThrows(IOException.class, () -> ModelFolder.open(empty));
        assertTrue(e2.getMessage().contains("no model.safetensors or model.safetensors.index.json"), e2.getMessage());
        ModelFormatException e3 = assertThrows(ModelFormatException.class, () -> ModelFolder.open(dir.resolve("nope")));
        assertEquals(dir.resolve("nope") + ": not a folder (expected a model folder with config.json and model.safetensors)", e3.getMessage());
    }

    @Test
    void sameTensorWithAndWithoutPrefixIsAmbiguous() throws IOException {
        Gpt2Config c = tiny().build();
        Map<String, float[]> w = weights(c);
        w.put("transformer.wpe.weight", w.get("wpe.weight"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFolder.open(folder("dup", c, w)));
        assertTrue(e.getMessage().contains("holds both 'transformer.wpe.weight' and 'wpe.weight'"), e.getMessage());
    }

    @Test
    void optionalHeadAbsentIsAClearError() throws IOException {
        Gpt2Config c = tiny().build();
        try (ModelFolder m = ModelFolder.open(folder("opt", c, weights(c)))) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> m.floats(Gpt2Tensors.VALUE_HEAD_WEIGHT));
            assertTrue(e.getMessage().contains("no tensor 'v_head.summary.weight'"), e.getMessage());
            IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> m.floats("transformer.wte.weight"));
            assertTrue(e2.getMessage().startsWith("'transformer.wte.weight' is not a GPT-2 tensor name (canonical names have no 'transformer.' prefix"),
                    e2.getMessage());
        }
    }

    @Test
    void corruptWeightsSurfaceAsSafetensorsException() throws IOException {
        Gpt2Config c = tiny().build();
        Path d = folder("corrupt", c, weights(c));
        Files.write(d.resolve("model.safetensors"), new byte[]{1, 2, 3});
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ModelFolder.open(d));
        assertEquals(d.resolve("model.safetensors") + ": file is 3 bytes, shorter than the 8-byte header length (not a safetensors file?)", e.getMessage());
    }
}
