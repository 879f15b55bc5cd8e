package org.densify.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.Gpt2Tensors;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.model.ModelKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The family-neutral registry: fresh models, shapes without weights, classifiers from a trunk, for GPT-2 and Llama. */
class ModelsTest {
    @TempDir
    Path dir;

    private static final Map<Integer, String> LABELS = Map.of(0, "NEGATIVE", 1, "POSITIVE");

    @Test
    void shapesPredictTheParameterBlockOfEveryFamilyAndHead() {
        try (Backend backend = Backends.create("scalar")) {
            for (FreshModel spec : List.of(FreshModel.of(ModelFamily.GPT2, 50, 16, 8, 2, 2, null, null, null, null),
                    FreshModel.of(ModelFamily.LLAMA, 50, 16, 16, 2, 4, 2, 24, 500.0, false),
                    FreshModel.of(ModelFamily.QWEN2, 50, 16, 16, 1, 4, 1, null, null, null))) {
                try (LanguageModel m = Models.create(backend, spec)) {
                    assertEquals(spec.family(), m.family());
                    ModelShape shape = m.shape();
                    assertEquals(Models.shapeOf(spec).parameterFloats(Heads.NONE), shape.parameterFloats(Heads.NONE));
                    assertEquals(m.layout().size(), shape.parameterFloats(Heads.NONE), spec.toString());
                    assertEquals(spec.keyValueHeads(), shape.keyValueHeads());
                    assertEquals(spec.intermediateSize(), shape.intermediateSize());
                }
            }
            // GPT-2's block holds exactly the tensors its loader's table names, heads included
            Gpt2Config c = Gpt2Config.builder().vocabSize(50).nPositions(16).nEmbd(8).nLayer(2).nHead(2).numLabels(1).build();
            for (Heads heads : Heads.values()) {
                Map<String, long[]> expected = Gpt2Tensors.body(c);
                if (heads.classifier()) expected.put(Gpt2Tensors.SCORE, Gpt2Tensors.headShape(Gpt2Tensors.SCORE, c));
                if (heads.value()) {
                    expected.put(Gpt2Tensors.VALUE_HEAD_WEIGHT, Gpt2Tensors.headShape(Gpt2Tensors.VALUE_HEAD_WEIGHT, c));
                    expected.put(Gpt2Tensors.VALUE_HEAD_BIAS, Gpt2Tensors.headShape(Gpt2Tensors.VALUE_HEAD_BIAS, c));
                }
                try (Gpt2Model m = Gpt2Model.create(backend, c, heads)) {
                    assertEquals(List.copyOf(expected.keySet()), m.layout().entries().stream().map(ParameterLayout.Entry::name).toList());
                    assertEquals(new ParameterLayout(expected).size(), ModelShape.of(c).parameterFloats(heads), heads.toString());
                }
            }
        }
    }

    @Test
    void gpt2RefusesLlamaOnlySizesByName() {
        try (Backend backend = Backends.create("scalar")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Models.create(backend, FreshModel.of(ModelFamily.GPT2, 50, 16, 8, 1, 2, 1, null, null, null)));
            assertTrue(e.getMessage().startsWith("--kv-heads"), e.getMessage());
        }
    }

    @Test
    void aClassifierFromALlamaTrunkKeepsTheTrunkAndSavesItsLabels() throws IOException {
        try (Backend backend = Backends.create("scalar")) {
            Path lm = dir.resolve("lm");
            FreshModel spec = FreshModel.of(ModelFamily.LLAMA, 50, 16, 16, 1, 4, 2, null, null, null).withSpecialTokens(1, 2, null);
            float[] embedding;
            try (LanguageModel m = Models.create(backend, spec)) {
                m.initialize(3);
                m.save(lm, ModelKind.LM);
                embedding = read(m, "embed_tokens.weight");
            }
            assertFalse(Models.storesClassifier(lm));
            Path rm = dir.resolve("rm");
            try (LanguageModel c = Models.loadClassifier(backend, lm, LABELS, 2, 7)) {
                assertEquals(2, c.numLabels());
                assertEquals(Integer.valueOf(2), c.shape().padTokenId());
                assertEquals(List.of("NEGATIVE", "POSITIVE"), c.shape().labels());
                assertArrayEquals(embedding, read(c, "embed_tokens.weight"));
                c.save(rm, ModelKind.SEQUENCE_CLASSIFIER);
            }
            assertTrue(Models.storesClassifier(rm));
            ModelShape saved = ModelShape.read(rm);
            assertEquals(List.of("NEGATIVE", "POSITIVE"), saved.labels());
            assertEquals(Integer.valueOf(2), saved.padTokenId());
            // a stored classifier keeps its labels whatever is asked
            try (LanguageModel again = Models.loadClassifier(backend, rm, Map.of(0, "LABEL_0"), 0, 9)) {
                assertEquals(2, again.numLabels());
                assertEquals(Integer.valueOf(2), again.shape().padTokenId());
            }
        }
    }

    private static float[] read(LanguageModel m, String name) {
        float[] v = new float[Math.toIntExact(m.layout().get(name).length())];
        m.backend().read(m.parameter(name), 0, v);
        return v;
    }
}
