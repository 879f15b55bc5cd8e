package org.densify.loaders.model;

import org.densify.loaders.safetensors.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

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
        assertTrue(e.getMessage().contains("tensors not given, e.g. 'wpe.weight'"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("x")));
    }
}
