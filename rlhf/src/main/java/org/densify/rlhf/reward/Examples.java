package org.densify.rlhf.reward;

import org.densify.core.model.Batch;
import org.densify.loaders.data.Review;
import org.densify.loaders.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Tokenised training or held-out examples addressed by index: a batch of indices becomes one ragged
 * forward, whose classifier scores give the loss, its gradient and the correct count.
 */
interface Examples {
    int size();

    Batch batch(int[] idx);

    /**
     * Loss summed over the examples of {@code idx} from the scores of {@link #batch}'s sequences; with
     * {@code dscores} not null, also {@code scale * dLoss/dscores} in the batch's row order.
     */
    Tally score(float[][] scores, int[] idx, float[][] dscores, double scale);

    String noun();

    String metric();

    String objective();

    /** Pairs whose two sides are the same tokens. */
    default int identical() {
        return 0;
    }

    /** A summed loss and a count of correct examples. */
    record Tally(double loss, int correct) {}

    /** Reviews: one sequence each, cross-entropy against the label. */
    record Reviews(int[][] tokens, int[] labels) implements Examples {
        /** The shortest opening {@link #withOpenings} adds. */
        static final int SHORTEST_OPENING = 8;

        static Reviews of(List<Review> reviews, Tokenizer tok, int maxTokens, int[] dropped) {
            List<int[]> t = new ArrayList<>();
            List<Integer> l = new ArrayList<>();
            for (Review r : reviews) {
                int[] ids = RewardModelTrainer.encode(tok, r.text(), maxTokens);
                if (ids.length == 0) {
                    dropped[0]++;
                    continue;
                }
                t.add(ids);
                l.add(r.label());
            }
            return new Reviews(t.toArray(int[][]::new), l.stream().mapToInt(Integer::intValue).toArray());
        }

        /**
         * These reviews and, after them, one opening of each: its first n tokens, n drawn uniformly from
         * {@link #SHORTEST_OPENING}..longest (seeded), with the review's label. A review no longer than n
         * adds nothing, being its own opening.
         */
        Reviews withOpenings(int longest, long seed) {
            SplittableRandom random = new SplittableRandom(seed ^ 0x4f50454e494e4753L);
            List<int[]> t = new ArrayList<>(Arrays.asList(tokens));
            List<Integer> l = new ArrayList<>();
            for (int label : labels) l.add(label);
            for (int i = 0; i < tokens.length; i++) {
                int n = SHORTEST_OPENING + random.nextInt(longest - SHORTEST_OPENING + 1);
                if (n >= tokens[i].length) continue;
                t.add(Arrays.copyOf(tokens[i], n));
                l.add(labels[i]);
            }
            return new Reviews(t.toArray(int[][]::new), l.stream().mapToInt(Integer::intValue).toArray());
        }

        @Override
        public int size() {
            return tokens.length;
        }

        @Override
        public Batch batch(int[] idx) {
            int[][] seqs = new int[idx.length][];
            for (int i = 0; i < idx.length; i++) seqs[i] = tokens[idx[i]];
            return Batch.of(seqs);
        }

        @Override
        public Tally score(float[][] scores, int[] idx, float[][] dscores, double scale) {
            double loss = 0;
            int correct = 0;
            for (int i = 0; i < idx.length; i++) {
                int label = labels[idx[i]];
                loss += RewardLoss.classification(scores[i], label, dscores == null ? null : dscores[i], scale);
                if (RewardLoss.correct(scores[i], label)) correct++;
            }
            return new Tally(loss, correct);
        }

        @Override
        public String noun() {
            return "reviews";
        }

        @Override
        public String metric() {
            return "accuracy";
        }

        @Override
        public String objective() {
            return "cross-entropy";
        }
    }

    /** Pairs: chosen sequences then rejected ones in one batch, Bradley–Terry on their rewards. */
    record Pairs(int[][] chosen, int[][] rejected, int identical) implements Examples {
        static Pairs of(List<RewardData.Pair> pairs, Tokenizer tok, int maxTokens, int[] dropped) {
            List<int[]> c = new ArrayList<>(), r = new ArrayList<>();
            int same = 0;
            for (RewardData.Pair p : pairs) {
                int[] ci = RewardModelTrainer.encode(tok, p.prompt() + p.chosen(), maxTokens), ri = RewardModelTrainer.encode(tok, p.prompt() + p.rejected(), maxTokens);
                if (ci.length == 0 || ri.length == 0) {
                    dropped[0]++;
                    continue;
                }
                if (Arrays.equals(ci, ri)) same++;
                c.add(ci);
                r.add(ri);
            }
            return new Pairs(c.toArray(int[][]::new), r.toArray(int[][]::new), same);
        }

        @Override
        public int size() {
            return chosen.length;
        }

        @Override
        public Batch batch(int[] idx) {
            int[][] seqs = new int[2 * idx.length][];
            for (int i = 0; i < idx.length; i++) {
                seqs[i] = chosen[idx[i]];
                seqs[idx.length + i] = rejected[idx[i]];
            }
            return Batch.of(seqs);
        }

        @Override
        public Tally score(float[][] scores, int[] idx, float[][] dscores, double scale) {
            int B = idx.length;
            double loss = 0;
            int correct = 0;
            for (int i = 0; i < B; i++) {
                loss += RewardLoss.bradleyTerry(scores[i], scores[B + i], dscores == null ? null : dscores[i],
                        dscores == null ? null : dscores[B + i], scale);
                if (RewardLoss.prefers(scores[i], scores[B + i])) correct++;
            }
            return new Tally(loss, correct);
        }

        @Override
        public String noun() {
            return "pairs";
        }

        @Override
        public String metric() {
            return "preference accuracy";
        }

        @Override
        public String objective() {
            return "bradley-terry";
        }
    }
}
