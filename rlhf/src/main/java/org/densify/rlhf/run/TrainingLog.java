package org.densify.rlhf.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.loaders.io.AtomicFiles;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * {@code log.jsonl}: one JSON object per training step, appended and flushed as each step ends.
 * A resumed run first cuts the file back to the checkpoint's step (dropping the steps it will
 * redo, and a last line a crash may have left half-written), so the log reads as one run.
 */
public final class TrainingLog implements Closeable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter out;

    private TrainingLog(Path file, boolean append) throws IOException {
        this.out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
    }

    /** A new, empty log. */
    public static TrainingLog create(Path file) throws IOException {
        return new TrainingLog(file, false);
    }

    /** Keeps the records of steps {@code <= step} (up to the first line that is not a whole record) and appends after them. */
    public static TrainingLog resume(Path file, int step) throws IOException {
        StringBuilder kept = new StringBuilder();
        if (Files.exists(file)) {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            for (String line : lines) {
                JsonNode record;
                try {
                    record = JSON.readTree(line);
                } catch (IOException e) {
                    break; // a line cut by a crash: nothing after it was written whole
                }
                if (record == null || !record.path("step").canConvertToInt()) break;
                if (record.get("step").intValue() > step) break;
                kept.append(line).append('\n');
            }
        }
        AtomicFiles.write(file, kept.toString().getBytes(StandardCharsets.UTF_8));
        return new TrainingLog(file, true);
    }

    public void append(ObjectNode record) throws IOException {
        out.write(JSON.writeValueAsString(record));
        out.write('\n');
        out.flush();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
