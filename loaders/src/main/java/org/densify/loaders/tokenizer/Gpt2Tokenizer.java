package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * GPT-2's byte-level BPE tokenizer. Thread-safe: the tables are immutable and the piece cache is
 * concurrent.
 *
 * <p>{@link #encode} gives, id for id, what GPT-2's reference encoder gives (the {@code gpt-3-encoder}
 * npm package 1.1.4, the JavaScript port of OpenAI's {@code encoder.py}) for any Java string:
 * <ul>
 *   <li>pieces are cut as the reference's JavaScript regular expression cuts them, on code points,
 *       with that engine's Unicode classes ({@link PreTokenizer});</li>
 *   <li>each piece becomes UTF-8 as {@code TextEncoder} makes it: a lone surrogate becomes U+FFFD;</li>
 *   <li>a literal {@code "<|endoftext|>"} in the text is ordinary text (as in the reference). Use
 *       {@link #encodeWithSpecial} to turn it into {@link #eotId()}, as Hugging Face does.</li>
 * </ul>
 * {@link #decode} is the reference's decode: the tokens' bytes read as UTF-8 by the WHATWG decoder
 * ({@code TextDecoder}), so invalid bytes become U+FFFD exactly where the reference puts them.
 *
 * <p>Encoded pieces are cached (bounded: the cache is emptied when it reaches its capacity).
 */
public final class Gpt2Tokenizer {
    /** The end-of-text special token. */
    public static final String END_OF_TEXT = "<|endoftext|>";
    /** Cache entries of a tokenizer from {@link #load}; see {@link #withCacheCapacity}. */
    public static final int DEFAULT_CACHE_CAPACITY = 1 << 16;
    /** Longer pieces are not cached: they are rare and would pin large keys. */
    private static final int MAX_CACHED_CHARS = 48;
    private static final JsonFactory JSON = new JsonFactory();

    private final String[] tokens;
    private final Map<String, Integer> ids;
    private final byte[][] tokenBytes;
    private final int[] byteIds;
    private final Merges merges;
    private final int eot;
    private final int cacheCapacity;
    private final ConcurrentHashMap<String, int[]> cache;

    private Gpt2Tokenizer(String[] tokens, Map<String, Integer> ids, byte[][] tokenBytes, int[] byteIds,
                          Merges merges, int eot, int cacheCapacity) {
        this.tokens = tokens;
        this.ids = ids;
        this.tokenBytes = tokenBytes;
        this.byteIds = byteIds;
        this.merges = merges;
        this.eot = eot;
        this.cacheCapacity = cacheCapacity;
        this.cache = new ConcurrentHashMap<>(Math.min(cacheCapacity, 1 << 12));
    }

    // ---------------------------------------------------------------- loading

    /**
     * Loads a tokenizer folder: {@code vocab.json} + {@code merges.txt} (Hugging Face names) or
     * {@code encoder.json} + {@code vocab.bpe} (OpenAI names).
     */
    public static Gpt2Tokenizer load(Path dir) throws IOException {
        for (String[] names : new String[][]{{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}}) {
            Path vocab = dir.resolve(names[0]), mergesFile = dir.resolve(names[1]);
            boolean hasVocab = Files.isRegularFile(vocab), hasMerges = Files.isRegularFile(mergesFile);
            if (hasVocab && hasMerges) return load(vocab, mergesFile);
            if (hasVocab || hasMerges) {
                throw new NoSuchFileException((hasVocab ? mergesFile : vocab)
                        + " (needed beside " + (hasVocab ? vocab : mergesFile).getFileName() + ")");
            }
        }
        throw new NoSuchFileException(dir + ": no vocab.json + merges.txt nor encoder.json + vocab.bpe");
    }

    /** Loads a vocabulary (JSON object, token to id) and its merges file. */
    public static Gpt2Tokenizer load(Path vocabJson, Path mergesTxt) throws IOException {
        try (InputStream v = Files.newInputStream(vocabJson); InputStream m = Files.newInputStream(mergesTxt)) {
            return read(v, vocabJson.toString(), m, mergesTxt.toString());
        }
    }

    /** Reads a vocabulary and merges from streams (for example class-path resources); names go in messages. */
    public static Gpt2Tokenizer read(InputStream vocabJson, String vocabName, InputStream mergesTxt, String mergesName)
            throws IOException {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(vocabJson)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException(vocabName + ": expected a JSON object of token to id");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                if (p.nextToken() != JsonToken.VALUE_NUMBER_INT || p.getValueAsLong() < 0
                        || p.getValueAsLong() >= Integer.MAX_VALUE) {
                    throw new IOException(vocabName + ": token " + quote(token) + " has id " + p.getText()
                            + ", expected a non-negative integer");
                }
                vocab.put(token, p.getIntValue());
            }
        }
        List<String[]> pairs = new ArrayList<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(mergesTxt, StandardCharsets.UTF_8));
        int lineNo = 0;
        for (String line; (line = r.readLine()) != null; ) {
            lineNo++;
            if (lineNo == 1 && line.startsWith("#version")) continue;
            String[] parts = line.strip().split("\\s+");
            if (parts.length == 1 && parts[0].isEmpty()) continue;
            if (parts.length != 2) {
                throw new IOException(mergesName + " line " + lineNo + ": expected two tokens separated by a space, got "
                        + quote(line));
            }
            pairs.add(parts);
        }
        return build(vocab, pairs, mergesName);
    }

    /** Builds a tokenizer from a vocabulary and merges in rank order; {@code source} names them in messages. */
    static Gpt2Tokenizer build(Map<String, Integer> vocab, List<String[]> pairs, String source) throws IOException {
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        String[] tokens = new String[size];
        byte[][] tokenBytes = new byte[size][];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            int id = e.getValue();
            if (tokens[id] != null) {
                throw new IOException("vocabulary gives id " + id + " to both " + quote(tokens[id]) + " and "
                        + quote(e.getKey()));
            }
            tokens[id] = e.getKey();
            byte[] b = ByteLevel.tokenBytes(e.getKey());
            // A token outside the byte alphabet (an added special token) decodes as its own UTF-8.
            tokenBytes[id] = b != null ? b : e.getKey().getBytes(StandardCharsets.UTF_8);
        }
        int[] byteIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.byteChar(b)));
            if (id == null) {
                throw new IOException("vocabulary lacks the byte token " + quote(String.valueOf(ByteLevel.byteChar(b)))
                        + " (byte " + b + "): not a byte-level BPE vocabulary");
            }
            byteIds[b] = id;
        }
        Integer eot = vocab.get(END_OF_TEXT);
        if (eot == null) throw new IOException("vocabulary lacks " + END_OF_TEXT);

        // The reference keys ranks by "left,right" and a later merge with the same key replaces an
        // earlier one. Every split of a key at a comma into two tokens whose concatenation is a token
        // gets that key's rank; for the usual key that is just the merge itself.
        Map<String, Integer> ranks = new HashMap<>(pairs.size() * 2);
        for (int i = 0; i < pairs.size(); i++) {
            String[] p = pairs.get(i);
            for (String t : new String[]{p[0], p[1], p[0] + p[1]}) {
                if (!vocab.containsKey(t)) {
                    throw new IOException(source + ": merge " + (i + 1) + " (" + p[0] + " " + p[1] + "): "
                            + quote(t) + " is not in the vocabulary");
                }
            }
            ranks.put(p[0] + "," + p[1], i);
        }
        LongLongMap table = new LongLongMap(ranks.size() + 64);
        for (Map.Entry<String, Integer> e : ranks.entrySet()) {
            String key = e.getKey();
            for (int c = key.indexOf(','); c >= 0; c = key.indexOf(',', c + 1)) {
                Integer left = vocab.get(key.substring(0, c)), right = vocab.get(key.substring(c + 1));
                Integer merged = left == null || right == null ? null
                        : vocab.get(key.substring(0, c) + key.substring(c + 1));
                if (merged != null) table.put(LongLongMap.pair(left, right), Merges.entry(e.getValue(), merged));
            }
        }
        return new Gpt2Tokenizer(tokens, Map.copyOf(vocab), tokenBytes, byteIds, new Merges(table), eot,
                DEFAULT_CACHE_CAPACITY);
    }

    /**
     * A tokenizer sharing these tables with a new, empty cache of at most {@code entries} pieces
     * (0: no cache).
     */
    public Gpt2Tokenizer withCacheCapacity(int entries) {
        if (entries < 0) throw new IllegalArgumentException("cache capacity " + entries + " < 0");
        return new Gpt2Tokenizer(tokens, ids, tokenBytes, byteIds, merges, eot, entries);
    }

    // ---------------------------------------------------------------- vocabulary

    /** One more than the largest id (ids without a token, if any, are rejected by every method). */
    public int vocabSize() {
        return tokens.length;
    }

    /** The id of {@code <|endoftext|>}. */
    public int eotId() {
        return eot;
    }

    /** The vocabulary's spelling of a token (byte-level characters, e.g. {@code "Ġthe"}). */
    public String token(int id) {
        checkId(id);
        return tokens[id];
    }

    /** The id of a token spelled as in the vocabulary, or -1. */
    public int id(String token) {
        return ids.getOrDefault(token, -1);
    }

    /** The bytes a token stands for (a copy). */
    public byte[] tokenBytes(int id) {
        checkId(id);
        return tokenBytes[id].clone();
    }

    Merges merges() {
        return merges;
    }

    private void checkId(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (size " + tokens.length + ")");
        }
    }

    // ---------------------------------------------------------------- encoding

    /** The reference encoding: a literal {@code "<|endoftext|>"} is encoded as text. */
    public int[] encode(String text) {
        return run(text, false, false).ids();
    }

    /**
     * Like {@link #encode}, but each literal {@code "<|endoftext|>"} becomes {@link #eotId()} and the
     * text between them is encoded separately (Hugging Face's handling of special tokens).
     */
    public int[] encodeWithSpecial(String text) {
        return run(text, true, false).ids();
    }

    /** {@link #encode} with each token's character span; see {@link Encoding}. */
    public Encoding encodeWithOffsets(String text) {
        return run(text, false, true);
    }

    /** {@link #encode} or, when {@code special}, {@link #encodeWithSpecial}, with character spans. */
    public Encoding encodeWithOffsets(String text, boolean special) {
        return run(text, special, true);
    }

    /**
     * Token ids with the span of the input each came from: token {@code i} covers chars
     * {@code [starts[i], ends[i])} of the string. A span is the smallest run of whole characters
     * (code points; a lone surrogate counts as one) holding the token's bytes. A token that holds
     * only part of a multi-byte character gets that whole character, so neighbours that split one
     * character share it: spans may overlap by one character but never go backwards, and every
     * character belongs to some span. {@code <|endoftext|>} covers its 13 chars.
     */
    public record Encoding(int[] ids, int[] starts, int[] ends) {
        public int size() {
            return ids.length;
        }
    }

    private Encoding run(String text, boolean special, boolean offsets) {
        Out out = new Out(text.length() / 3 + 8, offsets);
        int from = 0;
        if (special) {
            for (int at; (at = text.indexOf(END_OF_TEXT, from)) >= 0; from = at + END_OF_TEXT.length()) {
                encodeSegment(text, from, at, out);
                out.add(eot, at, at + END_OF_TEXT.length());
            }
        }
        encodeSegment(text, from, text.length(), out);
        return out.finish();
    }

    private void encodeSegment(String text, int from, int to, Out out) {
        for (int start = from, end; start < to; start = end) {
            end = PreTokenizer.pieceEnd(text, start, to);
            char c = text.charAt(start);
            if (end == start + 1 && c < 0x80) {
                out.add(byteIds[c], start, end);
                continue;
            }
            int[] pieceIds = piece(text, start, end);
            if (out.starts == null) {
                out.addAll(pieceIds);
            } else {
                spans(text, start, end, pieceIds, out);
            }
        }
    }

    private int[] piece(String text, int start, int end) {
        if (cacheCapacity == 0 || end - start > MAX_CACHED_CHARS) return bpe(text, start, end);
        String key = text.substring(start, end);
        int[] hit = cache.get(key);
        if (hit != null) return hit;
        int[] result = bpe(text, start, end);
        if (cache.size() >= cacheCapacity) cache.clear();
        cache.put(key, result);
        return result;
    }

    private int[] bpe(String text, int start, int end) {
        int[] sym = new int[3 * (end - start)];
        int n = ByteLevel.utf8(text, start, end, sym);
        for (int i = 0; i < n; i++) sym[i] = byteIds[sym[i]];
        return Arrays.copyOf(sym, merges.merge(sym, n));
    }

    /** Adds a piece's ids with their spans: walks the piece's characters alongside the tokens' bytes. */
    private void spans(String text, int start, int end, int[] pieceIds, Out out) {
        int ch = start; // the character holding byte 'chByte'
        int cp = PreTokenizer.codePointAt(text, ch, end);
        int chByte = 0, chBytes = ByteLevel.utf8Length(cp);
        int pos = 0;
        for (int id : pieceIds) {
            int first = pos, last = pos + tokenBytes[id].length - 1;
            while (chByte + chBytes <= first) {
                chByte += chBytes;
                ch += Character.charCount(cp);
                cp = PreTokenizer.codePointAt(text, ch, end);
                chBytes = ByteLevel.utf8Length(cp);
            }
            int s = ch;
            while (chByte + chBytes <= last) {
                chByte += chBytes;
                ch += Character.charCount(cp);
                cp = PreTokenizer.codePointAt(text, ch, end);
                chBytes = ByteLevel.utf8Length(cp);
            }
            out.add(id, s, ch + Character.charCount(cp));
            pos = last + 1;
        }
    }

    /** Growable output: ids and, when asked for, spans. */
    private static final class Out {
        int[] ids, starts, ends;
        int n;

        Out(int capacity, boolean offsets) {
            ids = new int[capacity];
            if (offsets) {
                starts = new int[capacity];
                ends = new int[capacity];
            }
        }

        private void ensure(int extra) {
            if (n + extra <= ids.length) return;
            int cap = Math.max(n + extra, ids.length * 2);
            ids = Arrays.copyOf(ids, cap);
            if (starts != null) {
                starts = Arrays.copyOf(starts, cap);
                ends = Arrays.copyOf(ends, cap);
            }
        }

        void add(int id, int start, int end) {
            ensure(1);
            if (starts != null) {
                starts[n] = start;
                ends[n] = end;
            }
            ids[n++] = id;
        }

        void addAll(int[] more) {
            ensure(more.length);
            System.arraycopy(more, 0, ids, n, more.length);
            n += more.length;
        }

        Encoding finish() {
            return new Encoding(Arrays.copyOf(ids, n), starts == null ? null : Arrays.copyOf(starts, n),
                    ends == null ? null : Arrays.copyOf(ends, n));
        }
    }

    // ---------------------------------------------------------------- decoding

    /** The bytes of the tokens, concatenated. */
    public byte[] decodeBytes(int[] tokenIds) {
        int size = 0;
        for (int id : tokenIds) {
            checkId(id);
            size += tokenBytes[id].length;
        }
        byte[] out = new byte[size];
        int at = 0;
        for (int id : tokenIds) {
            byte[] b = tokenBytes[id];
            System.arraycopy(b, 0, out, at, b.length);
            at += b.length;
        }
        return out;
    }

    /**
     * The text of the tokens: their bytes read as UTF-8, each invalid sequence replaced by U+FFFD as
     * the reference's TextDecoder does. {@code <|endoftext|>} comes out as its literal text. Unlike
     * TextDecoder (and like {@code encoder.py}), a leading U+FEFF is kept, so such text round-trips.
     */
    public String decode(int[] tokenIds) {
        return ByteLevel.decodeUtf8(decodeBytes(tokenIds));
    }

    private static String quote(String s) {
        return '"' + s + '"';
    }
}
