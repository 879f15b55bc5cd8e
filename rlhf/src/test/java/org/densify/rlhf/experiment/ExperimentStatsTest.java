package org.densify.rlhf.experiment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.densify.rlhf.experiment.ExperimentStats.Group;
import org.densify.rlhf.experiment.ExperimentStats.RunCurve;
import org.junit.jupiter.api.Test;

/** The aggregation math on hand-made runs whose answers are worked out by hand. */
class ExperimentStatsTest {
    static final double EPS = 1e-12;

    static RunCurve run(String group, long seed, double[] reward, double[] kl) {
        double[] length = new double[reward.length];
        for (int i = 0; i < length.length; i++) length[i] = 10 + seed + i; // group means 11 + i for seeds 0-2, 10.5 + i for seeds 0-1
        return new RunCurve(group, seed, reward, kl, length, 1.0);
    }

    /** Three seeds, four steps: per-step means 2, 2, 4, 6 with stds 1, 0, 1, 2. */
    static Group abc() {
        return ExperimentStats.group("abc", List.of(
                run("abc", 0, new double[]{1, 2, 3, 4}, new double[]{0, 0.1, 0.2, 0.3}),
                run("abc", 1, new double[]{3, 2, 5, 6}, new double[]{0, 0.3, 0.4, 0.5}),
                run("abc", 2, new double[]{2, 2, 4, 8}, new double[]{0, 0.2, 0.3, 0.4})));
    }

    /** Two seeds: seed-averaged curve 1, 1, 2, 1 (best 2 at step 3); per-seed means 1 and 1.5. */
    static Group sparse() {
        return ExperimentStats.group("sparse", List.of(
                run("sparse", 0, new double[]{1, 1, 1, 1}, new double[]{0, 0, 0, 0}),
                run("sparse", 1, new double[]{1, 1, 3, 1}, new double[]{0, 0, 0, 0})));
    }

    @Test
    void perStepMeanStdAndKlOverSeeds() {
        Group g = abc();
        assertArrayEquals(new double[]{2, 2, 4, 6}, g.rewardMean(), EPS);
        assertArrayEquals(new double[]{1, 0, 1, 2}, g.rewardStd(), EPS, "sample standard deviation (n - 1)");
        assertArrayEquals(new double[]{0, 0.2, 0.3, 0.4}, g.klMean(), EPS);
        assertArrayEquals(new double[]{11, 12, 13, 14}, g.lengthMean(), EPS);
        assertArrayEquals(new double[]{4, 6, 8}, g.finalRewards(), EPS);
        assertArrayEquals(new double[]{0.3, 0.5, 0.4}, g.finalKls(), EPS);
        assertArrayEquals(new double[]{2.5, 4, 4}, g.meanRewards(), EPS);
        assertEquals(6, g.best(), EPS);
        assertEquals(4, g.bestStep());
    }

    @Test
    void twoStandardErrorsOfTheMeanOverSteps() {
        double[] means = abc().meanRewards(); // 2.5, 4, 4: mean 3.5, variance 0.75, SE sqrt(0.75 / 3) = 0.5
        assertEquals(3.5, ExperimentStats.mean(means), EPS);
        assertEquals(Math.sqrt(0.75), ExperimentStats.std(means), EPS);
        assertEquals(1.0, 2 * ExperimentStats.standardError(means), EPS);
        // sparse's per-seed means 1 and 1.5: SE = std(0.3536) / sqrt(2) = 0.25; difference SE = sqrt(0.5^2 + 0.25^2)
        assertEquals(2 * Math.sqrt(0.25 + 0.0625), ExperimentStats.twoStandardErrorsOfDifference(means, sparse().meanRewards()), EPS);
        assertEquals(0, ExperimentStats.std(new double[]{7}), "one seed has no spread");
        assertEquals(0, ExperimentStats.standardError(new double[]{7}));
    }

    @Test
    void firstStepAboveIsStrictAndOneBased() {
        double[] curve = abc().rewardMean(); // 2, 2, 4, 6
        assertEquals(1, ExperimentStats.firstStepAbove(curve, 1.99));
        assertEquals(3, ExperimentStats.firstStepAbove(curve, 2), "equal is not above");
        assertEquals(3, ExperimentStats.firstStepAbove(curve, sparse().best()));
        assertEquals(-1, ExperimentStats.firstStepAbove(curve, 6));
        assertEquals(3, sparse().bestStep());
    }

    @Test
    void runsOfDifferentLengthsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ExperimentStats.group("g", List.of(
                run("g", 0, new double[]{1, 2}, new double[]{0, 0}), run("g", 1, new double[]{1}, new double[]{0}))));
        assertTrue(e.getMessage().contains("seed 1"), e.getMessage());
    }

    @Test
    void startEndPeakAndCollapseOverWindowsOfAFifthOfTheRun() {
        assertEquals(1, ExperimentStats.window(4));
        assertEquals(2, ExperimentStats.window(10));
        assertEquals(10, ExperimentStats.window(100));
        assertEquals(10, ExperimentStats.window(150), "at most 10 steps");
        // 10 steps, window 2: start (0 + 1) / 2, end (2 + 1) / 2, best window steps 5-6: (6 + 5) / 2
        double[] rises = {0, 1, 2, 3, 6, 5, 4, 3, 2, 1};
        double[] length = {8, 8, 9, 9, 10, 10, 12, 12, 14, 16};
        RunCurve r = new RunCurve("sparse", 3, rises, new double[10], length, 1);
        assertEquals(0.5, r.startReward(), EPS);
        assertEquals(1.5, r.endReward(), EPS);
        assertEquals(5.5, r.peakReward(), EPS);
        assertTrue(!r.endsBelowStart(), "ends at 1.5, above its start 0.5");
        assertArrayEquals(new double[]{8, 15}, new double[]{r.startLength(), r.endLength()}, EPS);
        RunCurve fell = new RunCurve("sparse", 4, new double[]{2, 1, 3, 4, 5, 4, 3, 2, 1, 0.5}, new double[10], length, 1);
        assertTrue(fell.endsBelowStart(), "ends at 0.75, below its start 1.5");
        assertEquals(4.5 - 0.75, fell.peakReward() - fell.endReward(), EPS);

        ExperimentConfig config = ExperimentConfig.parse("""
                {"name": "len", "models": {"policy": "p", "reward_model": "r"}, "methods": ["sparse"], "seeds": [3, 4], "steps": 10}""", "len.json");
        ExperimentReport report = new ExperimentReport(config, List.of(ExperimentStats.group("sparse", List.of(r, fell))), "hand-made",
                new ExperimentReport.Execution("cpu", 1, 2, 2, 0, 1));
        // start (0.5 + 1.5) / 2, end (1.5 + 0.75) / 2; falls 4 and 3.75; lengths 8 -> 15
        assertTrue(report.stabilityTable().contains("| sparse | 1 of 2 (seed 4) | 1.000 → 1.125 | 3.875; 4.000 (seed 3) | 8.0 → 15.0 |"),
                report.stabilityTable());
        assertTrue(report.runsCsv().contains("sparse,4,0.50000000,2.5500000,0.0000000,1.5000000,0.75000000,4.5000000,8.0000000,15.000000"),
                report.runsCsv());
    }

    /** The report's table and comparisons, from the same hand-made groups. */
    @Test
    void theReportStatesTheComparisonsTheNumbersSupport() {
        ExperimentConfig config = ExperimentConfig.parse("""
                {"name": "hand", "models": {"policy": "p", "reward_model": "r"}, "methods": ["sparse", "abc"], "seeds": [0, 1, 2], "steps": 4,
                 "ppo": {"batch": 16, "prompt_min": 2, "prompt_max": 8, "gen_min": 8, "gen_max": 16}}""", "hand.json");
        ExperimentReport report = new ExperimentReport(config, List.of(sparse(), abc()), "hand-made",
                new ExperimentReport.Execution("cpu", 1, 2, 0, 5, 1));
        String table = report.table();
        assertTrue(table.contains("| abc | 3 | 6.000 ± 2.000 | 3.500 ± 1.000 | 3 | 0.4000 | 9.62 ± 0.40 / 8.32 / 41 |"), table);
        assertTrue(table.contains("| sparse | 2 | 1.000 ± 0.000 | 1.250 ± 0.5000 | best 2.000 at step 3 | 0.000 | 8.68 ± 1.37 / 7.22"), table);
        List<String> facts = report.facts();
        assertTrue(facts.contains("Highest mean reward over steps 1-4: abc (3.500); next: sparse (1.250); difference 2.250, larger than 2 "
                + "standard errors of the difference (1.118)."), String.join("\n", facts));
        assertTrue(facts.contains("abc minus sparse, mean reward over steps 1-4: +2.250 (2 standard errors of the difference: 1.118; exceeds them)."),
                String.join("\n", facts));
        // a group that never beats sparse's best, and a difference within 2 standard errors
        Group flat = ExperimentStats.group("abc", List.of(run("abc", 0, new double[]{1, 1.5, 2, 1}, new double[4]),
                run("abc", 1, new double[]{1, 1, 1, 2}, new double[4])));
        ExperimentReport close = new ExperimentReport(config, List.of(sparse(), flat), "hand-made", new ExperimentReport.Execution("cpu", 1, 2, 0, 4, 1));
        assertTrue(close.table().contains("| abc | 2 | 1.500 ± 0.7071 | 1.313 ± 0.1250 | never |"), close.table());
        assertTrue(close.facts().stream().anyMatch(f -> f.startsWith("abc minus sparse") && f.endsWith("does not exceed them).")), String.join("\n", close.facts()));
        // one seed: no spread is shown and nothing is tested
        ExperimentConfig oneSeed = ExperimentConfig.parse("""
                {"name": "one", "models": {"policy": "p", "reward_model": "r"}, "methods": ["sparse", "abc"], "seeds": [0], "steps": 4}""", "one.json");
        Group single = ExperimentStats.group("abc", List.of(run("abc", 0, new double[]{1, 2, 3, 4}, new double[4])));
        Group singleSparse = ExperimentStats.group("sparse", List.of(run("sparse", 0, new double[]{1, 1, 1, 1}, new double[4])));
        ExperimentReport one = new ExperimentReport(oneSeed, List.of(singleSparse, single), "hand-made", new ExperimentReport.Execution("cpu", 1, 2, 2, 0, 1));
        assertTrue(one.table().contains("| abc | 1 | 4.000 ± — | 2.500 ± — | 2 |"), one.table());
        assertTrue(one.facts().getFirst().startsWith("One seed per group"), String.join("\n", one.facts()));
        assertTrue(one.facts().contains("abc minus sparse, mean reward over steps 1-4: +1.500."), String.join("\n", one.facts()));

        String csv = report.summaryCsv();
        assertEquals(1 + 8, csv.lines().count());
        assertTrue(csv.contains("abc,abc,,4,3,6.0000000,2.0000000,0.40000000,14.000000"), csv);
        assertTrue(csv.contains("sparse,sparse,,1,2,1.0000000,0.0000000,0.0000000,10.500000"), csv);
    }
}
