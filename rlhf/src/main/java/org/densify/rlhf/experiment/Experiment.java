package org.densify.rlhf.experiment;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.loaders.io.AtomicFiles;
import org.densify.loaders.io.StrictJson;
import org.densify.core.model.ModelShape;
import org.densify.rlhf.demo.Demo;
import org.densify.rlhf.experiment.ExperimentConfig.Cell;
import org.densify.rlhf.ppo.PpoRun;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.run.FileDigests;
import org.densify.rlhf.run.OutputPaths;
import org.densify.rlhf.run.RunLock;

/**
 * Runs a study's grid into a folder and reports on it. Each cell is one {@link PpoRun} in {@code
 * runs/<group>/seed-<s>/}; a finished cell is skipped, one with an earlier checkpoint resumes from
 * it, any other starts afresh. A cell is finished when its {@code result.json} (written once its
 * final checkpoint is in place) names its step count and its log's SHA-256, or when its latest
 * checkpoint is at the last step (folders from before result files; the log alone is not enough,
 * since a run stopped while writing its final checkpoint has logged every step). With
 * {@link FinishedRuns#PRUNE_CHECKPOINTS} a finished cell keeps only its log, run and result files,
 * a few kilobytes, so a study's folder can be committed and continued elsewhere. The folder records
 * the digests of the models it started from ({@code models.json}) and refuses others. The folder is locked for the invocation ({@link RunLock}). The folder keeps the config ({@code
 * config.json}, normal form) and the backend ({@code device.txt}) it was started with, and refuses
 * to continue with others, so one folder never mixes runs of two settings.
 *
 * <p>{@code parallel} cells run at once, each on its own backend: on the CPU each gets
 * {@code max(1, cores / parallel)} threads. A cell's result depends only on its seed (the CPU
 * engine is bitwise the same for any thread count), so the numbers do not depend on {@code parallel}.
 */
public final class Experiment {
    public static final String CONFIG_FILE = "config.json";
    public static final String DEVICE_FILE = "device.txt";
    /** One JSON line per invocation that reached the report: runs run and skipped, wall seconds. */
    public static final String INVOCATIONS_FILE = "invocations.jsonl";
    /** Per finished cell: its step count, its log's SHA-256 and its last step's figures. */
    public static final String RESULT_FILE = "result.json";
    /** The SHA-256 of the policy's and reward model's config and weight files the folder started with. */
    public static final String MODELS_FILE = "models.json";

    /** What a finished cell keeps: every checkpoint (to continue training from), or only its log and result. */
    public enum FinishedRuns { KEEP_CHECKPOINTS, PRUNE_CHECKPOINTS }
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param ran     cells run (or resumed) by this invocation
     * @param skipped cells whose logs were already complete
     */
    public record Result(List<ExperimentStats.Group> groups, ExperimentReport report, int ran, int skipped, double seconds) {}

    /** The models and prompts every cell starts from, as resolved for this invocation. */
    record Models(Path policy, Path rewardModel, List<Review> reviews, String dataName, String description) {}

    private final ExperimentConfig config;
    private final Path dir;
    private final int parallel;
    private final String device;
    private final PrintWriter out, err;
    private final boolean terminal;
    private final FinishedRuns finishedRuns;

    public Experiment(ExperimentConfig config, Path dir, int parallel, String device, FinishedRuns finishedRuns, PrintWriter out, PrintWriter err,
            boolean terminal) {
        if (parallel < 1) throw new IllegalArgumentException("--parallel must be >= 1, got " + parallel);
        if (parallel > 1 && !device.equals("cpu") && !device.equals("scalar")) {
            throw new IllegalArgumentException("--parallel " + parallel + " needs --device cpu or scalar (a GPU runs one cell at a time)");
        }
        this.config = config;
        this.dir = dir;
        this.parallel = parallel;
        this.device = device;
        this.out = out;
        this.err = err;
        this.terminal = terminal;
        this.finishedRuns = finishedRuns;
    }

    /** Cores to share among the parallel cells: the system property {@code densify.threads}, else the processors. */
    static int cores() {
        Integer n = Integer.getInteger("densify.threads");
        return n != null && n >= 1 ? n : Runtime.getRuntime().availableProcessors();
    }

    /** Runs the pending cells and writes the report, holding the folder's lock throughout. */
    public Result run() throws IOException {
        long began = System.nanoTime();
        OutputPaths.checkFolderPath("--out", dir);
        int threads = Math.max(1, cores() / parallel);
        List<Backend> backends = new ArrayList<>();
        try {
            for (int i = 0; i < parallel; i++) backends.add(backend(threads)); // an unknown device is refused before the folder is made
            try (RunLock _ = RunLock.inside(dir)) {
                return runLocked(began, threads, backends);
            }
        } finally {
            for (Backend b : backends) b.close();
        }
    }

    private Result runLocked(long began, int threads, List<Backend> backends) throws IOException {
        String backendName = backends.getFirst().name();
        JsonNode normal = checkFolder(backendName);
        Models models = prepareModels(backends.getFirst());
        List<Cell> cells = config.cells(dir);
        checkLengths(models, cells);
        // recorded only now, so that a config refused above can be corrected and rerun into the same folder
        Files.createDirectories(dir);
        if (!Files.exists(dir.resolve(CONFIG_FILE))) {
            AtomicFiles.write(dir.resolve(CONFIG_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(normal));
        }
        AtomicFiles.write(dir.resolve(DEVICE_FILE), (backendName + "\n").getBytes(StandardCharsets.UTF_8));
        checkModels(models);

        List<Cell> pending = new ArrayList<>();
        int skipped = 0;
        for (Cell c : cells) {
            String finished = finished(c);
            if (finished != null) {
                out.printf(Locale.ROOT, "%s seed %d: finished already (%s), skipped%n", c.group(), c.seed(), finished);
                finish(c);
                skipped++;
            } else {
                pending.add(c);
            }
        }
        out.printf(Locale.ROOT, "experiment %s: %d runs (%s), %d finished already, %d to run, %d at a time on %s with %d thread%s each%n",
                config.name(), cells.size(), shape(cells), skipped, pending.size(), Math.min(parallel, Math.max(1, pending.size())),
                backendName, threads, threads == 1 ? "" : "s");
        out.flush();
        runCells(pending, models, backends);

        List<ExperimentStats.Group> groups = groups(cells);
        double seconds = (System.nanoTime() - began) / 1e9;
        List<JsonNode> invocations = recordInvocation(pending.size(), skipped, seconds);
        double allSeconds = invocations.stream().mapToDouble(r -> r.path("seconds").asDouble(0)).sum();
        ExperimentReport report = new ExperimentReport(config, groups, models.description(),
                new ExperimentReport.Execution(backendName, parallel, threads, pending.size(), skipped, seconds, invocations.size(), allSeconds));
        report.write(dir);
        out.println();
        out.println(report.table());
        out.println();
        out.printf(Locale.ROOT, "report: %s  (summary.csv, runs.csv, reward.png, kl_reward.png, length.png beside it; %.0f s)%n", dir.resolve("report.md"), seconds);
        out.flush();
        return new Result(groups, report, pending.size(), skipped, seconds);
    }

    private Backend backend(int threads) {
        return Backends.create(device, threads);
    }

    /** "5 methods x 5 seeds" or "2 methods x 3 gen_length values x 5 seeds". */
    private String shape(List<Cell> cells) {
        long groups = cells.stream().map(Cell::group).distinct().count();
        String s = config.methods().size() + " method" + (config.methods().size() == 1 ? "" : "s");
        if (config.sweep() != null) s += ", " + config.sweep().points().size() + " " + config.sweep().parameter() + " values";
        return s + " (" + groups + " groups) x " + config.seeds().size() + " seed" + (config.seeds().size() == 1 ? "" : "s");
    }

    /** Refuses a folder started with another config or backend, or one that holds something else; returns our config's normal form. */
    private JsonNode checkFolder(String backendName) throws IOException {
        Path configFile = dir.resolve(CONFIG_FILE), deviceFile = dir.resolve(DEVICE_FILE);
        JsonNode now;
        try {
            now = StrictJson.parse(JSON.writeValueAsBytes(config.toJson())); // read back as the stored file is: same number types
        } catch (StrictJson.Malformed e) {
            throw new IllegalStateException("the config's own JSON does not parse back", e);
        }
        if (Files.exists(configFile)) {
            JsonNode before = readRecorded(configFile, "the config this folder was started with");
            List<String> changed = new ArrayList<>();
            differences("", before, now, changed);
            if (!changed.isEmpty()) {
                throw new IllegalArgumentException(dir + " holds experiment '" + before.path("name").asText() + "' started with another config ("
                        + String.join("; ", changed) + "); rerun it with " + configFile + " or choose another --out");
            }
            String was = Files.isRegularFile(deviceFile) ? Files.readString(deviceFile, StandardCharsets.UTF_8).strip() : backendName;
            if (!was.equals(backendName)) {
                throw new IllegalArgumentException(dir + " was run on device '" + was + "', not '" + backendName
                        + "': results differ between backends; continue with --device " + was + " or choose another --out");
            }
        } else if (Files.isDirectory(dir) && !OutputPaths.isEmpty(dir)) {
            throw new OutputPaths.Refused("--out " + dir + ": is not empty and holds no experiment " + CONFIG_FILE + "; choose a new or empty --out");
        }
        return now;
    }

    /** A JSON file the folder recorded on its first invocation; unreadable JSON is an error saying what it should hold. */
    private static JsonNode readRecorded(Path file, String shouldHold) throws IOException {
        try {
            return StrictJson.parse(Files.readAllBytes(file));
        } catch (StrictJson.Malformed e) {
            throw new IllegalArgumentException(file + ": not valid JSON (" + e.getMessage() + "); it should hold " + shouldHold);
        }
    }

    /** Each field that differs, as "ppo.lr was 1.0E-4, now 2.0E-4". */
    static void differences(String path, JsonNode before, JsonNode now, List<String> out) {
        if (before != null && before.isObject() && now.isObject()) {
            List<String> names = new ArrayList<>();
            now.fieldNames().forEachRemaining(names::add);
            before.fieldNames().forEachRemaining(n -> {
                if (!names.contains(n)) names.add(n);
            });
            for (String n : names) {
                JsonNode b = before.get(n), a = now.get(n);
                if (a == null) out.add(path + n + " was " + StrictJson.abbreviate(b) + ", now absent");
                else differences(path + n + ".", b, a, out);
            }
        } else if (!now.equals(before)) {
            String field = path.substring(0, path.length() - 1);
            out.add(field + (before == null ? " was absent" : " was " + StrictJson.abbreviate(before)) + ", now " + StrictJson.abbreviate(now));
        }
    }

    private Models prepareModels(Backend backend) throws IOException {
        return switch (config.models()) {
            case ExperimentConfig.DemoModels d -> {
                Demo.Models m = new Demo(d.demoPlan(), d.work(), List.of(), 0, out, err, terminal).prepare(backend);
                yield new Models(m.policy(), m.rewardModel(), m.promptReviews(), "bundled sample",
                        "the demo's " + d.plan() + " models (trained here on the bundled IMDb sample, cached in " + d.work() + ")");
            }
            case ExperimentConfig.FolderModels f -> {
                List<Review> reviews = ImdbDataset.split(ImdbDataset.loadOrSample(f.data()), 0.1).train();
                yield new Models(f.policy(), f.rewardModel(), reviews, f.data(), "policy " + f.policy() + ", reward model " + f.rewardModel()
                        + ", prompts from " + (f.data().equals(ImdbDataset.BUNDLED_SAMPLE) ? "the bundled IMDb sample" : f.data()));
            }
        };
    }

    /** Every cell's longest sequence must fit both models' context, checked before hours of runs begin. */
    private static void checkLengths(Models models, List<Cell> cells) throws IOException {
        for (Path model : List.of(models.policy(), models.rewardModel())) {
            int context = ModelShape.read(model).maxSequenceLength();
            for (Cell c : cells) {
                int longest = c.ppo().promptMax() + c.ppo().genMax();
                if (longest > context) {
                    throw new IllegalArgumentException(c.group() + ": prompts of up to " + c.ppo().promptMax() + " tokens plus up to " + c.ppo().genMax()
                            + " new tokens (" + longest + ") exceed the n_positions " + context + " of " + model);
                }
            }
        }
    }

    private void runCells(List<Cell> pending, Models models, List<Backend> backends) throws IOException {
        if (pending.isEmpty()) return;
        AtomicInteger next = new AtomicInteger(), finished = new AtomicInteger();
        List<String> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < Math.min(backends.size(), pending.size()); w++) {
            Backend backend = backends.get(w);
            workers.add(Thread.ofPlatform().name("experiment-" + w).start(() -> {
                for (int k; (k = next.getAndIncrement()) < pending.size(); ) {
                    Cell c = pending.get(k);
                    try {
                        runCell(c, models, backend, finished, pending.size());
                    } catch (Exception | Error e) {
                        String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().replace('\n', ' ');
                        failures.add(c.group() + " seed " + c.seed() + " (" + why + ")");
                        out.printf(Locale.ROOT, "%s seed %d: failed: %s%n", c.group(), c.seed(), why);
                        out.flush();
                    }
                }
            }));
        }
        for (Thread t : workers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while the runs were going; rerun the same command to resume them", e);
            }
        }
        if (!failures.isEmpty()) {
            throw new IllegalStateException(failures.size() + " of " + pending.size() + " runs failed: " + String.join("; ", failures)
                    + ". The others are complete; rerunning the same command resumes the failed ones from their last checkpoints");
        }
    }

    private void runCell(Cell c, Models models, Backend backend, AtomicInteger finished, int total) throws IOException {
        boolean resume = new Checkpoints(c.dir().resolve("checkpoints"), PpoRun.FORMAT).exist();
        if (!resume) Checkpoints.deleteTree(c.dir()); // a start that left no checkpoint: nothing to keep
        out.printf(Locale.ROOT, "%s seed %d: %s%n", c.group(), c.seed(), resume ? "resuming from its last checkpoint" : "starting");
        out.flush();
        // A progress bar per run only when one run goes at a time: parallel bars would garble each other.
        PrintWriter progress = parallel == 1 ? err : new PrintWriter(PrintWriter.nullWriter());
        PpoRun.Result r = new PpoRun(new PpoRun.Setup(c.ppo(), c.credit(), config.steps(), c.seed(), models.policy(), models.rewardModel(),
                models.reviews(), models.dataName(), c.dir(), resume, config.checkpointEvery(), OutputPaths.Existing.REFUSE)).run(backend, progress);
        finish(c);
        List<JsonNode> records = completeRecords(c.dir().resolve("log.jsonl"));
        JsonNode last = records.isEmpty() ? null : records.getLast();
        out.printf(Locale.ROOT, "[%d/%d] %s seed %d: %d steps in %.0f s, reward %.3f, KL %.3f at step %d%n", finished.incrementAndGet(), total,
                c.group(), c.seed(), r.steps().size(), r.seconds(), last == null ? Double.NaN : last.path("reward_mean").asDouble(),
                last == null ? Double.NaN : last.path("kl").asDouble(), last == null ? 0 : last.path("step").asInt());
        out.flush();
    }

    /**
     * How a cell is known to be finished ("result.json, 150 of 150 steps"), or null when it is not. A
     * result whose log has changed since is an error: the run's numbers would no longer be the ones
     * recorded.
     */
    private String finished(Cell c) throws IOException {
        Path result = c.dir().resolve(RESULT_FILE), log = c.dir().resolve("log.jsonl");
        if (Files.exists(result)) {
            JsonNode r;
            try {
                r = StrictJson.parse(Files.readAllBytes(result));
            } catch (StrictJson.Malformed e) {
                throw new IllegalStateException(result + ": not valid JSON (" + e.getMessage() + "); delete " + c.dir() + " to redo that run");
            }
            int steps = r.path("steps").asInt(-1);
            String recorded = r.path("log_sha256").asText("");
            if (steps != config.steps()) {
                throw new IllegalStateException(result + ": field 'steps' is " + r.get("steps") + ", expected " + config.steps()
                        + " (the config's steps); delete " + c.dir() + " to redo that run");
            }
            String found = Files.isRegularFile(log) ? FileDigests.sha256(log) : null;
            if (!recorded.equals(found)) {
                throw new IllegalStateException(result + ": field 'log_sha256' is " + recorded + " but " + log
                        + (found == null ? " is missing" : " has " + found) + ": the log changed after the run finished; delete " + c.dir()
                        + " to redo that run");
            }
            return dir.relativize(result) + ", " + steps + " of " + config.steps() + " steps";
        }
        int checkpointed = new Checkpoints(c.dir().resolve("checkpoints"), PpoRun.FORMAT).latestStep();
        return checkpointed >= config.steps()
                ? "checkpoint of step " + checkpointed + " of " + config.steps() + " in " + dir.relativize(c.dir().resolve("checkpoints"))
                : null;
    }

    /**
     * Records a cell whose final checkpoint is in place as finished ({@link #RESULT_FILE}, once) and,
     * with {@link FinishedRuns#PRUNE_CHECKPOINTS}, then deletes its checkpoints: the result is
     * written first, so a crash in between leaves a cell that still counts as finished.
     */
    private void finish(Cell c) throws IOException {
        Path result = c.dir().resolve(RESULT_FILE), log = c.dir().resolve("log.jsonl");
        if (!Files.exists(result)) {
            List<JsonNode> records = completeRecords(log);
            if (records.size() < config.steps()) {
                throw new IllegalStateException(log + " holds " + records.size() + " of " + config.steps()
                        + " steps though its run ended; delete " + c.dir() + " to redo that run");
            }
            JsonNode last = records.get(config.steps() - 1);
            double seconds = 0;
            for (JsonNode r : records.subList(0, config.steps())) seconds += r.path("seconds").asDouble(0);
            var r = JSON.createObjectNode();
            r.put("group", c.group()).put("seed", c.seed()).put("steps", config.steps()).put("log_sha256", FileDigests.sha256(log));
            r.put("seconds", seconds);
            var at = r.putObject("last_step");
            for (String f : List.of("reward_mean", "kl", "response_length")) at.put(f, number(last, f, log));
            AtomicFiles.write(result, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r));
        }
        if (finishedRuns == FinishedRuns.PRUNE_CHECKPOINTS) Checkpoints.deleteTree(c.dir().resolve("checkpoints"));
    }

    /**
     * Records the models' digests in a new folder ({@link #MODELS_FILE}) and refuses different models
     * in a folder that has them: a study's runs must all start from the same weights, also when the
     * folder is continued on another machine where the models were rebuilt.
     */
    private void checkModels(Models models) throws IOException {
        var now = JSON.createObjectNode();
        now.set("policy", modelDigests(models.policy()));
        now.set("reward_model", modelDigests(models.rewardModel()));
        Path file = dir.resolve(MODELS_FILE);
        if (!Files.exists(file)) {
            AtomicFiles.write(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(now));
            return;
        }
        JsonNode before = readRecorded(file, "the digests of the models this folder started with");
        List<String> changed = new ArrayList<>();
        differences("", before, now, changed);
        if (!changed.isEmpty()) {
            throw new IllegalArgumentException(dir + " was started from other models than " + models.policy() + " and " + models.rewardModel()
                    + " (" + String.join("; ", changed) + ", in " + file + "); use the models it started from or choose another --out");
        }
    }

    /** SHA-256 of a model folder's config and weights, by file name. */
    private static JsonNode modelDigests(Path folder) throws IOException {
        var digests = JSON.createObjectNode();
        FileDigests.ofFolder(folder, n -> n.equals("config.json") || n.endsWith(".safetensors")).forEach(digests::put);
        return digests;
    }

    /** The records of steps 1, 2, 3, ... at the start of a log, up to the first gap or unreadable line; empty without a log. */
    static List<JsonNode> completeRecords(Path log) throws IOException {
        List<JsonNode> records = new ArrayList<>();
        if (!Files.isRegularFile(log)) return records;
        for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
            JsonNode r;
            try {
                r = JSON.readTree(line);
            } catch (IOException e) {
                break;
            }
            if (r == null || r.path("step").asInt(-1) != records.size() + 1) break;
            records.add(r);
        }
        return records;
    }

    /** Appends this invocation to {@link #INVOCATIONS_FILE} (rewritten atomically) and returns every record in it. */
    private List<JsonNode> recordInvocation(int ran, int skipped, double seconds) throws IOException {
        Path file = dir.resolve(INVOCATIONS_FILE);
        List<JsonNode> records = new ArrayList<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) records.add(JSON.readTree(line));
            }
        }
        records.add(JSON.createObjectNode().put("ran", ran).put("skipped", skipped).put("seconds", seconds));
        StringBuilder text = new StringBuilder();
        for (JsonNode r : records) text.append(JSON.writeValueAsString(r)).append('\n');
        AtomicFiles.write(file, text.toString().getBytes(StandardCharsets.UTF_8));
        return records;
    }

    /** Every cell's first {@code steps} records, grouped. */
    private List<ExperimentStats.Group> groups(List<Cell> cells) throws IOException {
        Map<String, List<ExperimentStats.RunCurve>> byGroup = new LinkedHashMap<>();
        for (Cell c : cells) {
            Path log = c.dir().resolve("log.jsonl");
            List<JsonNode> records = completeRecords(log);
            if (records.size() < config.steps()) {
                throw new IllegalStateException(log + " holds " + records.size() + " of " + config.steps()
                        + " steps though its run ended; delete " + c.dir() + " to redo that run");
            }
            double[] reward = new double[config.steps()], kl = new double[config.steps()], length = new double[config.steps()];
            double seconds = 0;
            for (int s = 0; s < reward.length; s++) {
                JsonNode r = records.get(s);
                reward[s] = number(r, "reward_mean", log);
                kl[s] = number(r, "kl", log);
                length[s] = number(r, "response_length", log);
                seconds += r.path("seconds").asDouble(0);
            }
            byGroup.computeIfAbsent(c.group(), g -> new ArrayList<>()).add(new ExperimentStats.RunCurve(c.group(), c.seed(), reward, kl, length, seconds));
        }
        List<ExperimentStats.Group> groups = new ArrayList<>();
        byGroup.forEach((g, runs) -> groups.add(ExperimentStats.group(g, runs)));
        return groups;
    }

    private static double number(JsonNode record, String field, Path log) {
        JsonNode v = record.get(field);
        if (v == null || !v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw new IllegalStateException(log + ": step " + record.path("step").asInt() + " has no finite '" + field + "'");
        }
        return v.asDouble();
    }
}
