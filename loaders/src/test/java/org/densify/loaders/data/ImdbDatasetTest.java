package org.densify.loaders.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class ImdbDatasetTest {

    @TempDir
    Path tmp;

    @Test
    void bundledSampleIsBalancedCleanAndDistinct() {
        List<Review> sample = ImdbDataset.bundledSample();
        assertEquals(4000, sample.size());
        assertEquals(2000, sample.stream().filter(r -> r.label() == 1).count());
        Set<String> texts = new HashSet<>();
        for (Review r : sample) {
            assertFalse(r.text().contains("<br"), "a <br /> tag survived cleaning");
            assertFalse(r.text().isBlank());
            assertTrue(texts.add(r.text()), "duplicate review in the sample");
        }
    }

    @Test
    void cleanReplacesLineBreakRunsWithOneSpace() {
        assertEquals("Good. Really good.", ImdbDataset.clean("Good.<br /><br />Really good."));
        assertEquals("a b", ImdbDataset.clean("a <br/> <BR> b"));
        assertEquals("end", ImdbDataset.clean("end<br />"));
        assertEquals("no tags here", ImdbDataset.clean("no tags here"));
    }

    @Test
    void readsJsonArrayGzippedOrPlain() throws IOException {
        String json = "[{\"t\":\"Great<br />film\",\"s\":1},{\"t\":\"Bad\",\"s\":0,\"id\":7}]";
        Path plain = tmp.resolve("r.json");
        Files.writeString(plain, json);
        Path gz = tmp.resolve("r.json.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(json.getBytes(StandardCharsets.UTF_8));
        }
        List<Review> expected = List.of(new Review("Great film", 1), new Review("Bad", 0));
        assertEquals(expected, ImdbDataset.load(plain));
        assertEquals(expected, ImdbDataset.load(gz));
    }

    @Test
    void readsJsonLinesWithEitherFieldNames() throws IOException {
        Path f = tmp.resolve("r.jsonl");
        Files.writeString(f, "{\"t\":\"one\",\"s\":0}\n{\"text\":\"two\",\"label\":1}\n\n");
        assertEquals(List.of(new Review("one", 0), new Review("two", 1)), ImdbDataset.load(f));
    }

    @Test
    void readsAclImdbFolderInPublishedOrder() throws IOException {
        Path root = tmp.resolve("aclImdb");
        write(root.resolve("train/pos/10_9.txt"), "pos ten");
        write(root.resolve("train/pos/2_8.txt"), "pos two");
        write(root.resolve("train/neg/0_1.txt"), "neg<br />zero");
        write(root.resolve("test/pos/0_10.txt"), "test pos");
        write(root.resolve("test/neg/0_3.txt"), "test neg");
        write(root.resolve("train/unsup/0_0.txt"), "ignored");
        List<Review> expected = List.of(new Review("neg zero", 0), new Review("pos two", 1), new Review("pos ten", 1),
                new Review("test neg", 0), new Review("test pos", 1));
        assertEquals(expected, ImdbDataset.load(tmp));
        assertEquals(expected, ImdbDataset.load(root));
        assertEquals(expected.subList(0, 3), ImdbDataset.load(root.resolve("train")));
    }

    @Test
    void badInputNamesFileRecordAndField() throws IOException {
        assertMessage("[{\"t\":\"x\",\"s\":2}]", "element 0: field 's' must be 0 or 1");
        assertMessage("[{\"t\":\"x\"}]", "element 0: missing field 's'");
        assertMessage("[{\"s\":1}]", "element 0: missing field 't'");
        assertMessage("[{\"t\":3,\"s\":1}]", "element 0: field 't' must be a string");
        assertMessage("[{\"t\":\"a\",\"s\":1}, 5]", "element 1: expected an object");
        assertMessage("{\"t\":\"a\",\"s\":1}\n{\"t\":\"b\"}\n", "line 2: missing field 's'");
        assertMessage("[{\"t\":\"a\",\"s\":1}", "bad.json");
        assertMessage("", "empty file");
        assertMessage("[{\"t\":\"a\",\"t\":\"b\",\"s\":1}]", "invalid JSON");
        assertMessage("[{\"t\":\"a\",\"s\":99999999999999999999}]", "field 's' must be 0 or 1");
        assertMessage("[{\"t\":\"a\",\"s\":1.0}]", "field 's' must be 0 or 1");
        DataFormatException e = assertThrows(DataFormatException.class, () -> ImdbDataset.load(tmp.resolve("absent.json")));
        assertTrue(e.getMessage().contains("absent.json"));
        Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(DataFormatException.class, () -> ImdbDataset.load(tmp.resolve("empty")));
        assertTrue(e.getMessage().contains("not an IMDb folder"), e.getMessage());
    }

    @Test
    void splitIsDeterministicOrderFreeAndKeepsDuplicatesTogether() {
        List<Review> sample = ImdbDataset.bundledSample();
        ImdbDataset.Split split = ImdbDataset.split(sample, 0.1);
        assertEquals(sample.size(), split.train().size() + split.test().size());
        // About a tenth, as a hash should give (binomial sd is 19 for 4000 reviews).
        assertTrue(Math.abs(split.test().size() - 400) < 100, "test size " + split.test().size());
        List<Review> reversed = new java.util.ArrayList<>(sample);
        java.util.Collections.reverse(reversed);
        assertEquals(new HashSet<>(split.test()), new HashSet<>(ImdbDataset.split(reversed, 0.1).test()));
        Review r = sample.get(17);
        ImdbDataset.Split withDuplicate = ImdbDataset.split(List.of(r, new Review(r.text(), r.label())), 0.5);
        assertTrue(withDuplicate.test().size() % 2 == 0, "duplicates were split apart");
        assertTrue(ImdbDataset.split(sample, 0).test().isEmpty());
        assertTrue(ImdbDataset.split(sample, 1).train().isEmpty());
        assertThrows(IllegalArgumentException.class, () -> ImdbDataset.split(sample, Double.NaN));
    }

    private void assertMessage(String content, String expected) throws IOException {
        Path f = tmp.resolve("bad.json");
        Files.writeString(f, content);
        DataFormatException e = assertThrows(DataFormatException.class, () -> ImdbDataset.load(f));
        assertTrue(e.getMessage().contains(expected), () -> "expected '" + expected + "' in: " + e.getMessage());
    }

    @Test
    void truncatedGzipIsAFormatError() throws IOException {
        Path gz = tmp.resolve("r.json.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("[{\"t\":\"Great film\",\"s\":1},{\"t\":\"Bad\",\"s\":0}]".getBytes(StandardCharsets.UTF_8));
        }
        byte[] whole = Files.readAllBytes(gz);
        Files.write(gz, java.util.Arrays.copyOf(whole, whole.length - 12));
        DataFormatException e = assertThrows(DataFormatException.class, () -> ImdbDataset.load(gz));
        assertTrue(e.getMessage().startsWith(gz.toString()), e.getMessage());
    }

    private static final String PUNCTUATION = "{}[]\":,01-.e ";

    /** Mutated JSON, JSON Lines and gzip inputs (fixed seed): only DataFormatException may escape. */
    @Test
    @Timeout(60)
    void mutatedInputsOnlyEverThrowDataFormatException() throws IOException {
        String json = "[{\"t\":\"Great<br />film\",\"s\":1},{\"t\":\"Bad \\u00e9\",\"s\":0,\"id\":[1,{\"x\":2}]}]";
        String jsonl = "{\"t\":\"one\",\"s\":0}\n{\"text\":\"two\",\"label\":1}\n";
        java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
        try (OutputStream out = new GZIPOutputStream(gz)) {
            out.write(json.getBytes(StandardCharsets.UTF_8));
        }
        byte[][] seeds = {json.getBytes(StandardCharsets.UTF_8), jsonl.getBytes(StandardCharsets.UTF_8), gz.toByteArray()};
        java.util.Random random = new java.util.Random(0x1DB);
        Path f = tmp.resolve("fuzz.json");
        int rejected = 0;
        for (int c = 0; c < 3000; c++) {
            byte[] bytes = seeds[c % seeds.length].clone();
            switch (random.nextInt(4)) {
                case 0 -> bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
                case 1 -> bytes[random.nextInt(bytes.length)] = (byte) random.nextInt(256);
                case 2 -> bytes = java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length));
                default -> bytes[random.nextInt(bytes.length)] = (byte) PUNCTUATION.charAt(random.nextInt(PUNCTUATION.length()));
            }
            Files.write(f, bytes);
            try {
                ImdbDataset.load(f);
            } catch (DataFormatException expected) {
                rejected++;
            } catch (Throwable t) {
                fail("case " + c + " threw " + t + " for " + java.util.Base64.getEncoder().encodeToString(bytes), t);
            }
        }
        assertTrue(rejected > 1000, "most mutations should be rejected, got " + rejected);
    }

    private static void write(Path f, String text) throws IOException {
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
    }
}
