package org.densify.rlhf.reward;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import org.densify.loaders.data.DataFormatException;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.io.StrictJson;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** Reads {@link RewardData} from the word {@code sample}, an IMDb file or folder, or JSON Lines of preference pairs. */
final class RewardDataFiles {
    private static final List<String> PAIR_FIELDS = List.of("prompt", "chosen", "rejected");
    /** Reads one record at a time from a stream of them (the strict mapper would refuse what follows the first). */
    private static final ObjectReader RECORD = StrictJson.MAPPER.reader().without(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private RewardDataFiles() {
    }

    /** See {@link RewardData#load}. */
    static RewardData load(String pathOrSample) throws IOException {
        if (ImdbDataset.BUNDLED_SAMPLE.equals(pathOrSample)) return new RewardData.Classification(ImdbDataset.bundledSample(), "bundled sample");
        Path path = Path.of(pathOrSample);
        if (Files.isDirectory(path)) return nonEmpty(new RewardData.Classification(ImdbDataset.load(path), path.toString()));
        if (!Files.isRegularFile(path)) throw new DataFormatException(path + ": no such file or folder");
        String source = path.toString();
        try (InputStream in = Files.newInputStream(path);
             JsonParser p = StrictJson.MAPPER.getFactory().createParser(gunzipIfGzipped(in))) {
            JsonToken first = p.nextToken();
            if (first == null) {
                throw new DataFormatException(source + ": empty file, expected IMDb reviews ({\"t\": text, \"s\": 0|1} per record) "
                        + "or JSON Lines of preference pairs ({\"prompt\", \"chosen\", \"rejected\"})");
            }
            if (first == JsonToken.START_OBJECT) {
                int line = p.currentTokenLocation().getLineNr();
                JsonNode record = RECORD.readTree(p);
                if (PAIR_FIELDS.stream().anyMatch(record::has)) {
                    List<RewardData.Pair> pairs = new ArrayList<>();
                    pairs.add(pair(record, source, line));
                    for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
                        line = p.currentTokenLocation().getLineNr();
                        if (t != JsonToken.START_OBJECT) {
                            throw new DataFormatException(source + ": line " + line + ": expected a preference record "
                                    + "{\"prompt\", \"chosen\", \"rejected\"}, found " + t);
                        }
                        pairs.add(pair(RECORD.readTree(p), source, line));
                    }
                    return new RewardData.Preference(pairs, source);
                }
                if (!(record.has("t") || record.has("text") || record.has("s") || record.has("label"))) {
                    List<String> names = new ArrayList<>();
                    record.fieldNames().forEachRemaining(names::add);
                    throw new DataFormatException(source + ": line " + line + ": a record with fields " + StrictJson.abbreviate(names)
                            + " is neither an IMDb review ({\"t\" or \"text\", \"s\" or \"label\"}) nor a preference pair "
                            + "({\"prompt\", \"chosen\", \"rejected\"})");
                }
            }
        } catch (StreamReadException e) {
            JsonLocation at = e.getLocation();
            throw new DataFormatException(source + ": invalid JSON" + (at == null ? "" : " at line " + at.getLineNr()
                    + ", column " + at.getColumnNr()) + ": " + e.getOriginalMessage(), e);
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new DataFormatException(source + ": corrupt or truncated gzip data: " + e.getMessage(), e);
        }
        // An IMDb array or JSONL: the loader reads the file again and checks every record itself.
        return nonEmpty(new RewardData.Classification(ImdbDataset.load(path), source));
    }

    private static RewardData.Classification nonEmpty(RewardData.Classification c) throws DataFormatException {
        if (c.reviews().isEmpty()) throw new DataFormatException(c.source() + ": no reviews");
        return c;
    }

    private static RewardData.Pair pair(JsonNode record, String source, int line) throws DataFormatException {
        String[] values = new String[3];
        for (int i = 0; i < 3; i++) {
            String field = PAIR_FIELDS.get(i);
            JsonNode v = record.get(field);
            if (v == null) {
                throw new DataFormatException(source + ": line " + line + ": missing field '" + field + "' (a preference record has "
                        + "\"prompt\", \"chosen\" and \"rejected\", all strings; the prompt may be \"\")");
            }
            if (!v.isTextual()) {
                throw new DataFormatException(source + ": line " + line + ": field '" + field + "' must be a string, found "
                        + StrictJson.abbreviate(v));
            }
            values[i] = v.textValue();
        }
        return new RewardData.Pair(values[0], values[1], values[2]);
    }

    /** Gzip is told by its two magic bytes, not by the file name. */
    private static InputStream gunzipIfGzipped(InputStream raw) throws IOException {
        InputStream in = new BufferedInputStream(raw, 1 << 16);
        in.mark(2);
        int b0 = in.read(), b1 = in.read();
        in.reset();
        return b0 == 0x1f && b1 == 0x8b ? new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16) : in;
    }
}
