package org.densify.rlhf.reward;

import org.densify.loaders.data.DataFormatException;
import org.densify.loaders.data.Review;

import java.io.IOException;
import java.util.List;

/**
 * What a reward model trains on: labelled reviews (a classifier) or preference pairs (a
 * Bradley–Terry scalar reward).
 *
 * <p>{@link #load} tells the two apart by content: the word {@code sample} and folders are IMDb
 * ({@link org.densify.loaders.data.ImdbDataset}); a file whose first JSON record has {@code prompt} / {@code chosen} /
 * {@code rejected} fields is JSON Lines of preference pairs; any other JSON or JSONL file is read
 * as IMDb reviews ({@code {"t","s"}} or {@code {"text","label"}}). Files may be gzipped.
 */
public sealed interface RewardData {

    /** Where the data came from, for messages and the run summary. */
    String source();

    /** Number of records (reviews or pairs). */
    int size();

    /** Labelled reviews: 0 negative, 1 positive. */
    record Classification(List<Review> reviews, String source) implements RewardData {
        public Classification {
            reviews = List.copyOf(reviews);
        }

        @Override
        public int size() {
            return reviews.size();
        }
    }

    /** One preference: the reward of {@code prompt + chosen} should exceed that of {@code prompt + rejected}. */
    record Pair(String prompt, String chosen, String rejected) {
        public Pair {
            if (prompt == null || chosen == null || rejected == null) throw new IllegalArgumentException("a preference pair needs three strings");
        }
    }

    /** Preference pairs. */
    record Preference(List<Pair> pairs, String source) implements RewardData {
        public Preference {
            pairs = List.copyOf(pairs);
        }

        @Override
        public int size() {
            return pairs.size();
        }
    }

    /**
     * Loads {@code sample} (the bundled IMDb sample), an IMDb file or folder, or a JSONL file of
     * preference pairs. Problems are {@link DataFormatException}s naming the file, the line and the field.
     */
    static RewardData load(String pathOrSample) throws IOException {
        return RewardDataFiles.load(pathOrSample);
    }
}
