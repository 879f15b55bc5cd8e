package org.densify.rlhf.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.demo.DemoPlan;
import org.densify.rlhf.experiment.ExperimentConfig.Cell;
import org.junit.jupiter.api.Test;

/** The study config: the shipped studies read as intended, the normal form reads back equal, and every mistake names its field. */
class ExperimentConfigTest {
    /** The shipped configs, from the rlhf module's folder (where the tests run). */
    static ExperimentConfig shipped(String name) throws IOException {
        return ExperimentConfig.load(Path.of("..", "experiments", name + ".json"));
    }

    @Test
    void study1ComparesFiveMethodsOnFiveSeeds() throws IOException {
        ExperimentConfig c = shipped("study1-credit");
        assertEquals(new ExperimentConfig.DemoModels("full", Path.of("work/demo")), c.models());
        assertEquals(List.of("sparse", "uniform", "abc", "abc-d", "prefix-diff"), c.methods());
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), c.seeds());
        assertEquals(100, c.steps());
        assertEquals(0.8, c.beta());
        assertEquals(DemoPlan.full().ppo(), c.ppo(), "the demo's PPO settings: batch 16, prompts 2-8, 8-16 new tokens");
        assertEquals(16, c.ppo().batchSize());
        List<Cell> cells = c.cells(Path.of("out"));
        assertEquals(25, cells.size());
        assertEquals(Path.of("out/runs/abc-d/seed-3"), cells.get(3 * 5 + 3).dir());
        assertEquals(new Credit.AbcD(0.8), cells.get(3 * 5).credit());
        assertEquals(new Credit.Abc(0.8), cells.get(2 * 5).credit());
    }

    @Test
    void theAuthorsSettingStudiesRunTheIssuesGridOnTheRecipesModels() throws IOException {
        List<Long> tenSeeds = List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L);
        var recipe = new ExperimentConfig.FolderModels(Path.of("work/imdb/policy/model"), Path.of("work/imdb/rm"),
                "../shared/data/imdb/reviews.json.gz");
        ExperimentConfig credit = shipped("imdb-study1-credit");
        assertEquals(recipe, credit.models());
        assertEquals(List.of("sparse", "uniform", "abc", "abc-d", "abc-d2", "prefix-diff"), credit.methods());
        assertEquals(tenSeeds, credit.seeds());
        assertEquals(150, credit.steps());
        assertEquals(60, credit.cells(Path.of("out")).size());
        assertEquals(8, credit.ppo().genMin());
        assertEquals(16, credit.ppo().genMax());

        ExperimentConfig beta = shipped("imdb-study2-beta");
        assertEquals(recipe, beta.models());
        assertEquals(40, beta.cells(Path.of("out")).size());

        ExperimentConfig length = shipped("imdb-study3-length");
        assertEquals(recipe, length.models());
        List<Cell> cells = length.cells(Path.of("out"));
        assertEquals(80, cells.size());
        Cell longest = cells.get(3 * 10);
        assertEquals("sparse-gen-140-160", longest.group());
        assertEquals(140, longest.ppo().genMin());
        assertEquals(160, longest.ppo().genMax());
    }

    @Test
    void study2SweepsBeta() throws IOException {
        ExperimentConfig c = shipped("study2-beta");
        List<Cell> cells = c.cells(Path.of("out"));
        assertEquals(20, cells.size());
        assertEquals(List.of("abc-beta-0", "abc-beta-0.5", "abc-beta-0.8", "abc-beta-1"), cells.stream().map(Cell::group).distinct().toList());
        assertEquals(new Credit.Abc(0.5), cells.get(5).credit());
        assertEquals(Path.of("out/runs/abc-beta-0.5/seed-0"), cells.get(5).dir());
    }

    @Test
    void study3SweepsTheCompletionLength() throws IOException {
        ExperimentConfig c = shipped("study3-length");
        List<Cell> cells = c.cells(Path.of("out"));
        assertEquals(30, cells.size());
        assertEquals(List.of("sparse-gen-20-30", "sparse-gen-40-60", "sparse-gen-90-110", "abc-gen-20-30", "abc-gen-40-60", "abc-gen-90-110"),
                cells.stream().map(Cell::group).distinct().toList());
        Cell long_ = cells.get(2 * 5);
        assertEquals(90, long_.ppo().genMin());
        assertEquals(110, long_.ppo().genMax());
        assertEquals(2, long_.ppo().promptMin());
    }

    @Test
    void theImdbRewardModelStudiesChangeOnlyTheRewardModel() throws IOException {
        for (String[] pair : new String[][]{{"study1-credit-imdb-rm", "study1-credit"}, {"study2-beta-imdb-rm", "study2-beta"}, {"study3-length-imdb-rm", "study3-length"}}) {
            ExperimentConfig imdb = shipped(pair[0]), demo = shipped(pair[1]);
            assertEquals(new ExperimentConfig.FolderModels(Path.of("work/demo/policy/model"), Path.of("work/rm-imdb"), "sample"),
                    imdb.models(), pair[0]);
            assertEquals(DemoPlan.full().ppo(), imdb.ppo(), pair[0] + ": the demo's PPO settings, learning rate included");
            List<Cell> a = imdb.cells(Path.of("out")), b = demo.cells(Path.of("out"));
            assertEquals(b.stream().map(c -> c.group() + c.seed() + c.credit() + c.ppo()).toList(),
                    a.stream().map(c -> c.group() + c.seed() + c.credit() + c.ppo()).toList(), pair[0] + ": the same grid as " + pair[1]);
        }
    }

    @Test
    void smokeUsesTheQuickModels() throws IOException {
        ExperimentConfig c = shipped("smoke");
        assertEquals(new ExperimentConfig.DemoModels("quick", Path.of("work/demo-quick")), c.models());
        assertEquals(DemoPlan.quick().ppo(), c.ppo());
        assertEquals(4, c.cells(Path.of("x")).size());
        assertEquals(3, c.steps());
    }

    @Test
    void theNormalFormReadsBackEqual() throws IOException {
        for (String name : List.of("study1-credit", "study2-beta", "study3-length", "smoke")) {
            ExperimentConfig c = shipped(name);
            assertEquals(c, ExperimentConfig.parse(c.toJson().toString(), "normal form of " + name), name);
        }
        ExperimentConfig folders = ExperimentConfig.parse("""
                {"name": "f", "models": {"policy": "p", "reward_model": "r"}, "methods": ["abc-policy", "ABC-D2"], "seeds": [7], "steps": 2,
                 "ppo": {"lr": 1e-3, "adaptive_kl": false}}""", "f.json");
        assertEquals(List.of("abc-policy-final", "abc-d2"), folders.methods(), "aliases and any case become the canonical name");
        assertEquals(new ExperimentConfig.FolderModels(Path.of("p"), Path.of("r"), "sample"), folders.models());
        assertEquals(16, folders.ppo().batchSize(), "TRL's defaults without the demo");
        assertEquals(1e-3, folders.ppo().learningRate());
        assertEquals(false, folders.ppo().adaptiveKl());
        assertNull(folders.sweep());
        assertEquals(folders, ExperimentConfig.parse(folders.toJson().toString(), "again"));
    }

    @Test
    void aBetaSweepRunsTheMethodsWithoutBetaOnce() {
        ExperimentConfig c = ExperimentConfig.parse("""
                {"name": "b", "models": {"policy": "p", "reward_model": "r"}, "methods": ["sparse", "abc"], "seeds": [0, 1], "steps": 2,
                 "sweep": {"parameter": "beta", "values": [0, 1]}}""", "b.json");
        assertEquals(List.of("sparse", "sparse", "abc-beta-0", "abc-beta-0", "abc-beta-1", "abc-beta-1"), c.cells(Path.of("o")).stream().map(Cell::group).toList());
    }

    static final String VALID = """
            {"name": "t", "models": {"policy": "p", "reward_model": "r"}, "methods": ["sparse"], "seeds": [0], "steps": 2 %s}""";

    /** Parses VALID with {@code extra} added (or a whole replacement when it starts with { or [) and returns the error. */
    static String error(String extra) {
        String json = extra.startsWith("{") || extra.startsWith("[") ? extra : VALID.formatted(extra);
        return assertThrows(IllegalArgumentException.class, () -> ExperimentConfig.parse(json, "study.json"), json).getMessage();
    }

    @Test
    void mistakesNameTheFileAndTheField() {
        String[][] cases = {
                {", \"stpes\": 3", "unknown field 'stpes'"},
                {", \"ppo\": {\"bacth\": 3}", "unknown field 'ppo.bacth'"},
                {", \"ppo\": {\"minibatch\": 3}", "field 'ppo.minibatch' must divide batch (16)"},
                {", \"ppo\": {\"lr\": -1}", "field 'ppo.lr' must be a positive number"},
                {", \"ppo\": {\"gen_min\": 9, \"gen_max\": 8}", "field 'ppo.gen_max' must be > gen_min"},
                {", \"ppo\": {\"gen_min\": 8, \"gen_max\": 8}", "field 'ppo.gen_max' must be > gen_min (8): lengths are drawn from range"},
                {", \"sweep\": {\"parameter\": \"gen_length\", \"values\": [[5, 5]]}", "field 'sweep.values[0]' must be a [min, max] pair"},
                {", \"ppo\": {\"batch\": 2.5}", "field 'ppo.batch' must be an integer >= 1, got 2.5"},
                {", \"beta\": 1.5", "field 'beta' must be in [0, 1]"},
                {", \"sweep\": {\"parameter\": \"lr\", \"values\": [1]}", "field 'sweep.parameter' must be \"beta\" or \"gen_length\""},
                {", \"sweep\": {\"parameter\": \"gen_length\", \"values\": [[5]]}", "field 'sweep.values[0]' must be a [min, max] pair"},
                {", \"sweep\": {\"parameter\": \"gen_length\", \"values\": [[5, 6], [5, 6]]}", "field 'sweep.values[1]' repeats"},
                {", \"sweep\": {\"parameter\": \"beta\", \"values\": [0.5]}", "field 'sweep.parameter' beta changes none of the methods"},
                {", \"sweep\": {\"parameter\": \"gen_length\", \"values\": [[5, 6]]}, \"ppo\": {\"gen_min\": 2}", "field 'ppo.gen_min' is set by the gen_length sweep"},
                {", \"checkpoint_every\": 0", "field 'checkpoint_every' must be an integer >= 1"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"huge\"}, \"methods\": [\"sparse\"], \"seeds\": [0], \"steps\": 2}", "field 'models.demo' must be \"full\" or \"quick\""},
                {"{\"name\": \"t\", \"models\": {}, \"methods\": [\"sparse\"], \"seeds\": [0], \"steps\": 2}", "field 'models' must name the demo's models"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\", \"policy\": \"p\"}, \"methods\": [\"sparse\"], \"seeds\": [0], \"steps\": 2}", "unknown field 'models.policy'"},
                {"{\"name\": \"t\", \"models\": {\"policy\": \"p\"}, \"methods\": [\"sparse\"], \"seeds\": [0], \"steps\": 2}", "field 'models.reward_model' is missing"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"sparse\", \"nope\"], \"seeds\": [0], \"steps\": 2}", "field 'methods[1]' unknown credit method 'nope'"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\", \"abc\"], \"seeds\": [0], \"steps\": 2}", "field 'methods[1]' 'abc' is listed twice"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\"], \"seeds\": [], \"steps\": 2}", "field 'seeds' must not be empty"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\"], \"seeds\": [1, -1], \"steps\": 2}", "field 'seeds[1]' must be an integer >= 0"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\"], \"seeds\": [0], \"steps\": \"10\"}", "field 'steps' must be an integer >= 1, got \"10\""},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\"], \"seeds\": [0]}", "field 'steps' is missing"},
                {"{\"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\"], \"seeds\": [0], \"steps\": 1}", "field 'name' is missing"},
                {"{\"name\": \"t\", \"models\": {\"demo\": \"quick\"}, \"methods\": [\"abc\"], \"seeds\": [0], \"steps\": 1, \"beta\": 0.5, "
                        + "\"sweep\": {\"parameter\": \"beta\", \"values\": [0]}}", "field 'beta' is set by the beta sweep"},
                {"{\"name\": \"t\", \"name\": \"u\"}", "not valid JSON"},
                {"{\"name\": \"t\",", "not valid JSON"},
                {"[1]", "the config must be a JSON object"},
        };
        for (String[] c : cases) {
            String message = error(c[0]);
            assertTrue(message.startsWith("study.json: "), c[0] + " -> " + message);
            assertTrue(message.contains(c[1]), c[0] + " -> " + message);
        }
    }

    @Test
    void aMissingFileIsNamed() {
        IOException e = assertThrows(IOException.class, () -> ExperimentConfig.load(Path.of("no/such/study.json")));
        assertTrue(e.getMessage().contains("no/such/study.json"), e.getMessage());
    }
}
