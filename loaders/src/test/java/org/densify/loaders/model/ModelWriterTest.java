package org.densify.loaders.model;

import org.densify.loaders.safetensors.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.densify.loaders.model.ModelFolderTest.tiny;
import static org.densify.loaders.model.ModelFolderTest.weights;
import static org.junit.jupiter.api.Assertions.*;

class ModelWriterTest {
    @TempDir
    Path dir;

    private static ModelWriter writer(Gpt2Config c, Map<String, float[]> w) {
        ModelWriter mw = new ModelWriter(c);
        w.forEach(mw::put);
        return mw;
    }

    @Test
    void writesAHuggingFaceStyleClassifierFolder() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(1).padTokenId(0).build();
        Map<String, float[]> w = weights(c, Gpt2Tensors.SCORE);
        Path out = dir.resolve("rm");
        writer(c, w).metadata("step", "100").write(out);
        assertEquals(List.of("config.json", "model.safetensors"), Files.list(out).map(p -> p.getFileName().toString()).sorted().toList());
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve("model.safetensors"))) {
            assertTrue(f.has("transformer.h.0.ln_1.weight"), "body prefixed as GPT2ForSequenceClassification saves it");
            assertTrue(f.has("score.weight"), "head not prefixed");
            assertEquals(Map.of("format", "pt", "step", "100"), f.metadata());
        }
        try (ModelFolder m = ModelFolder.open(out)) {
            assertEquals(c, m.config());
            for (Map.Entry<String, float[]> e : w.entrySet()) assertArrayEquals(e.getValue(), m.floats(e.getKey()), e.getKey());
        }
    }

    @Test
    void bareBodyIsUnprefixedAndOffHeapSourcesWork() throws IOException {
        Gpt2Config c = tiny().kind(ModelKind.BASE).build();
        Map<String, float[]> w = weights(c);
        ModelWriter mw = new ModelWriter(c);
        try (Arena arena = Arena.ofConfined()) {
            w.forEach((k, v) -> mw.put(k, arena.allocateFrom(ValueLayout.JAVA_FLOAT, v)));
            mw.write(dir.resolve("base"));
        }
        try (ModelFolder m = ModelFolder.open(dir.resolve("base"))) {
            assertEquals("h.1.ln_2.bias", m.storedName("h.1.ln_2.bias"));
            assertArrayEquals(w.get("wpe.weight"), m.floats("wpe.weight"));
        }
    }

    /**
     * The writer and the reader apply one rule for the kind and the tensors it needs: every folder
     * the writer agrees to write, for every kind (declared or not) x tied/untied x optional heads,
     * opens with the same kind and the same tensors; and the minimal set of each kind is written.
     */
    @Test
    void everyFolderTheWriterWritesReopensWithTheSameTensors() throws IOException {
        List<Optional<ModelKind>> kinds = new ArrayList<>();
        kinds.add(Optional.empty());
        for (ModelKind k : ModelKind.values()) kinds.add(Optional.of(k));
        List<List<String>> headSets = List.of(List.of(), List.of(Gpt2Tensors.LM_HEAD), List.of(Gpt2Tensors.SCORE),
                List.of(Gpt2Tensors.LM_HEAD, Gpt2Tensors.SCORE), List.of(Gpt2Tensors.VALUE_HEAD_WEIGHT, Gpt2Tensors.VALUE_HEAD_BIAS),
                List.of(Gpt2Tensors.SCORE, Gpt2Tensors.VALUE_HEAD_WEIGHT, Gpt2Tensors.VALUE_HEAD_BIAS));
        int written = 0;
        for (Optional<ModelKind> declared : kinds) {
            for (boolean tied : new boolean[]{true, false}) {
                Gpt2Config.Builder b = tiny().tieWordEmbeddings(tied).numLabels(3).padTokenId(0);
                declared.ifPresent(b::kind);
                Gpt2Config c = b.build();
                // What each kind needs, spelled out here rather than taken from the code under test.
                ModelKind expectedKind = declared.orElse(null);
                for (List<String> heads : headSets) {
                    String label = declared.map(Enum::name).orElse("undeclared") + (tied ? "-tied-" : "-untied-") + String.join("+", heads);
                    Map<String, float[]> w = weights(c, heads.toArray(String[]::new));
                    Path out = dir.resolve(label.replace('.', '_'));
                    ModelKind kind = expectedKind != null ? expectedKind
                            : heads.contains(Gpt2Tensors.SCORE) ? ModelKind.SEQUENCE_CLASSIFIER : ModelKind.LM;
                    boolean needsLmHead = kind == ModelKind.LM && !tied;
                    boolean needsScore = kind == ModelKind.SEQUENCE_CLASSIFIER;
                    boolean complete = (!needsLmHead || heads.contains(Gpt2Tensors.LM_HEAD)) && (!needsScore || heads.contains(Gpt2Tensors.SCORE));
                    boolean storable = !(tied && heads.contains(Gpt2Tensors.LM_HEAD)); // a tied head is never stored
                    try {
                        writer(c, w).write(out);
                    } catch (IllegalArgumentException | IllegalStateException refused) {
                        assertFalse(complete && storable, () -> label + ": a complete model was refused: " + refused.getMessage());
                        assertFalse(Files.exists(out.resolve("model.safetensors")), label + ": nothing written");
                        continue;
                    }
                    assertTrue(complete && storable, label + ": an incomplete model was written");
                    written++;
                    try (ModelFolder m = ModelFolder.open(out)) {
                        assertEquals(c, m.config(), label);
                        assertEquals(kind, m.kind(), label);
                        assertEquals(w.keySet(), m.tensorNames(), label);
                        for (Map.Entry<String, float[]> e : w.entrySet()) assertArrayEquals(e.getValue(), m.floats(e.getKey()), label + " " + e.getKey());
                    } catch (ModelFormatException e) {
                        fail(label + ": ModelWriter wrote a folder ModelFolder refuses: " + e.getMessage(), e);
                    }
                }
            }
        }
        assertTrue(written >= 2 * kinds.size(), "each kind, tied and untied, has a folder written: " + written);
    }

    @Test
    void undeclaredUntiedModelNeedsItsLmHead() {
        Gpt2Config c = tiny().tieWordEmbeddings(false).build();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> writer(c, weights(c)).write(dir.resolve("x")));
        assertTrue(e.getMessage().endsWith(": 1 tensor not given, e.g. 'lm_head.weight' (a GPT2LMHeadModel, as inferred without architectures, needs it)"),
                e.getMessage());
    }

    @Test
    void rejectsWhatWouldNotLoad() {
        Gpt2Config tied = tiny().kind(ModelKind.LM).build();
        ModelWriter mw = new ModelWriter(tied);
        assertThrows(IllegalArgumentException.class, () -> mw.put(Gpt2Tensors.LM_HEAD, new float[88]), "tied head is not stored");
        assertThrows(IllegalArgumentException.class, () -> mw.put("wte.weight", new float[87]), "wrong length");
        assertThrows(IllegalArgumentException.class, () -> mw.put("transformer.wte.weight", new float[88]), "canonical names only");
        assertThrows(IllegalArgumentException.class, () -> mw.put("h.9.ln_1.weight", new float[8]), "no such layer");
        mw.put("wte.weight", new float[88]);
        assertThrows(IllegalArgumentException.class, () -> mw.put("wte.weight", new float[88]), "twice");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> mw.write(dir.resolve("x")));
        assertTrue(e.getMessage().endsWith(": 27 tensors not given, e.g. 'wpe.weight' (a GPT2LMHeadModel needs them)"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("x")));
    }
}
