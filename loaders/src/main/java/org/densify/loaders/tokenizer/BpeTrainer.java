package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import org.densify.loaders.io.AtomicFiles;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.stream.Stream;

/**
 * Learns a byte-level BPE vocabulary of a chosen size from a corpus, with GPT-2's pre-tokenizer.
 *
 * <p>Ids 0..255 are the 256 bytes in GPT-2's order (printable bytes first), as in GPT-2's own
 * vocabulary; then one token per merge; {@code <|endoftext|>} is the last id. A literal
 * {@code <|endoftext|>} in the corpus separates documents and is not learned from.
 *
 * <p>Each step merges the adjacent pair with the highest count over the corpus, counting each
 * distinct piece once with its multiplicity. Ties go to the pair with the smaller left id, then
 * the smaller right id, so training is deterministic. Occurrences merge left to right without
 * overlap, as the encoder does. Pair counts are updated only for the pieces that hold the merged
 * pair, found through a pair-to-pieces index. When two merges spell the same string the token is
 * reused, so the vocabulary may need more merges than {@code size - 257}; when no pair is left the
 * vocabulary stays smaller than asked.
 */
public final class BpeTrainer {
    private final int vocabSize;

    /** A trainer for a vocabulary of {@code vocabSize} tokens (at least 257: bytes + end of text). */
    public BpeTrainer(int vocabSize) {
        if (vocabSize < 257) throw new IllegalArgumentException("vocabulary size " + vocabSize + " < 257");
        this.vocabSize = vocabSize;
    }

    /** The learned tokens in id order and the merges in rank order ("left right", vocabulary spelling). */
    public record Trained(List<String> tokens, List<String> merges) {
        public Trained {
            tokens = List.copyOf(tokens);
            merges = List.copyOf(merges);
        }

        public int vocabSize() {
            return tokens.size();
        }

        /** A tokenizer of this vocabulary. */
        public Gpt2Tokenizer tokenizer() {
            try {
                return Gpt2Tokenizer.build(tokens.toArray(String[]::new), mergePairs(), "trained vocabulary",
                        "trained merges");
            } catch (IOException e) {
                throw new UncheckedIOException(e); // cannot happen: the trainer made consistent tables
            }
        }

        /**
         * Writes {@code merges.txt} and then {@code vocab.json} (Hugging Face names and format) into
         * {@code dir}, creating it. Each file is written to a temporary file and moved into place, so
         * a reader never sees a half-written file; but the two files are replaced one after the other,
         * not together. A crash (or a failed write) between the two leaves the new merges beside the
         * old vocabulary, and a reader that loads while this runs may see that pair too.
         *
         * <p>Merges go first because {@link Gpt2Tokenizer#load} checks merges against the vocabulary
         * (every merge's tokens and their concatenation must be in it) and not the other way round,
         * and because the vocabulary is what a model is bound to (its size is the embedding's rows).
         * With the vocabulary written last, a torn pair still has the old vocabulary whole: a
         * retrained tokenizer with more tokens is refused (its new merges name tokens the old
         * vocabulary lacks), and one with fewer tokens keeps the old, larger size, which a model
         * trained on the new files does not match. Written the other way, the new vocabulary with
         * the old, shorter merges would load without complaint, with the new size, and encode with
         * merges missing. To replace a tokenizer as one unit, write it into a new directory and
         * rename the directory.
         */
        public void write(Path dir) throws IOException {
            Files.createDirectories(dir);
            ByteArrayOutputStream json = new ByteArrayOutputStream();
            try (JsonGenerator g = new JsonFactory().createGenerator(json)) {
                g.writeStartObject();
                for (int id = 0; id < tokens.size(); id++) g.writeNumberField(tokens.get(id), id);
                g.writeEndObject();
            }
            StringBuilder txt = new StringBuilder("#version: 0.2\n");
            for (String m : merges) txt.append(m).append('\n');
            AtomicFiles.write(dir.resolve("merges.txt"), txt.toString().getBytes(StandardCharsets.UTF_8));
            AtomicFiles.write(dir.resolve("vocab.json"), json.toByteArray());
        }

        private List<String[]> mergePairs() {
            return merges.stream().map(m -> m.split(" ")).toList();
        }
    }

    public Trained train(Stream<String> texts) {
        return train((Iterable<String>) texts::iterator);
    }

    public Trained train(Iterable<String> texts) {
        // 1. Distinct pieces with their counts, in order of first appearance (for determinism).
        Map<String, long[]> pieceCounts = new LinkedHashMap<>();
        for (String text : texts) {
            for (int from = 0, at; from <= text.length(); from = at + Gpt2Tokenizer.END_OF_TEXT.length()) {
                at = text.indexOf(Gpt2Tokenizer.END_OF_TEXT, from);
                if (at < 0) at = text.length();
                for (int s = from, e; s < at; s = e) {
                    e = PreTokenizer.pieceEnd(text, s, at);
                    pieceCounts.computeIfAbsent(text.substring(s, e), k -> new long[1])[0]++;
                }
            }
        }
        int[] idOfByte = new int[256];
        List<String> tokens = new ArrayList<>();
        Map<String, Integer> idOf = new HashMap<>();
        for (int i = 0; i < 256; i++) {
            int b = ByteLevel.byteAtId(i);
            idOfByte[b] = i;
            String t = String.valueOf(ByteLevel.byteChar(b));
            tokens.add(t);
            idOf.put(t, i);
        }
        int words = pieceCounts.size();
        int[][] sym = new int[words][];
        int[] len = new int[words];
        long[] count = new long[words];
        int w = 0;
        for (Map.Entry<String, long[]> e : pieceCounts.entrySet()) {
            String piece = e.getKey();
            int[] s = new int[3 * piece.length()];
            int n = ByteLevel.utf8(piece, 0, piece.length(), s);
            for (int i = 0; i < n; i++) s[i] = idOfByte[s[i]];
            sym[w] = s;
            len[w] = n;
            count[w++] = e.getValue()[0];
        }

        // 2. Pair counts and, per pair, the words that held it (possibly stale: checked when used).
        LongLongMap pairCount = new LongLongMap(1 << 16);
        LongLongMap pairWords = new LongLongMap(1 << 16); // pair -> index into 'lists'
        List<IntList> lists = new ArrayList<>();
        for (w = 0; w < words; w++) {
            for (int i = 0; i + 1 < len[w]; i++) {
                long p = LongLongMap.pair(sym[w][i], sym[w][i + 1]);
                pairCount.add(p, count[w]);
                wordsOf(p, pairWords, lists).addOnce(w);
            }
        }
        PriorityQueue<long[]> heap = new PriorityQueue<>(BpeTrainer::byCountThenPair);
        pairCount.forEach((p, c) -> heap.add(new long[]{c, p}));

        // 3. Merge until the vocabulary (plus end of text) is full.
        List<String> merges = new ArrayList<>();
        int[] seen = new int[words];
        Arrays.fill(seen, -1);
        while (tokens.size() < vocabSize - 1 && !heap.isEmpty()) {
            long[] top = heap.poll();
            long p = top[1];
            long current = pairCount.get(p, 0);
            if (current != top[0]) {
                if (current > 0) heap.add(new long[]{current, p}); // stale count: requeue
                continue;
            }
            int a = (int) (p >>> 32), b = (int) p;
            String spelled = tokens.get(a) + tokens.get(b);
            Integer existing = idOf.get(spelled);
            int x = existing != null ? existing : tokens.size();
            if (existing == null) {
                tokens.add(spelled);
                idOf.put(spelled, x);
            }
            int step = merges.size();
            merges.add(tokens.get(a) + " " + tokens.get(b));
            LongLongMap touched = new LongLongMap(64);
            IntList holders = lists.get((int) pairWords.get(p, -1));
            for (int k = 0; k < holders.size; k++) {
                w = holders.items[k];
                if (seen[w] == step) continue;
                seen[w] = step;
                int[] s = sym[w];
                int n = len[w];
                long m = count[w];
                boolean holds = false;
                for (int i = 0; i + 1 < n && !holds; i++) holds = s[i] == a && s[i + 1] == b;
                if (!holds) continue;
                for (int i = 0; i + 1 < n; i++) pairCount.add(LongLongMap.pair(s[i], s[i + 1]), -m);
                int c = Merges.replacePair(s, n, a, b, x);
                len[w] = c;
                for (int i = 0; i + 1 < c; i++) {
                    long q = LongLongMap.pair(s[i], s[i + 1]);
                    pairCount.add(q, m);
                    if (s[i] == x || s[i + 1] == x) {
                        wordsOf(q, pairWords, lists).addOnce(w);
                        touched.put(q, 1);
                    }
                }
            }
            // Only pairs holding the new token can have gained count; the others' entries are
            // at least their true count and get corrected when they reach the top.
            touched.forEach((q, ignored) -> heap.add(new long[]{pairCount.get(q, 0), q}));
        }
        tokens.add(Gpt2Tokenizer.END_OF_TEXT);
        return new Trained(tokens, merges);
    }

    /** Highest count first, then smaller left id, then smaller right id. */
    private static int byCountThenPair(long[] u, long[] v) {
        int c = Long.compare(v[0], u[0]);
        return c != 0 ? c : Long.compare(u[1], v[1]); // ids are non-negative: long order is (left, right) order
    }

    private static IntList wordsOf(long pair, LongLongMap index, List<IntList> lists) {
        long i = index.get(pair, -1);
        if (i < 0) {
            i = lists.size();
            lists.add(new IntList());
            index.put(pair, i);
        }
        return lists.get((int) i);
    }

    private static final class IntList {
        int[] items = new int[4];
        int size;

        /** Adds {@code v} unless it was the last added (a word adds itself once per pass). */
        void addOnce(int v) {
            if (size > 0 && items[size - 1] == v) return;
            if (size == items.length) items = Arrays.copyOf(items, size * 2);
            items[size++] = v;
        }
    }
}
