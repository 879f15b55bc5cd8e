package org.densify.loaders.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mutates a valid {@code model.safetensors.index.json} a few thousand ways (fixed seed) beside real
 * shards, a folder and a file that is not safetensors, and requires that {@link ShardedSafetensors#open}
 * either succeeds (and then reads every tensor) or throws {@link SafetensorsException} — never another
 * exception. A failure prints the seed, case, mutations and the index in base64.
 */
class ShardedIndexFuzzTest {
    private static final long SEED = 0x1D3E7F00L;
    private static final int CASES = 3000;
    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    private static final JsonMutator MUTATOR = new JsonMutator(
            List.of("-1", "0", "1", "32", "1e400", "-0.0", "18446744073709551616", "1.5", "null", "true", "[]", "{}", "\"32\""),
            List.of(SHARD1, SHARD2, "", ".", "..", "../" + SHARD1, "/" + SHARD1, "sub", "notes.txt", SafetensorsFolder.INDEX_FILE,
                    "missing.safetensors", "a", "b", "c", "d", "__metadata__", "weight_map", "metadata", "a\u0000", "sub\\x",
                    "\u00e9\ud83d\ude00", "x".repeat(300)),
            List.of("\"x\":null,", "\"weight_map\":{},", "\"metadata\":null,", "\"a\":\"" + SHARD2 + "\",", "\"e\":\"" + SHARD1 + "\",",
                    "\"d\":\"sub\",", "\"a\":1,", "\"metadata\":[],", "\"weight_map\":\"x\","));

    @TempDir
    Path dir;

    @Test
    @Timeout(30) // about a second; a hang fails here instead of stalling the build
    void mutatedIndexesOnlyEverThrowSafetensorsException() throws IOException {
        new SafetensorsWriter().metadata("format", "pt")
                .add("a", new long[]{2}, new float[]{1, 2}).add("b", new long[]{1}, new long[]{7}).write(dir.resolve(SHARD1));
        new SafetensorsWriter().metadata("format", "pt")
                .add("c", new long[]{2, 2}, new float[]{3, 4, 5, 6}).write(dir.resolve(SHARD2));
        Files.createDirectory(dir.resolve("sub"));
        Files.writeString(dir.resolve("notes.txt"), "not safetensors");
        byte[] seed = ("{\"metadata\": {\"total_size\": 32, \"format\": \"pt\"}, \"weight_map\": {\"a\": \"" + SHARD1
                + "\", \"c\": \"" + SHARD2 + "\", \"b\": \"" + SHARD1 + "\"}}").getBytes(StandardCharsets.UTF_8);
        Path index = dir.resolve(SafetensorsFolder.INDEX_FILE);
        Files.write(index, seed);
        try (ShardedSafetensors s = ShardedSafetensors.open(index)) {
            assertEquals(3, s.tensors().size(), "the seed itself is valid");
        }

        Random random = new Random(SEED);
        int accepted = 0;
        for (int c = 0; c < CASES; c++) {
            List<String> applied = new ArrayList<>();
            byte[] bytes = MUTATOR.mutateSome(seed, random, applied);
            Files.write(index, bytes);
            try (ShardedSafetensors s = ShardedSafetensors.open(index)) {
                for (String name : s.tensors().keySet()) {
                    if (s.info(name).dtype().isFloatingPoint()) s.readFloats(name);
                    else s.readLongs(name);
                }
                assertFalse(s.tensors().isEmpty());
                accepted++;
            } catch (SafetensorsException expected) {
                assertTrue(expected.getMessage().startsWith(dir.toString()), expected.getMessage());
            } catch (Throwable t) {
                fail("seed " + SEED + " case " + c + " mutations " + applied + " threw " + t
                        + "\nindex (base64): " + Base64.getEncoder().encodeToString(bytes), t);
            }
        }
        assertTrue(accepted > 0 && accepted < CASES, "the mutations should give both valid and invalid indexes: " + accepted);
    }
}
