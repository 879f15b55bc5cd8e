package org.densify.rlhf.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.core.model.AdamW;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.ParameterLayout;
import org.densify.loaders.io.AtomicFiles;
import org.densify.loaders.io.StrictJson;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.safetensors.SafetensorsFile;
import org.densify.loaders.safetensors.SafetensorsWriter;
import org.densify.loaders.safetensors.TensorInfo;
import org.densify.rlhf.run.FileDigests;
import org.densify.rlhf.run.TrainingChecks;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoints of a run under {@code DIR/checkpoints/}:
 * <pre>
 * step-{N}/            a Hugging Face model folder (config.json, model.safetensors, vocab.json, merges.txt)
 *   optimizer.safetensors   AdamW moments: m.{name}, v.{name} for every parameter, F32
 *   state.json              step, hyper-parameters, data identity, AdamW step count, run totals,
 *                           and "files": the SHA-256 of every other file of the checkpoint
 * latest               one line naming the newest complete step-{N} folder
 * </pre>
 * Nothing is written when a parameter or moment is not finite ({@link TrainingChecks}); on resume
 * every file is checked against its recorded SHA-256, so a damaged file is named, not trained on.
 * A checkpoint is written into a hidden {@code .step-{N}.partial} folder, renamed to {@code step-{N}}
 * when every file is on disk, and only then named by {@code latest} (replaced atomically): a crash at
 * any point leaves {@code latest} naming a complete checkpoint. The two newest are kept.
 */
public final class Checkpoints {
    public static final String LATEST = "latest";
    public static final String STATE = "state.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** The field of state.json that maps each other file of the checkpoint to its SHA-256. */
    public static final String FILES = "files";
    /** The state format of pretraining checkpoints. */
    public static final String FORMAT = "densify-pretrain/1";
    private static final Pattern NAME = Pattern.compile("step-(\\d{1,9})");
    private static final int KEEP = 2;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Path root;
    private final String format;

    /** Pretraining checkpoints under {@code root}. */
    public Checkpoints(Path root) {
        this(root, FORMAT);
    }

    /** Checkpoints under {@code root} whose state.json carries {@code "format": format} (another trainer's). */
    public Checkpoints(Path root, String format) {
        this.root = root;
        this.format = format;
    }

    public Path root() {
        return root;
    }

    /** Whether a run already left a checkpoint here. */
    public boolean exist() {
        return Files.exists(root.resolve(LATEST));
    }

    /**
     * The step of the checkpoint {@code latest} names, read from its name alone (0 when there is
     * none): how far a run got. {@link #latest} reads and checks the checkpoint itself.
     */
    public int latestStep() throws IOException {
        Matcher m = NAME.matcher(latestName());
        return m.matches() ? Integer.parseInt(m.group(1)) : 0;
    }

    /** A checkpoint as read back: its folder and state; the model and moments are loaded by {@link #restore}. */
    public record Saved(Path dir, int step, ObjectNode state) {}

    /** Writes step {@code step}'s checkpoint and points {@code latest} at it; then prunes older ones. */
    public Path save(int step, LanguageModel model, AdamW optimizer, Path tokenizerDir, ObjectNode state) throws IOException {
        Files.createDirectories(root);
        String name = "step-" + step;
        Path partial = root.resolve("." + name + ".partial");
        Path target = root.resolve(name);
        if (target.getFileName().toString().equals(latestName())) {
            throw new IllegalStateException("checkpoint " + target + " is the latest one and cannot be rewritten");
        }
        TrainingChecks.requireFiniteParameters(model, "checkpoint " + target);
        deleteTree(partial);
        Files.createDirectories(partial);
        model.save(partial, ModelKind.LM);
        copyTokenizer(tokenizerDir, partial);
        writeMoments(partial.resolve(OPTIMIZER), model, optimizer, step, target);
        ObjectNode digests = state.putObject(FILES);
        FileDigests.ofFolder(partial, file -> true).forEach(digests::put);
        AtomicFiles.write(partial.resolve(STATE), JSON.writeValueAsBytes(state));
        deleteTree(target); // a step-N a crash left before latest could name it
        AtomicFiles.rename(partial, target);
        AtomicFiles.write(root.resolve(LATEST), (name + "\n").getBytes(StandardCharsets.UTF_8));
        prune(step);
        return target;
    }

    /** The checkpoint {@code latest} names, with its state read and checked for form. */
    public Saved latest() throws IOException {
        Path latestFile = root.resolve(LATEST);
        if (!Files.isRegularFile(latestFile)) {
            throw new NoSuchFileException(latestFile + ": no checkpoint to resume from (run without --resume to start afresh)");
        }
        String name = latestName();
        Matcher m = NAME.matcher(name);
        if (!m.matches()) throw new IOException(latestFile + ": expected a folder name like step-100, found '" + StrictJson.abbreviate(name) + "'");
        Path dir = root.resolve(name);
        if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir + ": the checkpoint named by " + latestFile + " is missing");
        Path stateFile = dir.resolve(STATE);
        ObjectNode state;
        try {
            JsonNode json = StrictJson.parse(Files.readAllBytes(stateFile));
            if (!(json instanceof ObjectNode o)) throw new IOException(stateFile + ": expected a JSON object");
            state = o;
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(stateFile + ": the checkpoint has no state.json (damaged checkpoint)");
        } catch (StrictJson.Malformed e) {
            throw new IOException(stateFile + ": not valid JSON (" + e.getMessage() + ")");
        }
        if (!format.equals(state.path("format").asText())) {
            throw new IOException(stateFile + ": 'format' is \"" + StrictJson.abbreviate(state.path("format").asText()) + "\", expected \"" + format
                    + "\" (a checkpoint of another kind of run)");
        }
        int step = Integer.parseInt(m.group(1));
        if (state.path("step").asInt(-1) != step) {
            throw new IOException(stateFile + ": 'step' " + state.path("step") + " does not match the folder " + name);
        }
        verifyFiles(dir, state);
        return new Saved(dir, step, state);
    }

    /**
     * Checks every file state.json lists against its SHA-256. Checkpoints written before the digests
     * were recorded have no list and are taken as they are.
     */
    private static void verifyFiles(Path dir, ObjectNode state) throws IOException {
        JsonNode files = state.get(FILES);
        if (files == null) return;
        Path stateFile = dir.resolve(STATE);
        if (!files.isObject()) throw new IOException(stateFile + ": '" + FILES + "' should map file names to SHA-256 digests");
        for (var e : files.properties()) {
            String name = e.getKey();
            Path f = dir.resolve(name).normalize();
            if (!f.getParent().equals(dir.normalize()) || name.equals(STATE)) {
                throw new IOException(stateFile + ": '" + FILES + "' names '" + StrictJson.abbreviate(name) + "', not a file of the checkpoint");
            }
            if (!Files.isRegularFile(f)) throw new NoSuchFileException("checkpoint " + dir + ": " + name + " is missing (state.json lists it)");
            String recorded = e.getValue().asText(), found = FileDigests.sha256(f);
            if (!recorded.equals(found)) {
                throw new IOException("checkpoint " + dir + ": " + name + " is damaged: its SHA-256 is " + found.substring(0, 12)
                        + "..., state.json records " + StrictJson.abbreviate(recorded) + " (the file changed after the checkpoint was written; "
                        + "restore it, or start the run afresh with --force)");
            }
        }
    }

    /**
     * Deletes what an interrupted save leaves: hidden {@code .step-N.partial} folders and the
     * temporary files of an unfinished {@code latest}. Call it only while holding the run's lock.
     */
    public void cleanStale(PrintWriter report) throws IOException {
        if (!Files.isDirectory(root)) return;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if ((n.startsWith(".step-") && n.endsWith(".partial")) || (n.startsWith("." + LATEST + ".") && n.endsWith(".tmp"))) {
                    deleteTree(p);
                    report.printf("densify: deleted %s, left unfinished by a stopped run%n", p);
                }
            }
        }
        report.flush();
    }

    /** Loads the checkpoint's AdamW moments and step count into {@code optimizer} (for {@code model}'s layout). */
    public static void restoreMoments(Path dir, LanguageModel model, AdamW optimizer, int adamSteps) throws IOException {
        Path file = dir.resolve(OPTIMIZER);
        Backend backend = model.backend();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (ParameterLayout.Entry e : model.layout().entries()) {
                for (String prefix : new String[]{"m.", "v."}) {
                    String name = prefix + e.name();
                    if (!f.has(name)) throw new IOException(file + ": lacks " + name);
                    TensorInfo info = f.info(name);
                    if (!info.hasShape(e.shape())) {
                        throw new IOException(file + ": " + name + " has shape " + TensorInfo.shapeString(info.shape())
                                + ", expected " + TensorInfo.shapeString(e.shape()));
                    }
                    Tensor moments = prefix.equals("m.") ? optimizer.firstMoment() : optimizer.secondMoment();
                    backend.write(moments, e.offset(), f.readFloats(name));
                }
            }
        }
        optimizer.restoreStepCount(adamSteps);
    }

    private static void writeMoments(Path file, LanguageModel model, AdamW optimizer, int step, Path checkpoint) throws IOException {
        Backend backend = model.backend();
        SafetensorsWriter w = new SafetensorsWriter().metadata("step", Integer.toString(step))
                .metadata("adam_steps", Integer.toString(optimizer.stepCount()));
        for (ParameterLayout.Entry e : model.layout().entries()) {
            for (String prefix : new String[]{"m.", "v."}) {
                float[] values = new float[Math.toIntExact(e.length())];
                backend.read(prefix.equals("m.") ? optimizer.firstMoment() : optimizer.secondMoment(), e.offset(), values);
                TrainingChecks.requireFinite(values, prefix + e.name(), "checkpoint " + checkpoint + " (" + OPTIMIZER + ")");
                w.add(prefix + e.name(), e.shape(), values);
            }
        }
        w.write(file);
    }

    /** Copies the tokenizer's vocab.json + merges.txt (or OpenAI's encoder.json + vocab.bpe, renamed) beside a model. */
    public static void copyTokenizer(Path from, Path to) throws IOException {
        for (String[] names : new String[][]{{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}}) {
            if (Files.isRegularFile(from.resolve(names[0])) && Files.isRegularFile(from.resolve(names[1]))) {
                AtomicFiles.write(to.resolve("merges.txt"), Files.readAllBytes(from.resolve(names[1])));
                AtomicFiles.write(to.resolve("vocab.json"), Files.readAllBytes(from.resolve(names[0])));
                return;
            }
        }
        throw new NoSuchFileException(from + ": no vocab.json + merges.txt to copy beside the model");
    }

    /** Deletes every step-N folder older than the {@value #KEEP} newest up to {@code newest}, and stray partial folders. */
    private void prune(int newest) throws IOException {
        List<Integer> steps = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                Matcher m = NAME.matcher(n);
                if (m.matches() && Files.isDirectory(p)) steps.add(Integer.parseInt(m.group(1)));
                else if (n.startsWith(".step-") && n.endsWith(".partial")) deleteTree(p);
            }
        }
        steps.sort(Comparator.reverseOrder());
        int kept = 0;
        for (int s : steps) {
            if (s > newest) {
                deleteTree(root.resolve("step-" + s)); // from an abandoned longer run: never the latest
            } else if (kept++ >= KEEP) {
                deleteTree(root.resolve("step-" + s));
            }
        }
    }

    private String latestName() throws IOException {
        Path f = root.resolve(LATEST);
        if (!Files.isRegularFile(f)) return "";
        try {
            return Files.readString(f, StandardCharsets.UTF_8).strip();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IOException(f + ": not UTF-8 text (expected one line naming a step-N folder)");
        }
    }

    /** Deletes a file or a folder with everything in it (nothing when absent). */
    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
