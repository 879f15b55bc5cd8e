package org.densify.rlhf.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Reviews with their openings: the training data that teaches a reward model to score short texts. */
class ExamplesTest {
    static Examples.Reviews reviews() {
        int[] lengths = {5, 12, 40, 300, 9, 64};
        int[][] tokens = new int[lengths.length][];
        for (int i = 0; i < lengths.length; i++) {
            int review = i;
            tokens[i] = IntStream.range(0, lengths[i]).map(t -> 1000 * review + t).toArray();
        }
        return new Examples.Reviews(tokens, new int[] {0, 1, 0, 1, 1, 0});
    }

    @Test
    void eachOpeningIsAPrefixOfItsReviewWithItsLabel() {
        Examples.Reviews base = reviews(), with = base.withOpenings(16, 7);
        for (int i = 0; i < base.size(); i++) {
            assertArrayEquals(base.tokens()[i], with.tokens()[i], "the reviews come first, unchanged");
            assertEquals(base.labels()[i], with.labels()[i]);
        }
        int added = with.size() - base.size();
        assertTrue(added >= 3 && added <= 5, "the 40-, 300- and 64-token reviews always add one; the 5-token one never: " + added);
        for (int j = base.size(); j < with.size(); j++) {
            int[] opening = with.tokens()[j];
            int review = opening[0] / 1000;
            assertTrue(opening.length >= 8 && opening.length <= 16, "length " + opening.length);
            assertTrue(opening.length < base.tokens()[review].length, "shorter than its review");
            assertArrayEquals(Arrays.copyOf(base.tokens()[review], opening.length), opening, "a prefix of review " + review);
            assertEquals(base.labels()[review], with.labels()[j], "labelled as its review");
        }
    }

    @Test
    void theLengthsAreSeededAndCoverTheRange() {
        Examples.Reviews base = reviews();
        assertArrayEquals(base.withOpenings(16, 3).tokens(), base.withOpenings(16, 3).tokens());
        int[] seen = new int[17];
        for (long seed = 0; seed < 200; seed++) {
            Examples.Reviews with = base.withOpenings(16, seed);
            for (int j = base.size(); j < with.size(); j++) seen[with.tokens()[j].length]++;
        }
        for (int n = 8; n <= 16; n++) assertTrue(seen[n] > 0, "length " + n + " drawn");
    }

    @Test
    void aBadOpeningLengthIsRefused() {
        assertEquals("--openings must be 0 (none) or >= 8, got 5",
                RewardModelTrainer.Settings.defaults().toBuilder().openings(5).build().problems().getFirst());
        assertTrue(RewardModelTrainer.Settings.defaults().toBuilder().openings(0).build().problems().isEmpty());
    }
}
