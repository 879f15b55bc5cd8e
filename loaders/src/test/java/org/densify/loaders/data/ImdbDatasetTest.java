package org.densify.loaders.data;

import org.junit.jupiter.api.Test;
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
        assertTrue(e.getMessage().contains("bad.json"), e.getMessage());
    }

    private static void write(Path f, String text) throws IOException {
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
    }
}
