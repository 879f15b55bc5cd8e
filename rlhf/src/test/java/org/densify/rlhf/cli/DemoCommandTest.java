package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The main job end to end, in its quick form: every stage runs, the files and the table come out, nothing is NaN. */
class DemoCommandTest {
    @TempDir
    Path work;

    @Test
    void theQuickDemoRunsEndToEndAndReusesItsModels() throws IOException {
        MainTest.Run first = MainTest.run("demo", "--quick", "--work", work.toString());
        assertEquals(0, first.status(), first.err());
        for (String stage : List.of("1/4 tokenizer: learning", "2/4 policy: pretraining", "3/4 reward model: a GPT-2 classifier", "4/4 PPO 3/3: abc")) {
            assertTrue(first.err().contains(stage), "stage '" + stage + "' missing from\n" + first.err());
        }
        List<String> table = first.out().lines().filter(l -> l.startsWith("| ")).toList();
        assertEquals(5, table.size(), first.out()); // header, rule, three methods
        for (String method : List.of("sparse", "uniform", "abc")) {
            String row = table.stream().filter(l -> l.startsWith("| " + method + " |")).findFirst().orElseThrow(() -> new AssertionError(method + " row missing"));
            String[] cells = row.split("\\|");
            for (int c : new int[] {2, 3, 4, 6, 7}) Double.parseDouble(cells[c].strip()); // numbers, never NaN (parse accepts "NaN": check below)
            assertFalse(row.contains("NaN") || row.contains("Infinity"), row);
        }
        assertTrue(first.out().contains("PPO step, mean of 18:"), first.out());
        String rm = first.out().lines().filter(l -> l.startsWith("reward model: held-out accuracy ")).findFirst().orElseThrow();
        assertFalse(rm.contains("NaN"), rm);

        byte[] png = Files.readAllBytes(work.resolve("reward.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4), "reward.png is a PNG");
        assertTrue(png.length > 10_000, "a chart with content, " + png.length + " bytes");
        assertTrue(Files.readString(work.resolve("results.md")).contains("| abc |"));
        List<String> csv = Files.readAllLines(work.resolve("rewards.csv"));
        assertEquals("step,sparse_reward,sparse_kl,uniform_reward,uniform_kl,abc_reward,abc_kl", csv.getFirst());
        assertEquals(7, csv.size());
        for (String line : csv.subList(1, csv.size())) assertFalse(line.contains("NaN"), line);
        for (String method : List.of("sparse", "uniform", "abc")) {
            assertEquals(6, Files.readAllLines(work.resolve("ppo").resolve(method).resolve("log.jsonl")).size(), method + " log");
        }

        MainTest.Run again = MainTest.run("demo", "--quick", "--work", work.toString(), "--steps", "2", "--credit", "sparse,abc-d,abc-d2");
        assertEquals(0, again.status(), again.err());
        for (String cached : List.of("1/4 tokenizer: cached", "2/4 policy: cached", "3/4 reward model: cached")) {
            assertTrue(again.err().contains(cached), again.err());
        }
        assertTrue(again.out().contains("| abc-d |") && again.out().contains("| abc-d2 |"), again.out());
    }
}
