package org.densify.rlhf.pretrain;

import org.densify.core.model.Batch;
import org.densify.loaders.data.Review;
import org.densify.loaders.tokenizer.Tokenizer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The training and held-out token streams: every review encoded and followed by the end-of-text
 * token, all joined end to end (GPT-2's document packing). Training windows start at random
 * offsets drawn from a generator seeded by (seed, step) alone, so any step's batch can be rebuilt
 * without replaying the ones before it; held-out windows are fixed.
 *
 * @param train training stream
 * @param test  held-out stream
 */
public record TokenData(int[] train, int[] test, int vocabSize) {

    public static TokenData encode(List<Review> train, List<Review> test, Tokenizer tokenizer) {
        return new TokenData(stream(train, tokenizer), stream(test, tokenizer), tokenizer.vocabSize());
    }

    static int[] stream(List<Review> reviews, Tokenizer tokenizer) {
        int eot = tokenizer.eotId();
        int[][] parts = new int[reviews.size()][];
        long n = 0;
        for (int i = 0; i < parts.length; i++) {
            parts[i] = tokenizer.encode(reviews.get(i).text());
            n += parts[i].length + 1;
        }
        int[] out = new int[Math.toIntExact(n)];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
            out[at++] = eot;
        }
        return out;
    }

    /** SHA-256 of both streams (lengths, then the ids as little-endian int32): what a checkpoint's data must match. */
    public String hash() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (int[] s : new int[][]{train, test}) {
                ByteBuffer b = ByteBuffer.allocate(8 + 4 * s.length).order(ByteOrder.LITTLE_ENDIAN);
                b.putLong(s.length);
                b.asIntBuffer().put(s);
                sha.update(b.array());
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JDK has SHA-256
        }
    }

    /** Entropy of the training stream's token frequencies in nats/token: the loss of the best model that ignores context. */
    public double unigramEntropy() {
        long[] counts = new long[vocabSize];
        for (int t : train) counts[t]++;
        double h = 0;
        for (long c : counts) {
            if (c == 0) continue;
            double p = (double) c / train.length;
            h -= p * Math.log(p);
        }
        return h;
    }

    /** Step {@code step}'s batch: {@code windows} windows of {@code context} tokens at random offsets of the training stream. */
    public Batch trainBatch(long seed, int step, int windows, int context) {
        SplittableRandom random = new SplittableRandom(mix(mix(seed) + step));
        int[] tokens = new int[windows * context];
        int[] lengths = new int[windows];
        int span = train.length - context + 1;
        for (int w = 0; w < windows; w++) {
            int offset = random.nextInt(span);
            System.arraycopy(train, offset, tokens, w * context, context);
            lengths[w] = context;
        }
        return new Batch(tokens, lengths);
    }

    /**
     * The held-out windows, in batches of at most {@code perBatch}: up to {@code evalTokens / context}
     * windows, spread evenly over the held-out stream without overlapping (fewer when it is short;
     * one shorter window when it is shorter than {@code context}).
     */
    public List<Batch> evalBatches(int evalTokens, int context, int perBatch) {
        int length = Math.min(context, test.length);
        int n = Math.max(1, Math.min(evalTokens / context, test.length / length));
        int[][] windows = new int[n][];
        for (int i = 0; i < n; i++) {
            int offset = n == 1 ? 0 : (int) ((long) i * (test.length - length) / (n - 1));
            windows[i] = Arrays.copyOfRange(test, offset, offset + length);
        }
        ArrayList<Batch> out = new ArrayList<>();
        for (int from = 0; from < n; from += perBatch) {
            out.add(Batch.of(Arrays.copyOfRange(windows, from, Math.min(n, from + perBatch))));
        }
        return out;
    }

    /** SplitMix64's finaliser: neighbouring inputs give unrelated outputs (so streams of nearby steps never overlap). */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
