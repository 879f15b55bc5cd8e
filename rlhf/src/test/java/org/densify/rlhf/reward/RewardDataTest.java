package org.densify.rlhf.reward;

import org.densify.loaders.data.DataFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class RewardDataTest {
    @TempDir
    Path tmp;

    private Path write(String name, String content) throws IOException {
        Path f = tmp.resolve(name);
        Files.writeString(f, content);
        return f;
    }

    @Test
    void reviewsAreClassificationData() throws IOException {
        Path f = write("reviews.jsonl", "{\"t\":\"A fine <br />film\",\"s\":1}\n{\"text\":\"dull\",\"label\":0,\"id\":7}\n");
        RewardData d = RewardData.load(f.toString());
        RewardData.Classification c = assertInstanceOf(RewardData.Classification.class, d);
        assertEquals(2, c.size());
        assertEquals("A fine film", c.reviews().get(0).text(), "IMDb texts are cleaned");
        assertEquals(0, c.reviews().get(1).label());
        assertEquals(f.toString(), c.source());

        Path array = write("reviews.json", "[{\"t\":\"good\",\"s\":1}]");
        assertEquals(1, assertInstanceOf(RewardData.Classification.class, RewardData.load(array.toString())).size());

        RewardData sample = RewardData.load("sample");
        assertEquals(4000, sample.size());
        assertEquals("bundled sample", sample.source());
    }

    @Test
    void pairsAreToldByTheirFields() throws IOException {
        Path f = write("pairs.jsonl", "{\"prompt\":\"The film\",\"chosen\":\" was great\",\"rejected\":\" was bad\",\"score\":3}\n\n"
                + "{\"rejected\":\"no\",\"chosen\":\"yes\",\"prompt\":\"\"}\n");
        RewardData.Preference p = assertInstanceOf(RewardData.Preference.class, RewardData.load(f.toString()));
        assertEquals(2, p.size());
        assertEquals(new RewardData.Pair("The film", " was great", " was bad"), p.pairs().get(0));
        assertEquals(new RewardData.Pair("", "yes", "no"), p.pairs().get(1));

        Path gz = tmp.resolve("pairs.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(Files.readAllBytes(f));
        }
        assertEquals(p.pairs(), assertInstanceOf(RewardData.Preference.class, RewardData.load(gz.toString())).pairs());
    }

    @Test
    void badPairsNameTheFileLineAndField() throws IOException {
        String ok = "{\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\"}\n";
        Path missing = write("missing.jsonl", ok + "{\"prompt\":\"p\",\"chosen\":\"a\"}\n");
        assertMessage(missing, "line 2", "missing field 'rejected'");

        Path noPrompt = write("noprompt.jsonl", "{\"chosen\":\"a\",\"rejected\":\"b\"}\n");
        assertMessage(noPrompt, "line 1", "missing field 'prompt'");

        Path notString = write("number.jsonl", ok + ok + "{\"prompt\":\"p\",\"chosen\":5,\"rejected\":\"b\"}\n");
        assertMessage(notString, "line 3", "field 'chosen' must be a string, found 5");

        Path notObject = write("array.jsonl", ok + "[1, 2]\n");
        assertMessage(notObject, "line 2", "expected a preference record");

        Path broken = write("broken.jsonl", ok + "{\"prompt\": \"p\",\n");
        assertMessage(broken, "invalid JSON at line");
    }

    @Test
    void badReviewsNameTheFileLineAndField() throws IOException {
        Path label = write("label.jsonl", "{\"t\":\"good\",\"s\":1}\n{\"t\":\"bad\",\"s\":3}\n");
        assertMessage(label, "line 2", "field 's' must be 0 or 1");
        Path noLabel = write("nolabel.jsonl", "{\"t\":\"good\",\"s\":1}\n{\"t\":\"bad\"}\n");
        assertMessage(noLabel, "line 2", "missing field 's'");
        Path neither = write("neither.jsonl", "{\"question\":\"q\",\"answer\":\"a\"}\n");
        assertMessage(neither, "line 1", "[question, answer]", "neither an IMDb review", "\"prompt\", \"chosen\", \"rejected\"");
    }

    @Test
    void emptyDataIsRefused() throws IOException {
        assertMessage(write("empty.jsonl", ""), "empty file");
        assertMessage(write("blank.jsonl", "\n  \n"), "empty file");
        assertMessage(write("none.json", "[]"), "no reviews");
        Path folder = Files.createDirectories(tmp.resolve("acl/pos"));
        Files.createDirectories(tmp.resolve("acl/neg"));
        assertMessage(folder.getParent(), "no reviews");
        DataFormatException e = assertThrows(DataFormatException.class, () -> RewardData.load(tmp.resolve("absent.jsonl").toString()));
        assertTrue(e.getMessage().contains("absent.jsonl: no such file"), e.getMessage());
    }

    private static void assertMessage(Path file, String... parts) {
        DataFormatException e = assertThrows(DataFormatException.class, () -> RewardData.load(file.toString()));
        assertTrue(e.getMessage().startsWith(file.toString()), "should name the file first: " + e.getMessage());
        for (String part : parts) assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertTrue(e.getMessage().length() < 400, "short: " + e.getMessage());
    }
}
