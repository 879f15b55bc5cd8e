package org.densify.rlhf.cli;

import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.Gpt2Tensors;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.model.ModelWriter;
import org.densify.loaders.safetensors.DType;
import org.densify.loaders.safetensors.SafetensorsWriter;
import org.densify.loaders.safetensors.TensorInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.densify.rlhf.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.*;

class InspectCommandTest {
    @TempDir
    Path dir;

    @Test
    void listsAFileAsAnAlignedTable() throws IOException {
        Path p = dir.resolve("t.safetensors");
        new SafetensorsWriter().metadata("format", "pt")
                .add("transformer.wte.weight", new long[]{3, 4}, new float[12])
                .add("ids", new long[]{5}, new long[5])
                .add("scalar", DType.BF16, new long[0], new byte[2])
                .write(p);
        MainTest.Run r = run("inspect", p.toString());
        assertEquals(0, r.status(), r.err());
        String out = r.out();
        assertTrue(out.contains("__metadata__:\n  format = pt\n"), out);
        assertTrue(out.contains("NAME                    DTYPE  SHAPE   BYTES\n"), out);
        assertTrue(out.contains("transformer.wte.weight  F32    [3, 4]     48\n"), out);
        assertTrue(out.contains("ids                     I64    [5]        40\n"), out);
        assertTrue(out.contains("scalar                  BF16   []          2\n"), out);
        assertTrue(out.contains("total: 3 tensors, 18 elements, 90 bytes"), out);
        assertEquals("", r.err());
    }

    @Test
    void showsTheConfigOfAModelFolder() throws IOException {
        Gpt2Config c = Gpt2Config.builder().vocabSize(11).nPositions(7).nEmbd(8).nLayer(1).nHead(2)
                .kind(ModelKind.SEQUENCE_CLASSIFIER).numLabels(1).padTokenId(0).build();
        ModelWriter w = new ModelWriter(c);
        Gpt2Tensors.body(c).forEach((name, shape) -> w.put(name, new float[Math.toIntExact(TensorInfo.elementCount(shape))]));
        w.put(Gpt2Tensors.SCORE, new float[8]);
        w.write(dir.resolve("rm"));
        MainTest.Run r = run("inspect", dir.resolve("rm").toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("architectures        GPT2ForSequenceClassification [SEQUENCE_CLASSIFIER]"), r.out());
        assertTrue(r.out().contains("n_embd               8 (2 heads of 4)"), r.out());
        assertTrue(r.out().contains("n_inner              32 (4 x n_embd)"), r.out());
        assertTrue(r.out().contains("labels               1: 0=LABEL_0"), r.out());
        assertTrue(r.out().contains("transformer.h.0.attn.c_attn.weight"), r.out());
        assertTrue(r.out().contains(String.format(java.util.Locale.ROOT, "model: SEQUENCE_CLASSIFIER, %,d parameters", c.bodyParameters() + 8)), r.out());

        // A folder whose weights do not match its config fails the check, but --raw still lists it.
        Gpt2Config.builder().vocabSize(11).nPositions(7).nEmbd(8).nLayer(2).nHead(2).build()
                .write(dir.resolve("rm").resolve("config.json"));
        MainTest.Run bad = run("inspect", dir.resolve("rm").toString());
        assertEquals(Main.EXIT_FAILURE, bad.status());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
        assertTrue(bad.err().contains("missing tensor 'transformer.h.1.ln_1.weight' (expected shape [8])"), bad.err());
        MainTest.Run raw = run("inspect", "--raw", dir.resolve("rm").toString());
        assertEquals(0, raw.status(), raw.err());
        assertTrue(raw.out().contains("config.json (raw, not checked):\n"), raw.out());
        assertTrue(raw.out().contains("    \"n_layer\" : 2,\n"), raw.out());
        assertTrue(raw.out().contains("transformer.h.0.attn.c_attn.weight"), raw.out());
    }

    /** --raw does not interpret config.json: a model type this engine refuses still shows, and so do the tensors. */
    @Test
    void rawShowsAnUnsupportedConfigAsJson() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("mistral"));
        new SafetensorsWriter().add("model.embed_tokens.weight", new long[]{4, 2}, new float[8]).write(folder.resolve("model.safetensors"));
        Files.writeString(folder.resolve("config.json"), "{\"model_type\": \"mistral\", \"hidden_size\": 2, \"rope_theta\": 10000.0}");
        MainTest.Run checked = run("inspect", folder.toString());
        assertEquals(Main.EXIT_FAILURE, checked.status());
        assertTrue(checked.err().contains("field 'model_type': unsupported model type 'mistral'"), checked.err());

        MainTest.Run raw = run("inspect", "--raw", folder.toString());
        assertEquals(0, raw.status(), raw.err());
        assertEquals("", raw.err());
        String out = raw.out();
        assertTrue(out.contains("config.json (raw, not checked):\n  {\n    \"model_type\" : \"mistral\",\n    \"hidden_size\" : 2,\n"), out);
        assertTrue(out.contains("    \"rope_theta\" : 10000.0\n  }\n"), out);
        assertTrue(out.contains("model.embed_tokens.weight  F32    [4, 2]     32\n"), out);
        assertTrue(out.contains("total: 1 tensor, 8 elements, 32 bytes"), out);
    }

    @Test
    void rawShowsABrokenConfigAsOneLineAndStillListsTheTensors() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("broken"));
        new SafetensorsWriter().add("w", new long[]{2}, new float[2]).write(folder.resolve("model.safetensors"));
        Files.writeString(folder.resolve("config.json"), "{\"n_layer\": 2} trailing");
        MainTest.Run raw = run("inspect", "--raw", folder.toString());
        assertEquals(0, raw.status(), raw.err());
        assertTrue(raw.out().contains("config.json (raw, not checked):\n  unreadable: " + folder.resolve("config.json") + ": not valid JSON at character 15: "),
                raw.out());
        assertTrue(raw.out().contains("total: 1 tensor, 2 elements, 8 bytes"), raw.out());
    }

    @Test
    void malformedFileIsOneLineWithExitOne() throws IOException {
        Path p = Files.write(dir.resolve("bad.safetensors"), new byte[]{1, 2, 3});
        MainTest.Run r = run("inspect", p.toString());
        assertEquals(Main.EXIT_FAILURE, r.status());
        assertEquals("densify: error: " + p + ": file is 3 bytes, shorter than the 8-byte header length (not a safetensors file?)", r.err().strip());
    }

    @Test
    void missingPathAndMissingArgument() {
        MainTest.Run r = run("inspect", dir.resolve("nope").toString());
        assertEquals(Main.EXIT_FAILURE, r.status());
        assertTrue(r.err().contains("nope: no such file or folder"), r.err());
        MainTest.Run usage = run("inspect");
        assertEquals(Main.EXIT_USAGE, usage.status());
        assertTrue(usage.err().contains("FILE|DIR"), usage.err());
    }
}
