package org.densify.loaders.tokenizer;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.loaders.io.StrictJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * A byte-level BPE tokenizer read from Hugging Face's {@code tokenizer.json} (Llama 3, Qwen2/2.5/3,
 * SmolLM2, GPT-2 style files), encoding and decoding id for id as the {@code tokenizers} library does.
 * Thread-safe: the tables are immutable and the piece cache is concurrent.
 *
 * <p>{@link #encode} follows the library's pipeline: added tokens are found in the raw text first
 * ({@link AddedTokens}; those marked {@code normalized} in the normalized text), the rest is normalized
 * (none or NFC), cut by the pre-tokenizer ({@code Split} regexes as {@link SplitPattern}, then
 * {@code ByteLevel}), and each piece's UTF-8 bytes are merged by the BPE model ({@code ignore_merges}:
 * a piece found whole in the vocabulary is taken as it is). {@link #encodeWithSpecial} adds what the
 * post-processor adds ({@code TemplateProcessing}'s special tokens). A lone surrogate in the text is
 * read as U+FFFD, as it is when a string reaches the library (Rust strings cannot hold one).
 *
 * <p>Anything in a file that this pipeline does not implement (another model, normalizer,
 * pre-tokenizer, decoder or post-processor, a {@code Split} regex it does not know, byte fallback,
 * truncation or padding) is refused with an {@link IOException} naming the file and the field, rather
 * than encoded differently.
 */
public final class HuggingFaceTokenizer implements Tokenizer {
    /** Cache entries of a loaded tokenizer. */
    public static final int DEFAULT_CACHE_CAPACITY = 1 << 16;
    private static final int MAX_CACHED_CHARS = 48;

    private final String name;
    private final String[] tokens;
    private final Map<String, Integer> ids;
    /** The model's vocabulary alone (without added tokens), for {@code ignore_merges}. */
    private final Map<String, Integer> modelVocab;
    private final byte[][] tokenBytes;
    private final int[] byteIds;
    private final Merges merges;
    private final boolean ignoreMerges;
    private final boolean nfc;
    private final List<SplitPattern> splits;
    private final boolean addPrefixSpace;
    /** The number of {@code Split} steps before ByteLevel (whose regex, if used, is the last split). */
    private final int prefixStep;
    private final AddedTokens rawAdded, normalizedAdded;
    private final boolean[] special;
    private final int[] prefix, suffix;
    private final OptionalInt bos, eos, pad;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    private HuggingFaceTokenizer(Builder b) {
        name = b.name;
        tokens = b.tokens;
        ids = b.ids;
        modelVocab = b.modelVocab;
        tokenBytes = b.tokenBytes;
        byteIds = b.byteIds;
        merges = b.merges;
        ignoreMerges = b.ignoreMerges;
        nfc = b.nfc;
        splits = List.copyOf(b.splits);
        addPrefixSpace = b.addPrefixSpace;
        prefixStep = b.prefixStep;
        rawAdded = new AddedTokens(b.rawAdded);
        normalizedAdded = new AddedTokens(b.normalizedAdded);
        special = b.special;
        prefix = b.prefix;
        suffix = b.suffix;
        bos = b.bos;
        eos = b.eos;
        pad = b.pad;
    }

    // ---------------------------------------------------------------- loading

    /**
     * Reads {@code dir/tokenizer.json} and, when present, {@code dir/tokenizer_config.json} (for
     * {@code bos_token}, {@code eos_token} and {@code pad_token}).
     */
    public static HuggingFaceTokenizer load(Path dir) throws IOException {
        Path json = dir.resolve("tokenizer.json"), config = dir.resolve("tokenizer_config.json");
        return read(Files.readAllBytes(json), json.toString(),
                Files.isRegularFile(config) ? Files.readAllBytes(config) : null, config.toString());
    }

    /**
     * Reads a {@code tokenizer.json} and an optional {@code tokenizer_config.json} (null: none) from
     * bytes; the names go in messages.
     */
    public static HuggingFaceTokenizer read(byte[] tokenizerJson, String jsonName, byte[] tokenizerConfig, String configName)
            throws IOException {
        JsonNode config;
        try {
            config = tokenizerConfig == null ? null : StrictJson.parse(tokenizerConfig);
        } catch (StrictJson.Malformed e) {
            throw new IOException(configName + ": " + e.getMessage(), e);
        }
        return read(tokenizerJson, jsonName, config, configName, Map.of());
    }

    /**
     * {@link #read(byte[], String, byte[], String)} with a parsed configuration (or null) and some
     * top-level fields of {@code tokenizer.json} other than {@code model} replaced (for tests that try
     * settings the real files do not use).
     */
    static HuggingFaceTokenizer read(byte[] tokenizerJson, String jsonName, JsonNode config, String configName,
                                     Map<String, JsonNode> replaced) throws IOException {
        Parsed parsed = Parsed.stream(tokenizerJson, jsonName);
        parsed.top.setAll(replaced);
        return new Builder(jsonName).build(parsed, config, configName);
    }

    /**
     * A {@code tokenizer.json} as parts: {@code model.vocab} and {@code model.merges} streamed into
     * tables (a tree of a 10 MB file costs seconds), every other field as a small tree. The JSON is as
     * strict as {@link StrictJson}'s: strict UTF-8, no duplicate keys, nothing after the object.
     */
    private static final class Parsed {
        final ObjectNode top = StrictJson.MAPPER.createObjectNode(), model = StrictJson.MAPPER.createObjectNode();
        /** The strict mapper, reading one value out of a larger document. */
        private static final ObjectReader SUBTREE = StrictJson.MAPPER.reader()
                .without(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        boolean hasModel;
        Map<String, Integer> vocab;
        List<String[]> merges;

        /** Reads the value at the parser as a tree, leaving the parser after it. */
        private static JsonNode subtree(JsonParser p) throws IOException {
            return SUBTREE.readTree(p);
        }

        static Parsed stream(byte[] bytes, String name) throws IOException {
            String text;
            try {
                text = StrictJson.decodeUtf8(bytes);
            } catch (StrictJson.Malformed e) {
                throw new IOException(name + ": " + e.getMessage(), e);
            }
            Parsed out = new Parsed();
            try (JsonParser p = StrictJson.MAPPER.createParser(text)) {
                if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException(name + ": expected a JSON object");
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    if (p.nextToken() == JsonToken.START_OBJECT && field.equals("model")) {
                        out.hasModel = true;
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String m = p.currentName();
                            JsonToken t = p.nextToken();
                            if (m.equals("vocab") && t == JsonToken.START_OBJECT) {
                                out.vocab = vocab(p, name);
                            } else if (m.equals("merges") && t == JsonToken.START_ARRAY) {
                                out.merges = merges(p, name);
                            } else {
                                out.model.set(m, subtree(p));
                            }
                        }
                    } else {
                        out.top.set(field, subtree(p));
                    }
                }
                if (p.nextToken() != null) {
                    throw new IOException(name + ": unexpected " + p.getText() + " after the JSON object");
                }
            } catch (JsonProcessingException e) {
                JsonLocation at = e.getLocation();
                throw new IOException(name + ": not valid JSON: " + e.getOriginalMessage()
                        + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), e);
            }
            return out;
        }

        private static Map<String, Integer> vocab(JsonParser p, String name) throws IOException {
            Map<String, Integer> vocab = new HashMap<>(1 << 18);
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                JsonToken v = p.nextToken();
                if (v != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT || p.getIntValue() < 0) {
                    throw new IOException(name + ": model.vocab: token " + quote(token) + " has id "
                            + StrictJson.abbreviate(subtree(p)) + ", expected a non-negative integer");
                }
                vocab.put(token, p.getIntValue());
            }
            return vocab;
        }

        private static List<String[]> merges(JsonParser p, String name) throws IOException {
            List<String[]> merges = new ArrayList<>(1 << 18);
            for (JsonToken t; (t = p.nextToken()) != JsonToken.END_ARRAY; ) {
                String field = "model.merges[" + merges.size() + "]";
                if (t == JsonToken.VALUE_STRING) {
                    String[] parts = p.getText().split(" ", -1);
                    if (parts.length != 2) {
                        throw new IOException(name + ": " + field + ": " + quote(p.getText())
                                + ", expected two tokens separated by one space");
                    }
                    merges.add(parts);
                } else if (t == JsonToken.START_ARRAY && p.nextToken() == JsonToken.VALUE_STRING) {
                    String left = p.getText();
                    if (p.nextToken() != JsonToken.VALUE_STRING) throw badMerge(name, field);
                    String right = p.getText();
                    if (p.nextToken() != JsonToken.END_ARRAY) throw badMerge(name, field);
                    merges.add(new String[]{left, right});
                } else {
                    throw badMerge(name, field);
                }
            }
            return merges;
        }

        private static IOException badMerge(String name, String field) {
            return new IOException(name + ": " + field + ": expected \"a b\" or [\"a\", \"b\"]");
        }
    }

    /** Reads the files into tables; every refusal names the file and the field. */
    private static final class Builder {
        final String name;
        String[] tokens;
        Map<String, Integer> ids, modelVocab;
        byte[][] tokenBytes;
        int[] byteIds = new int[256];
        Merges merges;
        boolean ignoreMerges, nfc, addPrefixSpace;
        int prefixStep;
        final List<SplitPattern> splits = new ArrayList<>();
        final List<AddedTokens.Token> rawAdded = new ArrayList<>(), normalizedAdded = new ArrayList<>();
        boolean[] special;
        int[] prefix = new int[0], suffix = new int[0];
        OptionalInt bos = OptionalInt.empty(), eos = OptionalInt.empty(), pad = OptionalInt.empty();

        Builder(String name) {
            this.name = name;
        }

        private IOException bad(String field, String problem) {
            return new IOException(name + ": " + field + ": " + problem);
        }

        HuggingFaceTokenizer build(Parsed parsed, JsonNode config, String configName) throws IOException {
            JsonNode root = parsed.top;
            for (String off : new String[]{"truncation", "padding"}) {
                if (root.has(off) && !root.get(off).isNull()) {
                    throw bad(off, "expected null (the engine neither truncates nor pads while encoding)");
                }
            }
            if (!parsed.hasModel) throw bad("model", "expected an object");
            model(parsed.model, parsed.vocab, parsed.merges);
            addedTokens(root.get("added_tokens"));
            normalizer(root.get("normalizer"), "normalizer");
            preTokenizer(root.get("pre_tokenizer"));
            postProcessor(root.get("post_processor"), "post_processor");
            decoder(root.get("decoder"));
            if (config != null) specialsFromConfig(config, configName);
            return new HuggingFaceTokenizer(this);
        }

        private String type(JsonNode n, String field) throws IOException {
            JsonNode t = n.get("type");
            if (t == null || !t.isTextual()) throw bad(field + ".type", "expected a string");
            return t.asText();
        }

        private static boolean flag(JsonNode n, String field, boolean absent) {
            JsonNode f = n.get(field);
            return f == null || f.isNull() ? absent : f.asBoolean();
        }

        private void model(JsonNode m, Map<String, Integer> vocab, List<String[]> list) throws IOException {
            if (!"BPE".equals(type(m, "model"))) {
                throw bad("model.type", "\"" + m.get("type").asText() + "\", expected \"BPE\"");
            }
            if (flag(m, "byte_fallback", false)) throw bad("model.byte_fallback", "true is not implemented, expected false");
            JsonNode dropout = m.get("dropout");
            if (dropout != null && !dropout.isNull()) throw bad("model.dropout", "expected null (no BPE dropout)");
            for (String affix : new String[]{"continuing_subword_prefix", "end_of_word_suffix"}) {
                JsonNode a = m.get(affix);
                if (a != null && !a.isNull() && !a.asText().isEmpty()) {
                    throw bad("model." + affix, "\"" + a.asText() + "\" is not implemented, expected null or \"\"");
                }
            }
            ignoreMerges = flag(m, "ignore_merges", false);
            if (vocab == null) throw bad("model.vocab", "expected an object");
            modelVocab = vocab;
            int maxId = -1;
            for (int id : vocab.values()) maxId = Math.max(maxId, id);
            // Ids are dense; the added tokens may extend them, so the table grows in addedTokens().
            tokens = new String[maxId + 1];
            for (Map.Entry<String, Integer> e : modelVocab.entrySet()) {
                int id = e.getValue();
                if (tokens[id] != null) {
                    throw bad("model.vocab", "id " + id + " is given to both " + quote(tokens[id]) + " and "
                            + quote(e.getKey()) + ", expected each id once");
                }
                tokens[id] = e.getKey();
            }
            for (int b = 0; b < 256; b++) {
                Integer id = modelVocab.get(String.valueOf(ByteLevel.byteChar(b)));
                if (id == null) {
                    throw bad("model.vocab", "lacks the byte token " + quote(String.valueOf(ByteLevel.byteChar(b)))
                            + " (byte " + b + "), expected a byte-level BPE vocabulary");
                }
                byteIds[b] = id;
            }
            JsonNode unk = m.get("unk_token");
            if (unk != null && !unk.isNull() && !modelVocab.containsKey(unk.asText())) {
                throw bad("model.unk_token", quote(unk.asText()) + " is not in model.vocab");
            }
            if (list == null) throw bad("model.merges", "expected an array");
            LongLongMap table = new LongLongMap(list.size() + 64);
            for (int i = 0; i < list.size(); i++) {
                String left = list.get(i)[0], right = list.get(i)[1];
                Integer a = modelVocab.get(left), b = modelVocab.get(right), ab = modelVocab.get(left + right);
                if (a == null || b == null || ab == null) {
                    String missing = a == null ? left : b == null ? right : left + right;
                    throw bad("model.merges[" + i + "]", quote(missing) + " is not in model.vocab");
                }
                // A repeated merge takes its later rank, as in the library's table.
                table.put(LongLongMap.pair(a, b), Merges.entry(i, ab));
            }
            merges = new Merges(table);
        }

        private void addedTokens(JsonNode list) throws IOException {
            if (list == null || list.isNull()) list = StrictJson.MAPPER.createArrayNode();
            if (!list.isArray()) throw bad("added_tokens", "expected an array");
            List<AddedTokens.Token> all = new ArrayList<>();
            Set<Integer> specialIds = new HashSet<>();
            for (int i = 0; i < list.size(); i++) {
                JsonNode t = list.get(i);
                String field = "added_tokens[" + i + "]";
                JsonNode id = t.get("id"), content = t.get("content");
                if (id == null || !id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) {
                    throw bad(field + ".id", "expected a non-negative integer");
                }
                if (content == null || !content.isTextual() || content.asText().isEmpty()) {
                    throw bad(field + ".content", "expected a non-empty string");
                }
                if (flag(t, "single_word", false)) throw bad(field + ".single_word", "true is not implemented, expected false");
                AddedTokens.Token token = new AddedTokens.Token(id.asInt(), content.asText(), flag(t, "lstrip", false),
                        flag(t, "rstrip", false), flag(t, "special", false));
                all.add(token);
                (flag(t, "normalized", !token.special()) ? normalizedAdded : rawAdded).add(token);
                if (token.special()) specialIds.add(token.id());
            }
            int size = tokens.length;
            for (AddedTokens.Token t : all) size = Math.max(size, t.id() + 1);
            tokens = Arrays.copyOf(tokens, size);
            for (AddedTokens.Token t : all) {
                String earlier = tokens[t.id()];
                if (earlier != null && !earlier.equals(t.content())) {
                    throw bad("added_tokens", "id " + t.id() + " is given to both " + quote(earlier) + " and "
                            + quote(t.content()) + ", expected each id once");
                }
                tokens[t.id()] = t.content();
            }
            ids = HashMap.newHashMap(size);
            tokenBytes = new byte[size][];
            special = new boolean[size];
            for (int id = 0; id < size; id++) {
                if (tokens[id] == null) {
                    throw bad("model.vocab", "no token has id " + id + ", expected ids 0.." + (size - 1)
                            + " each given once (with added_tokens)");
                }
                Integer earlier = ids.putIfAbsent(tokens[id], id);
                if (earlier != null) {
                    throw bad("added_tokens", quote(tokens[id]) + " has ids " + earlier + " and " + id
                            + ", expected each token once");
                }
                byte[] bytes = ByteLevel.tokenBytes(tokens[id]);
                // A token outside the byte alphabet decodes as its own UTF-8, as the ByteLevel decoder does.
                tokenBytes[id] = bytes != null ? bytes : tokens[id].getBytes(StandardCharsets.UTF_8);
                special[id] = specialIds.contains(id);
            }
        }

        private void normalizer(JsonNode n, String field) throws IOException {
            if (n == null || n.isNull()) return;
            String type = type(n, field);
            switch (type) {
                case "NFC" -> nfc = true;
                case "Sequence" -> {
                    JsonNode list = n.get("normalizers");
                    if (list == null || !list.isArray()) throw bad(field + ".normalizers", "expected an array");
                    for (int i = 0; i < list.size(); i++) normalizer(list.get(i), field + ".normalizers[" + i + "]");
                }
                default -> throw bad(field + ".type", "\"" + type + "\" is not implemented, expected null, \"NFC\" or "
                        + "a \"Sequence\" of them");
            }
        }

        private void preTokenizer(JsonNode n) throws IOException {
            String field = "pre_tokenizer";
            if (n == null || n.isNull()) throw bad(field, "null, expected ByteLevel (this engine reads byte-level BPE)");
            List<JsonNode> steps = new ArrayList<>();
            List<String> fields = new ArrayList<>();
            if ("Sequence".equals(type(n, field))) {
                JsonNode list = n.get("pretokenizers");
                if (list == null || !list.isArray()) throw bad(field + ".pretokenizers", "expected an array");
                for (int i = 0; i < list.size(); i++) {
                    steps.add(list.get(i));
                    fields.add(field + ".pretokenizers[" + i + "]");
                }
            } else {
                steps.add(n);
                fields.add(field);
            }
            for (int i = 0; i < steps.size(); i++) {
                JsonNode step = steps.get(i);
                String f = fields.get(i);
                String type = type(step, f);
                boolean last = i == steps.size() - 1;
                if ("Split".equals(type) && !last) {
                    JsonNode pattern = step.get("pattern");
                    JsonNode regex = pattern == null ? null : pattern.get("Regex");
                    if (regex == null || !regex.isTextual()) throw bad(f + ".pattern", "expected {\"Regex\": ...}");
                    SplitPattern p = SplitPattern.of(regex.asText());
                    if (p == null) {
                        throw bad(f + ".pattern.Regex", quote(regex.asText()) + " is not one the engine implements "
                                + "(GPT-2's, Llama 3's or Qwen2's)");
                    }
                    JsonNode behavior = step.get("behavior");
                    if (behavior == null || !"Isolated".equals(behavior.asText())) {
                        throw bad(f + ".behavior", "expected \"Isolated\"");
                    }
                    if (flag(step, "invert", false)) throw bad(f + ".invert", "expected false");
                    splits.add(p);
                } else if ("ByteLevel".equals(type) && last) {
                    addPrefixSpace = flag(step, "add_prefix_space", true);
                    prefixStep = splits.size();
                    if (flag(step, "use_regex", true)) splits.add(SplitPattern.GPT2);
                } else {
                    throw bad(f + ".type", "\"" + type + "\", expected Split steps then one ByteLevel");
                }
            }
        }

        private void postProcessor(JsonNode n, String field) throws IOException {
            if (n == null || n.isNull()) return;
            String type = type(n, field);
            switch (type) {
                case "ByteLevel" -> {
                    // Adds no token; it only trims offsets, which the engine does not report.
                }
                case "Sequence" -> {
                    JsonNode list = n.get("processors");
                    if (list == null || !list.isArray()) throw bad(field + ".processors", "expected an array");
                    for (int i = 0; i < list.size(); i++) postProcessor(list.get(i), field + ".processors[" + i + "]");
                }
                case "TemplateProcessing" -> template(n, field);
                default -> throw bad(field + ".type", "\"" + type + "\" is not implemented, expected null, "
                        + "\"ByteLevel\", \"TemplateProcessing\" or a \"Sequence\" of them");
            }
        }

        private void template(JsonNode n, String field) throws IOException {
            JsonNode single = n.get("single"), specials = n.get("special_tokens");
            if (single == null || !single.isArray()) throw bad(field + ".single", "expected an array");
            List<Integer> before = new ArrayList<>(), after = new ArrayList<>();
            boolean seenA = false;
            for (int i = 0; i < single.size(); i++) {
                JsonNode piece = single.get(i);
                String f = field + ".single[" + i + "]";
                if (piece.has("Sequence")) {
                    if (seenA || !"A".equals(piece.get("Sequence").path("id").asText())) {
                        throw bad(f, "expected the sequence \"A\" once");
                    }
                    seenA = true;
                } else if (piece.has("SpecialToken")) {
                    String key = piece.get("SpecialToken").path("id").asText();
                    JsonNode entry = specials == null ? null : specials.get(key);
                    JsonNode list = entry == null ? null : entry.get("ids");
                    if (list == null || !list.isArray()) {
                        throw bad(field + ".special_tokens", "lacks " + quote(key) + " with its \"ids\"");
                    }
                    for (JsonNode id : list) {
                        if (!id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= tokens.length) {
                            throw bad(field + ".special_tokens." + key + ".ids", StrictJson.abbreviate(id)
                                    + " is not a token id (0.." + (tokens.length - 1) + ")");
                        }
                        (seenA ? after : before).add(id.asInt());
                    }
                } else {
                    throw bad(f, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
                }
            }
            if (!seenA) throw bad(field + ".single", "lacks the sequence \"A\"");
            prefix = concat(prefix, before);
            suffix = concat(suffix, after);
        }

        private static int[] concat(int[] a, List<Integer> b) {
            int[] out = Arrays.copyOf(a, a.length + b.size());
            for (int i = 0; i < b.size(); i++) out[a.length + i] = b.get(i);
            return out;
        }

        private void decoder(JsonNode n) throws IOException {
            if (n == null || n.isNull() || !"ByteLevel".equals(type(n, "decoder"))) {
                throw bad("decoder", (n == null || n.isNull() ? "null" : "type \"" + n.get("type").asText() + "\"")
                        + ", expected ByteLevel");
            }
        }

        private void specialsFromConfig(JsonNode config, String configName) throws IOException {
            if (!config.isObject()) throw new IOException(configName + ": expected a JSON object");
            bos = special(config, "bos_token", configName);
            eos = special(config, "eos_token", configName);
            pad = special(config, "pad_token", configName);
        }

        /** A string, null, or an AddedToken object ({@code {"content": ..., ...}}). */
        private OptionalInt special(JsonNode config, String field, String configName) throws IOException {
            JsonNode n = config.get(field);
            if (n == null || n.isNull()) return OptionalInt.empty();
            if (n.isObject()) n = n.get("content");
            if (n == null || !n.isTextual()) {
                throw new IOException(configName + ": " + field + ": expected a string, null or an object with \"content\"");
            }
            Integer id = ids.get(n.asText());
            if (id == null) {
                throw new IOException(configName + ": " + field + ": " + quote(n.asText()) + " is not a token of " + name);
            }
            return OptionalInt.of(id);
        }
    }

    // ---------------------------------------------------------------- vocabulary

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public String token(int id) {
        checkId(id);
        return tokens[id];
    }

    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        return tokenBytes[id].clone();
    }

    @Override
    public int id(String token) {
        return ids.getOrDefault(token, -1);
    }

    /** Whether a token is an added token marked special (left out by {@link #decodeSkippingSpecial}). */
    public boolean isSpecial(int id) {
        checkId(id);
        return special[id];
    }

    /**
     * The eos token; when {@code tokenizer_config.json} names none (GPT-2's folders on the Hugging Face
     * hub), the token {@code <|endoftext|>}, which transformers' GPT-2 and Qwen2 tokenizer classes take
     * as their default eos.
     *
     * @throws IllegalStateException when there is neither
     */
    @Override
    public int eotId() {
        if (eos.isPresent()) return eos.getAsInt();
        Integer endOfText = ids.get(Gpt2Tokenizer.END_OF_TEXT);
        if (endOfText == null) {
            throw new IllegalStateException(name + ": no eos_token (tokenizer_config.json names none) and no "
                    + Gpt2Tokenizer.END_OF_TEXT + " token");
        }
        return endOfText;
    }

    @Override
    public OptionalInt bosId() {
        return bos;
    }

    @Override
    public OptionalInt eosId() {
        return eos;
    }

    @Override
    public OptionalInt padId() {
        return pad;
    }

    private void checkId(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (size " + tokens.length + ")");
        }
    }

    // ---------------------------------------------------------------- encoding

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(text.length() / 3 + 8);
        encodeInto(wellFormed(text), out);
        return out.toArray();
    }

    @Override
    public int[] encodeWithSpecial(String text) {
        IntList out = new IntList(text.length() / 3 + 8 + prefix.length + suffix.length);
        out.addAll(prefix);
        encodeInto(wellFormed(text), out);
        out.addAll(suffix);
        return out.toArray();
    }

    private void encodeInto(String text, IntList out) {
        for (AddedTokens.Segment raw : rawAdded.split(text)) {
            if (raw.id() >= 0) {
                out.add(raw.id());
                continue;
            }
            String part = text.substring(raw.start(), raw.end());
            if (nfc) part = Normalizer.normalize(part, Normalizer.Form.NFC);
            for (AddedTokens.Segment seg : normalizedAdded.split(part)) {
                if (seg.id() >= 0) {
                    out.add(seg.id());
                } else {
                    preTokenize(part.substring(seg.start(), seg.end()), 0, piece -> bpe(piece, out));
                }
            }
        }
    }

    /**
     * The pieces the pre-tokenizer alone cuts {@code text} into (no added tokens, no normalizer), in
     * byte-level spelling: the library's {@code pre_tokenizer.pre_tokenize_str}, for tests.
     */
    List<String> preTokenize(String text) {
        List<String> out = new ArrayList<>();
        preTokenize(wellFormed(text), 0, piece -> {
            int[] bytes = new int[3 * piece.length()];
            int n = ByteLevel.utf8(piece, 0, piece.length(), bytes);
            StringBuilder sb = new StringBuilder(n);
            for (int i = 0; i < n; i++) sb.append(ByteLevel.byteChar(bytes[i]));
            out.add(sb.toString());
        });
        return out;
    }

    /** Applies the pre-tokenizer's splits from number {@code step} on, then {@code action} to each piece. */
    private void preTokenize(String piece, int step, Consumer<String> action) {
        // ByteLevel's add_prefix_space acts on each piece the Split steps before it made.
        if (step == prefixStep && addPrefixSpace && !piece.startsWith(" ")) piece = " " + piece;
        if (step == splits.size()) {
            action.accept(piece);
            return;
        }
        SplitPattern p = splits.get(step);
        for (int start = 0, end; start < piece.length(); start = end) {
            end = p.pieceEnd(piece, start, piece.length());
            preTokenize(start == 0 && end == piece.length() ? piece : piece.substring(start, end), step + 1, action);
        }
    }

    private void bpe(String piece, IntList out) {
        if (piece.length() == 1 && piece.charAt(0) < 0x80) {
            out.add(byteIds[piece.charAt(0)]);
            return;
        }
        if (piece.length() > MAX_CACHED_CHARS) {
            out.addAll(merge(piece));
            return;
        }
        int[] hit = cache.get(piece);
        if (hit == null) {
            hit = merge(piece);
            if (cache.size() >= DEFAULT_CACHE_CAPACITY) cache.clear();
            cache.put(piece, hit);
        }
        out.addAll(hit);
    }

    private int[] merge(String piece) {
        int[] sym = new int[3 * piece.length()];
        int n = ByteLevel.utf8(piece, 0, piece.length(), sym);
        if (ignoreMerges) {
            StringBuilder spelled = new StringBuilder(n);
            for (int i = 0; i < n; i++) spelled.append(ByteLevel.byteChar(sym[i]));
            Integer whole = modelVocab.get(spelled.toString());
            if (whole != null) return new int[]{whole};
        }
        for (int i = 0; i < n; i++) sym[i] = byteIds[sym[i]];
        return Arrays.copyOf(sym, merges.merge(sym, n));
    }

    /** The text with each lone surrogate replaced by U+FFFD. */
    private static String wellFormed(String text) {
        boolean lone = false;
        for (int i = 0; i < text.length() && !lone; i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else {
                lone = Character.isSurrogate(c);
            }
        }
        if (!lone) return text;
        StringBuilder sb = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                sb.append(c).append(text.charAt(++i));
            } else {
                sb.append(Character.isSurrogate(c) ? '\uFFFD' : c);
            }
        }
        return sb.toString();
    }

    /** A growable int array. */
    private static final class IntList {
        int[] a;
        int n;

        IntList(int capacity) {
            a = new int[Math.max(8, capacity)];
        }

        void add(int x) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = x;
        }

        void addAll(int[] xs) {
            if (n + xs.length > a.length) a = Arrays.copyOf(a, Math.max(n + xs.length, a.length * 2));
            System.arraycopy(xs, 0, a, n, xs.length);
            n += xs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }

    // ---------------------------------------------------------------- decoding

    @Override
    public String decode(int[] tokenIds) {
        return decode(tokenIds, false);
    }

    @Override
    public String decodeSkippingSpecial(int[] tokenIds) {
        return decode(tokenIds, true);
    }

    /**
     * The ByteLevel decoder: the tokens' bytes (an added token outside the byte alphabet gives its own
     * UTF-8) read as UTF-8, each maximal invalid sequence becoming one U+FFFD, as Rust's
     * {@code String::from_utf8_lossy} does.
     */
    private String decode(int[] tokenIds, boolean skipSpecial) {
        int size = 0;
        for (int id : tokenIds) {
            checkId(id);
            if (!(skipSpecial && special[id])) size += tokenBytes[id].length;
        }
        byte[] bytes = new byte[size];
        int at = 0;
        for (int id : tokenIds) {
            if (skipSpecial && special[id]) continue;
            System.arraycopy(tokenBytes[id], 0, bytes, at, tokenBytes[id].length);
            at += tokenBytes[id].length;
        }
        return ByteLevel.decodeUtf8(bytes);
    }

    @Override
    public String toString() {
        return "HuggingFaceTokenizer[" + name + ", " + tokens.length + " tokens]";
    }

    private static String quote(String s) {
        return '"' + (s.length() <= 80 ? s : s.substring(0, 77) + "...") + '"';
    }
}
