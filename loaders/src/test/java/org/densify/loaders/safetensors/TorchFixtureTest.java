package org.densify.loaders.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Reads a file that scripts/fixtures/make_safetensors_fixture.py wrote from PyTorch tensors and checks
 * it against the values PyTorch recorded beside it. The meaningful part is {@link #readsWhatTorchWrote}:
 * values computed by PyTorch (F32, F16, BF16, I64, BOOL, 0-d and empty tensors) read back exactly.
 *
 * <p>The file's layout, though, was written by the script's own imitation of the reference layout
 * (the {@code safetensors} package was not available), not by the reference library, so it is not
 * evidence of byte parity with the reference; {@code SafetensorsFileTest.writesReferenceBytes} holds
 * the few byte-exact examples taken from the reference's own tests.
 */
class TorchFixtureTest {
    @TempDir
    Path dir;

    private static Path resource(String name) throws URISyntaxException {
        return Path.of(TorchFixtureTest.class.getResource("/safetensors/" + name).toURI());
    }

    @Test
    void readsWhatTorchWrote() throws Exception {
        JsonNode expected = new ObjectMapper().readTree(resource("torch_written.expected.json").toFile());
        try (SafetensorsFile f = SafetensorsFile.open(resource("torch_written.safetensors"))) {
            assertEquals(Map.of("format", "pt", "written_by", "scripts/fixtures/make_safetensors_fixture.py"), f.metadata());
            assertEquals(expected.get("tensors").size(), f.tensors().size());
            for (Map.Entry<String, JsonNode> e : expected.get("tensors").properties()) {
                String name = e.getKey();
                JsonNode want = e.getValue();
                TensorInfo t = f.info(name);
                assertEquals(want.get("dtype").asText(), t.dtype().name(), name);
                long[] shape = new long[want.get("shape").size()];
                for (int i = 0; i < shape.length; i++) shape[i] = want.get("shape").get(i).asLong();
                assertArrayEquals(shape, t.shape(), name);
                if (t.dtype() == DType.I64 || t.dtype() == DType.BOOL) {
                    long[] got = f.readLongs(name);
                    assertEquals(want.get("values").size(), got.length, name);
                    for (int i = 0; i < got.length; i++) assertEquals(want.get("values").get(i).asLong(), got[i], name + "[" + i + "]");
                } else if (want.has("values")) {
                    float[] got = f.readFloats(name);
                    assertEquals(want.get("values").size(), got.length, name);
                    for (int i = 0; i < got.length; i++) assertEquals((float) want.get("values").get(i).asDouble(), got[i], name + "[" + i + "]");
                } else {
                    float[] got = f.readFloats(name);
                    double sum = 0;
                    for (float v : got) sum += v;
                    assertEquals(want.get("sum").asDouble(), sum, 1e-9 * Math.max(1, Math.abs(sum)), name + " sum");
                    assertEquals((float) want.get("first").asDouble(), got[0]);
                    assertEquals((float) want.get("last").asDouble(), got[got.length - 1]);
                    for (Map.Entry<String, JsonNode> at : want.get("at").properties()) {
                        assertEquals((float) at.getValue().asDouble(), got[Integer.parseInt(at.getKey())], name + "[" + at.getKey() + "]");
                    }
                }
            }
        }
    }

    /**
     * Our writer, fed the same tensors, reproduces the fixture byte for byte. Both sides encode the
     * project's reading of the reference layout (sort order, header form, padding), so this checks
     * that the Java writer and the Python script agree, not that either matches the reference.
     */
    @Test
    void rewritingGivesIdenticalBytes() throws Exception {
        Path original = resource("torch_written.safetensors");
        Path copy = dir.resolve("copy.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(original)) {
            SafetensorsWriter w = new SafetensorsWriter().metadata(f.metadata());
            for (TensorInfo t : f.tensors().values()) w.add(t.name(), t.dtype(), t.shape(), f.segment(t.name()));
            w.write(copy);
        }
        assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy),
                "the Java writer and make_safetensors_fixture.py (two implementations of our reading of the reference layout) disagree");
    }
}
