package org.densify.rlhf.reward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.loaders.data.Review;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;
import org.densify.rlhf.credit.RewardModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RewardModelEvaluationTest {
    @TempDir
    static Path dir;
    static Path rm, scalarRm;
    static List<Review> reviews;

    @BeforeAll
    static void models() throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        rm = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 24, 5);
        Gpt2Config one = Gpt2Config.builder().vocabSize(TinyFixtures.VOCAB).nPositions(24).nEmbd(32).nLayer(2).nHead(2).numLabels(1)
                .dropout(0, 0, 0).build();
        scalarRm = TinyFixtures.writeModel(dir.resolve("rm1"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, one, 5);
        List<String> texts = TinyFixtures.reviews(40);
        reviews = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) reviews.add(new Review(texts.get(i), 1 - i % 2));
    }

    /** One sequence at a time, read at its last token: independent of the evaluation's batching. */
    static double score(RewardModel model, int[] ids) {
        return RewardModel.scalar(model.model().forward(Batch.of(ids), ForwardOptions.forInference()).scores()[0]);
    }

    @Test
    void accuracyOnReviewsAndFixedLengthOpeningsIsThatOfScoringEachTextAlone() throws IOException {
        try (Backend b = Backends.create("cpu"); RewardModel model = RewardModel.load(b, rm)) {
            var settings = new RewardModelEvaluation.Settings(5, 5, new int[] {4, 8}, 0, 7, 3);
            RewardModelEvaluation.Report report = new RewardModelEvaluation(model, settings).evaluate(reviews);
            int correctFull = 0, correctOpen = 0;
            double sumPos = 0;
            int pos = 0;
            for (Review r : reviews) {
                int[] ids = model.tokenizer().encode(r.text());
                double full = score(model, Arrays.copyOf(ids, Math.min(ids.length, 24)));
                double open = score(model, Arrays.copyOf(ids, 5));
                if ((full > 0) == (r.label() == 1)) correctFull++;
                if ((open > 0) == (r.label() == 1)) correctOpen++;
                if (r.label() == 1) {
                    sumPos += full;
                    pos++;
                }
            }
            assertEquals(24, report.contextTokens());
            assertEquals(reviews.size(), report.reviews().count());
            assertEquals((double) correctFull / reviews.size(), report.reviews().accuracy(), 1e-12);
            assertEquals(sumPos / pos, report.reviews().meanPositive(), 1e-5);
            assertEquals((double) correctOpen / reviews.size(), report.openings().accuracy(), 1e-12);
        }
    }

    @Test
    void theLengthCurveUsesTheSameReviewsAtEveryLengthAndDropsLengthsBeyondTheContext() throws IOException {
        try (Backend b = Backends.create("cpu"); RewardModel model = RewardModel.load(b, rm)) {
            var settings = new RewardModelEvaluation.Settings(3, 6, new int[] {2, 6, 20, 64}, 0, 16, 1);
            RewardModelEvaluation.Report report = new RewardModelEvaluation(model, settings).evaluate(reviews);
            assertEquals(List.of(2, 6, 20), report.byLength().stream().map(RewardModelEvaluation.LengthPoint::length).toList(),
                    "64 exceeds the context of 24");
            long longEnough = reviews.stream().filter(r -> model.tokenizer().encode(r.text()).length >= 20).count();
            assertTrue(longEnough > 0);
            for (var p : report.byLength()) assertEquals(longEnough, p.count(), "every length reads the same reviews");
            // Paired per review, so the mean difference is the difference of the means.
            assertEquals(report.byLength().getFirst().meanScore() - report.byLength().getLast().meanScore(), report.shortVsLong(), 1e-9);
            assertTrue(report.shortVsLongSe() > 0);
        }
    }

    @Test
    void aOneLabelModelAndBadSettingsAreRefused() throws IOException {
        try (Backend b = Backends.create("cpu"); RewardModel model = RewardModel.load(b, scalarRm)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new RewardModelEvaluation(model, RewardModelEvaluation.Settings.defaults()));
            assertTrue(e.getMessage().contains("two-label"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new RewardModelEvaluation.Settings(5, 4, new int[] {8}, 0, 16, 0));
        assertThrows(IllegalArgumentException.class, () -> new RewardModelEvaluation.Settings(5, 6, new int[] {8, 8}, 0, 16, 0));
    }
}
