package org.densify.loaders.safetensors;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

import static org.densify.loaders.safetensors.SafetensorsFileTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;

class ShardedSafetensorsTest {
    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    @TempDir
    Path dir;

    @BeforeEach
    void writeShards() throws IOException {
        new SafetensorsWriter().metadata("format", "pt")
                .add("a", new long[]{2}, new float[]{1, 2}).add("b", new long[]{1}, new long[]{7}).write(dir.resolve(SHARD1));
        new SafetensorsWriter().metadata("format", "pt")
                .add("c", new long[]{2, 2}, new float[]{3, 4, 5, 6}).write(dir.resolve(SHARD2));
    }

    private Path index(String weightMap) throws IOException {
        return Files.writeString(dir.resolve(SafetensorsFolder.INDEX_FILE),
                "{\"metadata\": {\"total_size\": 32}, \"weight_map\": {" + weightMap + "}}");
    }

    private static final String GOOD = "\"a\": \"" + SHARD1 + "\", \"c\": \"" + SHARD2 + "\", \"b\": \"" + SHARD1 + "\"";

    @Test
    void readsAcrossShards() throws IOException {
        index(GOOD);
        try (TensorSource s = SafetensorsFolder.open(dir)) {
            ShardedSafetensors sharded = assertInstanceOf(ShardedSafetensors.class, s);
            assertEquals(List.of("b", "a", "c"), List.copyOf(s.tensors().keySet()), "shard by shard, each in data order");
            assertArrayEquals(new float[]{3, 4, 5, 6}, s.readFloats("c"));
            assertArrayEquals(new long[]{7}, s.readLongs("b"));
            assertArrayEquals(new int[]{7}, s.readInts("b"));
            assertArrayEquals(new long[]{2, 2}, s.info("c").shape());
            assertEquals(8, s.segment("a").byteSize());
            assertEquals("pt", s.metadata().get("format"));
            assertEquals(32, sharded.indexMetadata().get("total_size"));
            assertEquals(dir.resolve(SHARD2), sharded.shardOf("c").path());
            assertMessage(assertThrows(SafetensorsException.class, () -> s.readFloats("zz")), "tensor 'zz': not found");
        }
    }

    @Test
    void singleFileWinsOverIndex() throws IOException {
        index(GOOD);
        new SafetensorsWriter().add("only", new long[]{1}, new float[]{1}).write(dir.resolve(SafetensorsFolder.SINGLE_FILE));
        try (TensorSource s = SafetensorsFolder.open(dir)) {
            assertInstanceOf(SafetensorsFile.class, s);
        }
        try (TensorSource s = TensorSource.open(dir.resolve(SafetensorsFolder.INDEX_FILE))) {
            assertInstanceOf(ShardedSafetensors.class, s);
        }
    }

    @Test
    void folderWithoutWeightsIsAClearError() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        IOException e = assertThrows(NoSuchFileException.class, () -> SafetensorsFolder.open(empty));
        assertMessage(e, "no model.safetensors or model.safetensors.index.json");
    }

    @Test
    void tensorMappedToTheWrongShard() throws IOException {
        index("\"a\": \"" + SHARD2 + "\", \"c\": \"" + SHARD2 + "\", \"b\": \"" + SHARD1 + "\"");
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                "tensor 'a': stored in shard '" + SHARD1 + "' but the weight_map says '" + SHARD2 + "'");
    }

    @Test
    void shardTensorMissingFromTheMap() throws IOException {
        index("\"a\": \"" + SHARD1 + "\", \"c\": \"" + SHARD2 + "\"");
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                "tensor 'b': stored in shard '" + SHARD1 + "' but missing from the weight_map");
    }

    @Test
    void mappedTensorAbsentFromItsShard() throws IOException {
        index(GOOD + ", \"d\": \"" + SHARD2 + "\"");
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                "tensor 'd': the weight_map puts it in shard '" + SHARD2 + "', which does not hold it");
    }

    @Test
    void tensorInTwoShards() throws IOException {
        new SafetensorsWriter().add("a", new long[]{1}, new float[]{9}).add("c", new long[]{2, 2}, new float[4]).write(dir.resolve(SHARD2));
        index(GOOD);
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                "tensor 'a': stored in both shard '" + SHARD1 + "' and shard '" + SHARD2 + "'");
    }

    @Test
    void missingShardFile() throws IOException {
        index(GOOD + ", \"e\": \"model-00003-of-00002.safetensors\"");
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                "shard 'model-00003-of-00002.safetensors' (which the weight_map names for 1 tensors, e.g. 'e') does not exist");
    }

    @Test
    void shardNamesCannotLeaveTheFolder() throws IOException {
        index("\"a\": \"../" + SHARD1 + "\"");
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                "weight_map entry for 'a' must be the file name of a shard in the same folder");
    }

    @Test
    void malformedIndex() throws IOException {
        Path p = Files.writeString(dir.resolve(SafetensorsFolder.INDEX_FILE), "{\"weight_map\": [1]}");
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), "'weight_map' must be an object");
        Files.writeString(p, "{\"weight_map\": {\"a\": 1}");
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), p + ": not valid JSON");
        Files.writeString(p, "{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}");
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), "not valid JSON");
    }

    /** Every problem with the index's bytes is a SafetensorsException naming the index, whatever Jackson would make of them. */
    @Test
    void indexMustBeStrictUtf8Json() throws IOException {
        Path p = dir.resolve(SafetensorsFolder.INDEX_FILE);
        // Looks like UTF-32BE to an encoding sniffer ("00 00 00 7B"); once a CharConversionException escaped.
        Files.write(p, new byte[]{0, 0, 0, '{', (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p));
        assertMessage(e, p + ": not valid UTF-8 (bad byte 0xff at offset 4)");
        // Valid UTF-8 that a sniffer would read as UTF-32: just not JSON.
        Files.write(p, new byte[]{0, 0, 0, '{', 0, 0, 0, '}'});
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), p + ": not valid JSON at character 1: Illegal character ((CTRL-CHAR, code 0))");
        // Invalid UTF-8 inside a string is not replaced by U+FFFD.
        Files.write(p, ("{\"weight_map\": {\"a\": \"" + SHARD1 + "\"}, \"metadata\": {\"x\": \"caf\u00e9\"}}").getBytes(StandardCharsets.ISO_8859_1));
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), p + ": not valid UTF-8");
        // Anything after the object.
        Files.writeString(p, "{\"weight_map\": {" + GOOD + "}} {}");
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), p + ": not valid JSON");
        Files.writeString(p, "{\"weight_map\": {" + GOOD + "}} x");
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), p + ": not valid JSON");
        Files.writeString(p, "");
        assertMessage(assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(p)), p + ": not valid JSON");
        Files.writeString(p, "{\"weight_map\": {" + GOOD + "}}  \n");
        ShardedSafetensors.open(p).close(); // trailing whitespace is fine
    }

    @Test
    void emptyWeightMapIsNotAModel() throws IOException {
        index("");
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)),
                dir.resolve(SafetensorsFolder.INDEX_FILE) + ": 'weight_map' is empty");
    }

    @Test
    void badShardIsReportedWithItsOwnPath() throws IOException {
        Files.write(dir.resolve(SHARD2), new byte[3]);
        index(GOOD);
        assertMessage(assertThrows(SafetensorsException.class, () -> SafetensorsFolder.open(dir)), SHARD2 + ": file is 3 bytes");
    }
}
