package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
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
import java.util.OptionalInt;
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
 *
 * <p>As a {@link Tokenizer} it is GPT-2's Hugging Face tokenizer except for {@link #encode}: its
 * {@code tokenizer_config.json} names {@code <|endoftext|>} as bos, eos and unk and no padding token,
 * and {@code <|endoftext|>} is its one special token.
 */
public final class Gpt2Tokenizer implements Tokenizer {
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

    /**
     * Loads a vocabulary (JSON object, token to id) and its merges file; see {@link #read} for what
     * they must hold.
     */
    public static Gpt2Tokenizer load(Path vocabJson, Path mergesTxt) throws IOException {
        try (InputStream v = Files.newInputStream(vocabJson); InputStream m = Files.newInputStream(mergesTxt)) {
            return read(v, vocabJson.toString(), m, mergesTxt.toString());
        }
    }

    /**
     * Reads a vocabulary and merges from streams (for example class-path resources); the names go in
     * messages. The streams are read to their end and left open.
     *
     * <p>Both files are UTF-8: a malformed byte sequence is an error naming the file, byte offset and
     * line, never replaced by U+FFFD (Hugging Face's loader refuses it too). One leading byte order mark
     * (U+FEFF) is dropped from either file. Hugging Face does not drop it: it fails on one in
     * {@code vocab.json}, and in {@code merges.txt} the mark hides the {@code #version} line, which
     * then fails as a merge of unknown tokens. GPT-2's {@code encoder.py} skips the first line of
     * {@code vocab.bpe} whatever it holds. Dropping the mark cannot change a vocabulary: no byte-level
     * token contains U+FEFF (their characters are all below U+0144).
     *
     * <p>{@code vocab.json} must be one JSON object, with only blanks after it (as Hugging Face also
     * requires), mapping each token (its byte-level spelling) to its id, with each token once and the
     * ids exactly {@code 0..n-1} for {@code n} tokens. Hugging Face's loader accepts more: a repeated
     * key silently replaces the earlier one, ids may leave gaps or repeat, ids above 2^32 wrap, and
     * values that are not numbers are skipped. Here each of those is an error, because a model has
     * one embedding row per id, so such a file is damaged rather than a different vocabulary; GPT-2's
     * own {@code encoder.json} and every file {@link BpeTrainer} writes are dense. The ids are checked
     * before any table is sized from them. The vocabulary must hold the 256 byte tokens and
     * {@code <|endoftext|>}.
     *
     * <p>{@code merges.txt} has one merge per line, two tokens separated by blanks, in rank order. A
     * first line starting with {@code #version} is skipped, and so are blank lines. Each merge's two
     * tokens and their concatenation must be in the vocabulary.
     */
    public static Gpt2Tokenizer read(InputStream vocabJson, String vocabName, InputStream mergesTxt, String mergesName)
            throws IOException {
        String[] tokens = readVocabulary(vocabJson, vocabName);
        List<String[]> pairs = readMerges(mergesTxt, mergesName);
        return build(tokens, pairs, vocabName, mergesName);
    }

    private static String[] readVocabulary(InputStream in, String name) throws IOException {
        Map<String, Integer> vocab = new LinkedHashMap<>(); // file order, for messages
        try (JsonParser p = JSON.createParser(new StrictUtf8Reader(in, name))) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException(name + ": expected a JSON object of token to id");
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                JsonToken value = p.nextToken();
                if (value != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT
                        || p.getIntValue() < 0) {
                    String shown = value == JsonToken.VALUE_STRING ? quote(p.getText())
                            : value == JsonToken.START_OBJECT ? "an object"
                            : value == JsonToken.START_ARRAY ? "an array" : clip(p.getText());
                    throw new IOException(name + ": token " + quote(token) + " has id " + shown
                            + ", expected an integer from 0 to the vocabulary size - 1");
                }
                Integer earlier = vocab.putIfAbsent(token, p.getIntValue());
                if (earlier != null) {
                    throw new IOException(name + ": token " + quote(token) + " appears twice (ids " + earlier + " and "
                            + p.getIntValue() + "), expected each token once");
                }
            }
            if (t != JsonToken.END_OBJECT) throw new IOException(name + ": expected a JSON object of token to id");
            if (p.nextToken() != null) {
                throw new IOException(name + ": unexpected " + clip(p.getText()) + " after the vocabulary object at line "
                        + p.currentTokenLocation().getLineNr() + ", column " + p.currentTokenLocation().getColumnNr());
            }
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw new IOException(name + ": not valid JSON: " + e.getOriginalMessage()
                    + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), e);
        }
        // Ids must be exactly 0..n-1: with n tokens, all ids below n and none twice. Checked before any
        // table is sized from an id, so a damaged id cannot ask for a huge allocation.
        int n = vocab.size();
        String[] tokens = new String[n];
        Map.Entry<String, Integer> outside = null;
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            int id = e.getValue();
            if (id >= n) {
                if (outside == null) outside = e;
            } else if (tokens[id] != null) {
                throw new IOException(name + ": id " + id + " is given to both " + quote(tokens[id]) + " and "
                        + quote(e.getKey()) + ", expected each id 0.." + (n - 1) + " once");
            } else {
                tokens[id] = e.getKey();
            }
        }
        if (outside != null) {
            int missing = 0;
            while (tokens[missing] != null) missing++;
            throw new IOException(name + ": token " + quote(outside.getKey()) + " has id " + outside.getValue()
                    + ", expected ids 0.." + (n - 1) + " (one per token, " + n + " tokens); id " + missing
                    + " has no token");
        }
        return tokens;
    }

    private static List<String[]> readMerges(InputStream in, String name) throws IOException {
        List<String[]> pairs = new ArrayList<>();
        BufferedReader r = new BufferedReader(new StrictUtf8Reader(in, name));
        int lineNo = 0;
        for (String line; (line = r.readLine()) != null; ) {
            lineNo++;
            if (lineNo == 1 && line.startsWith("#version")) continue;
            String[] parts = line.strip().split("\\s+");
            if (parts.length == 1 && parts[0].isEmpty()) continue;
            if (parts.length != 2) {
                throw new IOException(name + " line " + lineNo + ": expected two tokens separated by a space, got "
                        + quote(line));
            }
            pairs.add(parts);
        }
        return pairs;
    }

    /**
     * Builds a tokenizer from the tokens in id order and the merges in rank order; the names say where
     * they came from in messages.
     */
    static Gpt2Tokenizer build(String[] tokens, List<String[]> pairs, String vocabName, String mergesName)
            throws IOException {
        Map<String, Integer> vocab = HashMap.newHashMap(tokens.length);
        byte[][] tokenBytes = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) {
            Integer earlier = vocab.putIfAbsent(tokens[id], id);
            if (earlier != null) {
                throw new IOException(vocabName + ": token " + quote(tokens[id]) + " has ids " + earlier + " and " + id);
            }
            byte[] b = ByteLevel.tokenBytes(tokens[id]);
            // A token outside the byte alphabet (an added special token) decodes as its own UTF-8.
            tokenBytes[id] = b != null ? b : tokens[id].getBytes(StandardCharsets.UTF_8);
        }
        int[] byteIds = new int[256];
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.byteChar(b)));
            if (id == null) {
                throw new IOException(vocabName + ": lacks the byte token " + quote(String.valueOf(ByteLevel.byteChar(b)))
                        + " (byte " + b + "): not a byte-level BPE vocabulary");
            }
            byteIds[b] = id;
        }
        Integer eot = vocab.get(END_OF_TEXT);
        if (eot == null) throw new IOException(vocabName + ": lacks " + END_OF_TEXT);

        // The reference keys ranks by "left,right" and a later merge with the same key replaces an
        // earlier one. Every split of a key at a comma into two tokens whose concatenation is a token
        // gets that key's rank; for the usual key that is just the merge itself.
        Map<String, Integer> ranks = new HashMap<>(pairs.size() * 2);
        for (int i = 0; i < pairs.size(); i++) {
            String[] p = pairs.get(i);
            for (String t : new String[]{p[0], p[1], p[0] + p[1]}) {
                if (!vocab.containsKey(t)) {
                    throw new IOException(mergesName + ": merge " + (i + 1) + " (" + clip(p[0]) + " " + clip(p[1]) + "): "
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

    /** The number of tokens: the ids are {@code 0..vocabSize()-1}. */
    @Override
    public int vocabSize() {
        return tokens.length;
    }

    /** The id of {@code <|endoftext|>}. */
    @Override
    public int eotId() {
        return eot;
    }

    /** {@code <|endoftext|>}, as GPT-2's Hugging Face configuration names it. */
    @Override
    public OptionalInt bosId() {
        return OptionalInt.of(eot);
    }

    /** {@code <|endoftext|>}. */
    @Override
    public OptionalInt eosId() {
        return OptionalInt.of(eot);
    }

    /** None: GPT-2 has no padding token. */
    @Override
    public OptionalInt padId() {
        return OptionalInt.empty();
    }

    /** The vocabulary's spelling of a token (byte-level characters, e.g. {@code "Ġthe"}). */
    @Override
    public String token(int id) {
        checkId(id);
        return tokens[id];
    }

    /** The id of a token spelled as in the vocabulary, or -1. */
    @Override
    public int id(String token) {
        return ids.getOrDefault(token, -1);
    }

    /** The bytes a token stands for (a copy). */
    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        return tokenBytes[id].clone();
    }

    Merges merges() {
        return merges;
    }

    private void checkId(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (size " + tokens.length + ")");
        }
    }

    // ---------------------------------------------------------------- encoding

    /** The reference encoding: a literal {@code "<|endoftext|>"} is encoded as text. */
    @Override
    public int[] encode(String text) {
        return run(text, false, false).ids();
    }

    /**
     * Like {@link #encode}, but each literal {@code "<|endoftext|>"} becomes {@link #eotId()} and the
     * text between them is encoded separately (Hugging Face's handling of special tokens).
     */
    @Override
    public int[] encodeWithSpecial(String text) {
        return run(text, true, false).ids();
    }

    /** {@link #encode} with each token's character span; see {@link Encoding}. */
    public Encoding encodeWithOffsets(String text) {
        return run(text, false, true).encoding();
    }

    /** {@link #encode} or, when {@code special}, {@link #encodeWithSpecial}, with character spans (from the pre-tokenizer's pieces). */
    @Override
    public Encoding encodeWithOffsets(String text, boolean special) {
        return run(text, special, true).encoding();
    }

    private Out run(String text, boolean special, boolean offsets) {
        Out out = new Out(text.length() / 3 + 8, offsets);
        int from = 0;
        if (special) {
            for (int at; (at = text.indexOf(END_OF_TEXT, from)) >= 0; from = at + END_OF_TEXT.length()) {
                encodeSegment(text, from, at, out);
                out.add(eot, at, at + END_OF_TEXT.length());
            }
        }
        encodeSegment(text, from, text.length(), out);
        return out;
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

        int[] ids() {
            return Arrays.copyOf(ids, n);
        }

        /** Only when made with offsets. */
        Encoding encoding() {
            return new Encoding(Arrays.copyOf(ids, n), Arrays.copyOf(starts, n), Arrays.copyOf(ends, n));
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
    @Override
    public String decode(int[] tokenIds) {
        return ByteLevel.decodeUtf8(decodeBytes(tokenIds));
    }

    /** {@link #decode} without the {@code <|endoftext|>} tokens. */
    @Override
    public String decodeSkippingSpecial(int[] tokenIds) {
        int[] kept = Arrays.stream(tokenIds).filter(id -> id != eot).toArray();
        for (int id : tokenIds) checkId(id);
        return decode(kept);
    }

    /** A token or line for a message: quoted, and cut short if long (a damaged file may hold huge ones). */
    private static String quote(String s) {
        return '"' + clip(s) + '"';
    }

    private static String clip(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
