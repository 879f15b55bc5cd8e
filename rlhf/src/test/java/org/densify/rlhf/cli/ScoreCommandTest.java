package org.densify.rlhf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.credit.RewardModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ScoreCommandTest {
    @TempDir
    static Path dir;
    static Path rm, policy;

    @BeforeAll
    static void models() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        rm = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 5);
        policy = TinyFixtures.writeModel(dir.resolve("policy"), tokenizer, ModelKind.LM, 64, 6);
    }

    static JsonNode json(String... args) throws IOException {
        MainTest.Run r = MainTest.run(args);
        assertEquals(0, r.status(), r.err());
        return new ObjectMapper().readTree(r.out());
    }

    @Test
    void everyMethodsCreditsSumAsDocumentedAndTheRewardIsTheModels() throws IOException {
        float expected;
        int count;
        try (Backend b = Backends.create("cpu"); RewardModel model = RewardModel.load(b, rm)) {
            var tok = model.tokenizer();
            int[] q = tok.encode("The film was"), y = tok.encode(" superb and moving.");
            count = y.length;
            int[] ids = java.util.Arrays.copyOf(q, q.length + y.length);
            System.arraycopy(y, 0, ids, q.length, y.length);
            expected = RewardModel.scalar(model.model().forward(Batch.of(ids), ForwardOptions.forInference()).scores()[0]);
        }
        for (String method : new String[] {"sparse", "uniform", "abc", "abc-d", "abc-d2", "abc-policy-final", "prefix-diff"}) {
            JsonNode j = json("score", "--reward-model", rm.toString(), "--policy", policy.toString(), "--prompt", "The film was",
                    "--completion", " superb and moving.", "--credit", method, "--json");
            assertEquals(expected, j.get("reward").doubleValue(), 1e-5, method);
            double sum = 0;
            for (JsonNode t : j.get("tokens")) sum += t.get("credit").doubleValue();
            assertEquals(count, j.get("tokens").size(), method);
            StringBuilder text = new StringBuilder();
            for (JsonNode t : j.get("tokens")) text.append(t.get("text").asText());
            assertEquals(" superb and moving.", text.toString(), "the tokens spell the completion");
            if (!method.equals("prefix-diff")) assertEquals(expected, sum, 1e-5, method + " credits sum to the reward");
            if (method.startsWith("abc-d")) {
                assertEquals(0.0, j.get("tokens").get(0).get("credit").doubleValue(), 0.0, method + ": shifted, the first token gets nothing");
                assertEquals(0.8, j.get("beta").doubleValue(), 0.0);
            }
        }
    }

    @Test
    void abcWeightsEqualThoseComputedFromTheMapsDensifyDumpWrites() throws IOException {
        String prompt = "The plot was", completion = " clever and the acting superb.";
        JsonNode scored = json("score", "--reward-model", rm.toString(), "--prompt", prompt, "--completion", completion, "--credit", "abc",
                "--beta", "1", "--json");
        int[] q, y;
        int layers, heads;
        try (Backend b = Backends.create("cpu"); RewardModel model = RewardModel.load(b, rm)) {
            q = model.tokenizer().encode(prompt);
            y = model.tokenizer().encode(completion);
            layers = model.model().shape().layers();
            heads = model.model().shape().heads();
        }
        int[] ids = java.util.Arrays.copyOf(q, q.length + y.length);
        System.arraycopy(y, 0, ids, q.length, y.length);
        Path dump = dir.resolve("maps.safetensors");
        String idList = java.util.Arrays.stream(ids).mapToObj(Integer::toString).collect(java.util.stream.Collectors.joining(","));
        assertEquals(0, MainTest.run("dump", "--model", rm.toString(), "--ids", idList, "--out", dump.toString()).status());
        float[] maps;
        try (var file = org.densify.loaders.safetensors.SafetensorsFile.open(dump)) {
            maps = file.readFloats("attn.0." + (layers - 1)); // [H, T, T]
        }
        int T = ids.length, P = q.length;
        double[] row = new double[y.length];
        double sum = 0;
        for (int t = 0; t < y.length; t++) {
            for (int h = 0; h < heads; h++) row[t] += maps[(h * T + T - 1) * T + P + t] / heads;
            sum += row[t];
        }
        double reward = scored.get("reward").doubleValue();
        for (int t = 0; t < y.length; t++) {
            // beta 1: credit_t = alpha_t R
            assertEquals(row[t] / sum * reward, scored.get("tokens").get(t).get("credit").doubleValue(), 1e-6 * Math.max(1, Math.abs(reward)), "token " + t);
        }
    }

    @Test
    void tableAndHtml() throws IOException {
        Path page = dir.resolve("credit.html");
        MainTest.Run r = MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "I", "--completion", " loved it <b>", "--html", page.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("reward "), r.out());
        assertTrue(r.out().lines().count() > 2 && r.out().lines().skip(1).filter(l -> !l.startsWith("wrote ")).allMatch(l -> l.matches(" *\\d+ +\\d+  \".*\" +[-+]\\d+\\.\\d{4}.*")), r.out());
        String html = Files.readString(page);
        assertTrue(html.contains("&lt;"), "markup in the text is escaped");
        assertTrue(html.contains("rgba("), html);
    }

    @Test
    void badInputIsAUsageError() {
        assertEquals(2, MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "I", "--completion", "x", "--credit", "abc-policy").status());
        MainTest.Run noPolicy = MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "I", "--completion", "x", "--credit", "abc-d");
        assertEquals(2, noPolicy.status());
        assertTrue(noPolicy.err().contains("--credit abc-d reads the policy's attention: it needs --policy DIR"), noPolicy.err());
        assertEquals(2, MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "I", "--completion", "", "--credit", "abc").status());
        assertEquals(2, MainTest.run("score", "--reward-model", rm.toString(), "--prompt", "I", "--completion", "x", "--credit", "magic").status());
        MainTest.Run r = MainTest.run("score", "--reward-model", dir.resolve("missing").toString(), "--prompt", "I", "--completion", "x");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("missing"), r.err());
    }
}
