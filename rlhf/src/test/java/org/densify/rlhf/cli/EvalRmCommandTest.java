package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import org.densify.loaders.model.ModelKind;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalRmCommandTest {
    @TempDir
    static Path dir;
    static Path rm;

    @BeforeAll
    static void models() throws IOException {
        rm = TinyFixtures.writeModel(dir.resolve("rm"), TinyFixtures.writeTokenizer(dir), ModelKind.SEQUENCE_CLASSIFIER, 24, 5);
    }

    @Test
    void theCommandPrintsTheReportAsJson() throws IOException {
        Path data = TinyFixtures.writeReviews(dir, 200);
        MainTest.Run r = MainTest.run("eval-rm", "--reward-model", rm.toString(), "--data", data.toString(), "--eval-fraction", "0.5",
                "--windows", "4,8,16", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("reviews").get("count").intValue() > 50, r.out());
        double acc = j.get("openings").get("accuracy").doubleValue();
        assertTrue(acc >= 0 && acc <= 1, r.out());
        assertEquals(3, j.get("by_length").size());
        MainTest.Run bad = MainTest.run("eval-rm", "--reward-model", rm.toString(), "--openings", "9-x");
        assertEquals(2, bad.status(), bad.err());
        assertTrue(bad.err().contains("--openings"), bad.err());
    }
}
