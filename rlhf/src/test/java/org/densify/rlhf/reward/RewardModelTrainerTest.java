package org.densify.rlhf.reward;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.core.model.LanguageModel;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.model.ModelFormatException;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.tokenizer.BpeTrainer;
import org.densify.loaders.tokenizer.Gpt2Tokenizer;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.run.Checkpoints;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Reward models trained on a toy sentiment task (a few "good" or "bad" words among neutral ones) by a tiny GPT-2. */
class RewardModelTrainerTest {
    private static final String[] GOOD = {"great", "good", "lovely", "superb"};
    private static final String[] BAD = {"awful", "bad", "dull", "poor"};
    private static final String[] FILLER = {"the", "film", "was", "and", "plot", "acting", "story", "it"};
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    static Path lm;
    static Backend backend;
    static List<Review> reviews;
    static List<RewardData.Pair> pairs;

    /** Short reviews: neutral words with two sentiment words of the label's side at random places. */
    static List<Review> toyReviews(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<Review> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int label = i % 2;
            List<String> words = new ArrayList<>();
            int len = 3 + random.nextInt(4);
            for (int w = 0; w < len; w++) words.add(FILLER[random.nextInt(FILLER.length)]);
            String[] side = label == 1 ? GOOD : BAD;
            for (int k = 0; k < 2; k++) words.add(random.nextInt(words.size() + 1), side[random.nextInt(side.length)]);
            out.add(new Review(String.join(" ", words) + " (" + i + ")", label));
        }
        return out;
    }

    @BeforeAll
    static void fixtures() throws IOException {
        reviews = toyReviews(240, 1);
        SplittableRandom random = new SplittableRandom(2);
        pairs = new ArrayList<>();
        for (int i = 0; i < 240; i++) {
            String prompt = "the " + FILLER[random.nextInt(FILLER.length)] + " was";
            String good = " " + GOOD[random.nextInt(GOOD.length)] + " " + i, bad = " " + BAD[random.nextInt(BAD.length)] + " " + i;
            pairs.add(new RewardData.Pair(prompt, good, bad));
        }
        Path tokenizer = tmp.resolve("tokenizer");
        List<String> texts = new ArrayList<>(reviews.stream().map(Review::text).toList());
        new BpeTrainer(300).train(texts).write(tokenizer);
        lm = writeLm(tmp.resolve("lm"), tokenizer, 0);
        backend = Backends.create("cpu");
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }

    /**
     * A randomly initialised 2-layer GPT-2 LM folder with the tokenizer beside it; with {@code poison}
     * 1 one weight is NaN (refused on load), with 2 the embeddings are finite but so large that the
     * forward overflows (the loss is not finite).
     */
    static Path writeLm(Path dir, Path tokenizer, int poison) throws IOException {
        int vocab = Gpt2Tokenizer.load(tokenizer).vocabSize();
        Gpt2Config config = Gpt2Config.builder().vocabSize(vocab).nPositions(48).nEmbd(32).nLayer(2).nHead(2).dropout(0, 0, 0).build();
        try (Backend b = Backends.create("cpu"); Gpt2Model m = Gpt2Model.create(b, config, Heads.NONE)) {
            m.initialize(5);
            if (poison == 1) b.write(m.parameter("h.1.mlp.c_fc.weight"), 3, new float[]{Float.NaN});
            if (poison == 2) {
                float[] huge = new float[Math.toIntExact(m.parameter("wte.weight").length())];
                java.util.Arrays.fill(huge, Float.MAX_VALUE);
                b.write(m.parameter("wte.weight"), 0, huge);
            }
            m.save(dir, ModelKind.LM);
        }
        Checkpoints.copyTokenizer(tokenizer, dir);
        return dir;
    }

    static RewardModelTrainer.Settings toy() {
        return RewardModelTrainer.Settings.defaults().toBuilder().maxTokens(64).epochs(4).lr(3e-3).warmup(3).evalFraction(0.25).build();
    }

    static RewardModelTrainer.Result train(RewardModelTrainer.Settings s, Path init, RewardData data, Path out) throws IOException {
        StringWriter progress = new StringWriter();
        RewardModelTrainer.Result r = RewardModelTrainer.train(backend, s, init, data, out, new PrintWriter(progress));
        assertTrue(progress.toString().contains("epoch " + s.epochs() + "/" + s.epochs()), progress.toString());
        return r;
    }

    @Test
    void classifierLearnsToySentimentAndReloadsWithTheSameScores() throws IOException {
        Path out = tmp.resolve("rm-cls");
        RewardModelTrainer.Settings s = toy();
        RewardModelTrainer.Result r = train(s, lm, new RewardData.Classification(reviews, "toy"), out);
        assertEquals(2, r.labels());
        assertEquals(4, r.epochs().size());
        assertTrue(r.accuracy() >= 0.9, "held-out accuracy " + r.accuracy() + " " + r.epochs());
        assertTrue(r.loss() < 0.4, "held-out loss " + r.loss());
        assertTrue(r.epochs().getLast().trainLoss() < r.epochs().getFirst().trainLoss(), r.epochs().toString());
        assertEquals(r.trainExamples() + r.heldOutExamples(), reviews.size());
        assertEquals(ImdbDataset.split(reviews, 0.25).test().size(), r.heldOutExamples());

        // the folder is a Hugging Face classifier with the labels and pad token of a reward model
        JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals("GPT2ForSequenceClassification", config.get("architectures").get(0).asText());
        assertEquals("NEGATIVE", config.get("id2label").get("0").asText());
        assertEquals("POSITIVE", config.get("id2label").get("1").asText());
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(out);
        assertEquals(tok.eotId(), config.get("pad_token_id").asInt());
        try (ModelFolder f = ModelFolder.open(out)) {
            assertEquals(ModelKind.SEQUENCE_CLASSIFIER, f.kind());
            assertTrue(f.hasTensor("score.weight"));
        }
        JsonNode summary = JSON.readTree(out.resolve(RewardModelTrainer.SUMMARY).toFile());
        assertEquals("classification", summary.at("/data/kind").asText());
        assertEquals(r.accuracy(), summary.at("/held_out/accuracy").asDouble());
        assertEquals(4, summary.get("epochs").size());
        List<String> log = Files.readAllLines(out.resolve(RewardModelTrainer.LOG));
        assertEquals(r.steps(), log.size());
        JsonNode lastStep = JSON.readTree(log.getLast());
        assertEquals(r.accuracy(), lastStep.get("eval_accuracy").asDouble());
        assertEquals(r.loss(), lastStep.get("eval_loss").asDouble());
        assertFalse(JSON.readTree(log.getFirst()).has("eval_accuracy"), "only epoch ends evaluate");
        assertNoPartialFolders();

        // RewardModel.load scores the held-out reviews exactly as the trainer's last evaluation did
        try (RewardModel rm = RewardModel.load(backend, out)) {
            List<int[]> seqs = new ArrayList<>();
            List<Integer> labels = new ArrayList<>();
            for (Review rv : ImdbDataset.split(reviews, 0.25).test()) {
                seqs.add(RewardModelTrainer.encode(rm.tokenizer(), rv.text(), 64));
                labels.add(rv.label());
            }
            double loss = 0;
            int correct = 0;
            for (int from = 0; from < seqs.size(); from += s.batch()) {
                int to = Math.min(from + s.batch(), seqs.size());
                float[][] scores = rm.model().forward(Batch.of(seqs.subList(from, to).toArray(int[][]::new)),
                        ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)).scores();
                for (int i = from; i < to; i++) {
                    loss += RewardLoss.classification(scores[i - from], labels.get(i), null, 1);
                    if (RewardModel.scalar(scores[i - from]) > 0 == (labels.get(i) == 1)) correct++;
                }
            }
            assertEquals(r.accuracy(), (double) correct / seqs.size());
            assertEquals(r.loss(), loss / seqs.size(), 1e-12);
        }
    }

    @Test
    void preferencePairsTrainAScalarReward() throws IOException {
        Path out = tmp.resolve("rm-pairs");
        RewardModelTrainer.Result r = train(toy().toBuilder().epochs(3).build(), lm, new RewardData.Preference(pairs, "toy pairs"), out);
        assertEquals(1, r.labels(), "pairs default to one label");
        assertTrue(r.accuracy() >= 0.9, "held-out preference accuracy " + r.accuracy() + " " + r.epochs());
        assertTrue(r.loss() < Math.log(2) / 2, "Bradley-Terry loss " + r.loss());
        JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals(1, config.get("id2label").size());
        JsonNode summary = JSON.readTree(out.resolve(RewardModelTrainer.SUMMARY).toFile());
        assertEquals("preference", summary.at("/data/kind").asText());
        assertEquals("bradley-terry", summary.get("objective").asText());
        assertEquals("preference accuracy", summary.at("/held_out/metric").asText());

        // the reloaded reward model ranks a fresh pair the trained way
        try (RewardModel rm = RewardModel.load(backend, out)) {
            int[] good = rm.tokenizer().encode("the plot was superb 9999"), bad = rm.tokenizer().encode("the plot was dull 9999");
            float[][] s = rm.model().forward(Batch.of(good, bad), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)).scores();
            assertTrue(RewardModel.scalar(s[0]) > RewardModel.scalar(s[1]), Arrays.deepToString(s));
        }
    }

    @Test
    void twoLabelPreferenceRewardUsesTheLogitDifference() throws IOException {
        Path out = tmp.resolve("rm-pairs-2");
        RewardModelTrainer.Result r = train(toy().toBuilder().epochs(2).labels(2).build(), lm, new RewardData.Preference(pairs, "toy pairs"), out);
        assertEquals(2, r.labels());
        assertTrue(r.accuracy() >= 0.85, "held-out preference accuracy " + r.accuracy());
    }

    @Test
    void aFreshHeadIsDrawnAsGpt2ModelLoadDrawsIt() throws IOException {
        try (ModelFolder folder = ModelFolder.open(lm)) {
            try (LanguageModel ours = ClassifierInit.load(backend, lm, 2, 7, 11);
                 Gpt2Model theirs = Gpt2Model.load(backend, folder, Heads.CLASSIFIER, 11)) {
                assertEquals(7, ours.shape().padTokenId());
                assertEquals(List.of(ClassifierInit.SENTIMENT.get(0), ClassifierInit.SENTIMENT.get(1)), ours.shape().labels());
                assertArrayEquals(floats(theirs, null), floats(ours, null));
                float[] head = floats(ours, "score.weight");
                double sq = 0;
                for (float v : head) sq += v * v;
                assertEquals(0.02, Math.sqrt(sq / head.length), 0.005, "score head drawn with initializer_range");
            }
            try (LanguageModel one = ClassifierInit.load(backend, lm, 1, 7, 11)) {
                assertEquals(1, one.numLabels());
            }
        }
    }

    @Test
    void aClassifierIsTrainedFurtherWithItsHead() throws IOException {
        Path first = tmp.resolve("rm-first");
        train(toy().toBuilder().epochs(1).build(), lm, new RewardData.Classification(reviews, "toy"), first);
        try (ModelFolder folder = ModelFolder.open(first); LanguageModel m = ClassifierInit.load(backend, first, 1, 0, 99)) {
            assertArrayEquals(folder.floats("score.weight"), floats(m, "score.weight"), "the stored head is kept, not redrawn");
            assertEquals(2, m.numLabels(), "a classifier keeps its labels");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> train(toy().toBuilder().labels(1).build(), first, new RewardData.Classification(reviews, "toy"), tmp.resolve("rm-mismatch")));
        assertTrue(e.getMessage().contains("already a classifier with 2 labels"), e.getMessage());

        Path second = tmp.resolve("rm-second");
        RewardModelTrainer.Result r = train(toy().toBuilder().epochs(1).lr(1e-3).build(), first, new RewardData.Classification(reviews, "toy"), second);
        JsonNode summary = JSON.readTree(second.resolve(RewardModelTrainer.SUMMARY).toFile());
        assertTrue(summary.get("continued_classifier").asBoolean());
        assertTrue(r.accuracy() > 0.6, "continued from a trained head: " + r.accuracy());
    }

    @Test
    void runsAreDeterministic() throws IOException {
        RewardModelTrainer.Settings s = toy().toBuilder().epochs(1).build();
        Path a = tmp.resolve("det-a"), b = tmp.resolve("det-b");
        train(s, lm, new RewardData.Classification(reviews, "toy"), a);
        train(s, lm, new RewardData.Classification(reviews, "toy"), b);
        assertArrayEquals(Files.readAllBytes(a.resolve("model.safetensors")), Files.readAllBytes(b.resolve("model.safetensors")));
    }

    @Test
    void anOutputFolderIsReplacedOnlyWithForce() throws IOException {
        Path out = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(out.resolve("keep.txt"), "mine");
        RewardModelTrainer.Settings s = toy().toBuilder().epochs(1).build();
        RewardData data = new RewardData.Classification(reviews.subList(0, 80), "toy");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(s, lm, data, out));
        assertTrue(e.getMessage().contains("--force"), e.getMessage());
        assertTrue(Files.exists(out.resolve("keep.txt")));

        train(s.toBuilder().force(true).build(), lm, data, out);
        assertFalse(Files.exists(out.resolve("keep.txt")), "--force replaces the folder");
        assertTrue(Files.exists(out.resolve("model.safetensors")));

        Path empty = Files.createDirectories(tmp.resolve("empty-out"));
        train(s, lm, data, empty);
        assertTrue(Files.exists(empty.resolve("config.json")), "an empty folder is used without --force");
        assertNoPartialFolders();
    }

    @Test
    void aNonFiniteLossStopsTheRun() throws IOException {
        Path nan = writeLm(tmp.resolve("lm-nan"), tmp.resolve("tokenizer"), 1);
        ModelFormatException refused = assertThrows(ModelFormatException.class,
                () -> train(toy(), nan, new RewardData.Classification(reviews, "toy"), tmp.resolve("rm-nan-weights")));
        assertTrue(refused.getMessage().contains("'transformer.h.1.mlp.c_fc.weight' holds NaN"), refused.getMessage());
        assertFalse(Files.exists(tmp.resolve("rm-nan-weights")), "nothing is written");

        Path poisoned = writeLm(tmp.resolve("lm-huge"), tmp.resolve("tokenizer"), 2);
        Path out = tmp.resolve("rm-nan");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> train(toy(), poisoned, new RewardData.Classification(reviews, "toy"), out));
        assertTrue(e.getMessage().contains("NaN at step 1 (epoch 1)"), e.getMessage());
        assertFalse(Files.exists(out), "nothing is written");
        assertNoPartialFolders();
    }

    @Test
    void unusableSettingsAndDataAreRefused() {
        RewardData data = new RewardData.Classification(reviews.subList(0, 1), "one"); // one side of the split is empty
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> train(toy().toBuilder().evalFraction(0.25).build(), lm, data, tmp.resolve("x")));
        assertTrue(e.getMessage().startsWith("one: "), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> train(toy().toBuilder().batch(0).build(), lm, data, tmp.resolve("x")));
        assertEquals("--batch must be >= 1, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> train(toy().toBuilder().labels(3).build(), lm, data, tmp.resolve("x")));
        assertTrue(e.getMessage().startsWith("--labels must be 1"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("x")));
    }

    @Test
    void scheduleAndOrder() {
        LinearSchedule s = new LinearSchedule(1.0, 2, 6);
        float[] expected = {0.5f, 1f, 1f, 0.75f, 0.5f, 0.25f};
        for (int step = 1; step <= 6; step++) assertEquals(expected[step - 1], s.at(step), 1e-7f, "step " + step);
        assertThrows(IllegalArgumentException.class, () -> s.at(7));
        assertEquals(0.5f, new LinearSchedule(1.0, 0, 2).at(2), 0f);

        int[] order = RewardModelTrainer.shuffled(50, 3, 1);
        assertArrayEquals(order, RewardModelTrainer.shuffled(50, 3, 1));
        assertFalse(Arrays.equals(order, RewardModelTrainer.shuffled(50, 3, 2)), "each epoch has its own order");
        assertArrayEquals(java.util.stream.IntStream.range(0, 50).toArray(), Arrays.stream(order).sorted().toArray());
    }

    @Test
    void textsKeepTheirBeginning() throws IOException {
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(lm);
        String text = "the film was great and the plot was dull";
        int[] all = tok.encode(text);
        assertArrayEquals(Arrays.copyOf(all, 5), RewardModelTrainer.encode(tok, text, 5));
        assertArrayEquals(all, RewardModelTrainer.encode(tok, text, 1000));
    }

    private static float[] floats(LanguageModel m, String name) {
        if (name == null) {
            float[] all = new float[Math.toIntExact(m.layout().size())];
            m.backend().read(m.parameters(), 0, all);
            return all;
        }
        float[] v = new float[Math.toIntExact(m.layout().get(name).length())];
        m.backend().read(m.parameter(name), 0, v);
        return v;
    }

    private static void assertNoPartialFolders() throws IOException {
        try (Stream<Path> s = Files.list(tmp)) {
            List<Path> left = s.filter(p -> p.getFileName().toString().contains(".partial-") || p.getFileName().toString().contains(".old-")).toList();
            assertTrue(left.isEmpty(), "left behind: " + left);
        }
    }
}
