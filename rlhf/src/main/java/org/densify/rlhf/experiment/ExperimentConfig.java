package org.densify.rlhf.experiment;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.io.InputFiles;
import org.densify.loaders.io.StrictJson;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.demo.DemoPlan;
import org.densify.rlhf.ppo.PpoConfig;

/**
 * A study: credit methods x seeds x (optionally) the values of one swept parameter, each cell one PPO
 * run from the same initial models. Read from JSON strictly: an unknown field, a missing required one
 * or a bad value is an error naming the file and the field. {@link #toJson()} is the normal form
 * (every default filled in) that an experiment folder stores and compares on a rerun.
 *
 * <pre>{@code
 * {"name": "study1-credit",
 *  "models": {"demo": "full", "work": "work/demo"}            or {"policy": DIR, "reward_model": DIR, "data": "sample"|PATH},
 *  "methods": ["sparse", "uniform", "abc"], "seeds": [0, 1, 2], "steps": 100,
 *  "beta": 0.8, "checkpoint_every": 10,
 *  "ppo": {"lr": 1.41e-4, "gen_min": 8, "gen_max": 16, ...},  any of batch, minibatch, ppo_epochs, lr, kl_init, adaptive_kl,
 *                                                         kl_target, kl_horizon, prompt_min, prompt_max, gen_min, gen_max
 *  "sweep": {"parameter": "beta", "values": [0, 0.5, 0.8, 1.0]}       or {"parameter": "gen_length", "values": [[20, 30], [40, 60]]}}
 * }</pre>
 *
 * @param methods  canonical credit-method names, in the order given
 * @param beta     ABC's beta when it is not swept
 * @param ppo      the PPO settings every cell shares (a gen_length sweep replaces the lengths per cell)
 * @param sweep    the swept parameter, or null
 */
public record ExperimentConfig(String name, Models models, List<String> methods, List<Long> seeds, int steps, double beta,
                               int checkpointEvery, PpoConfig ppo, Sweep sweep) {

    static final int DEFAULT_CHECKPOINT_EVERY = 10;

    /** Where the initial policy and reward model come from. */
    public sealed interface Models {}

    /** The demo's models, built (or reused) in {@code work} by {@link org.densify.rlhf.demo.Demo#prepare}. */
    public record DemoModels(String plan, Path work) implements Models {
        public DemoPlan demoPlan() {
            return plan.equals("full") ? DemoPlan.full() : DemoPlan.quick();
        }
    }

    /** Model folders given by the user, and the reviews the prompts come from ("sample" or a path). */
    public record FolderModels(Path policy, Path rewardModel, String data) implements Models {}

    /** One swept parameter: {@code beta} (values in [0, 1]) or {@code gen_length} ([min, max] pairs of new tokens). */
    public record Sweep(String parameter, List<Point> points) {}

    /** One value of the swept parameter; {@code label} names it in folders and groups (beta-0.5, gen-20-30). */
    public record Point(String label, double beta, int genMin, int genMax) {}

    /** One PPO run of the grid. {@code group} is the method plus the sweep label (if the sweep applies to it). */
    public record Cell(String group, String method, Point point, long seed, Credit credit, PpoConfig ppo, Path dir) {}

    /** Every cell, group by group (methods in order, then sweep values), seeds innermost; folders under {@code root/runs}. */
    public List<Cell> cells(Path root) {
        List<Cell> cells = new ArrayList<>();
        for (String method : methods) {
            List<Point> points = sweep == null || !sweepApplies(method) ? java.util.Collections.singletonList(null) : sweep.points();
            for (Point p : points) {
                String group = p == null ? method : method + "-" + p.label();
                double b = p != null && sweep.parameter().equals("beta") ? p.beta() : beta;
                PpoConfig c = p != null && sweep.parameter().equals("gen_length")
                        ? ppo.toBuilder().genLengths(p.genMin(), p.genMax()).build() : ppo;
                for (long seed : seeds) {
                    cells.add(new Cell(group, method, p, seed, Credit.parse(method, b), c, root.resolve("runs").resolve(group).resolve("seed-" + seed)));
                }
            }
        }
        return cells;
    }

    /** A beta sweep changes only the methods that take beta; the others run once, unlabelled. */
    boolean sweepApplies(String method) {
        return sweep != null && (!sweep.parameter().equals(Credit.BETA) || Credit.method(method).takesBeta());
    }

    // ---- reading -------------------------------------------------------------------------------

    public static ExperimentConfig load(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(InputFiles.requireFile(file));
        return parse(strictUtf8(bytes, file), file.toString());
    }

    /** The text of a config, refused (file and line named) where it is not UTF-8: a replaced byte would change a name silently. */
    private static String strictUtf8(byte[] bytes, Path file) throws IOException {
        var decoder = StandardCharsets.UTF_8.newDecoder();
        try {
            return decoder.decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            int line = 1, start = 0;
            for (int i = 0; i <= bytes.length; i++) {
                if (i == bytes.length || bytes[i] == '\n') {
                    try {
                        decoder.reset().decode(java.nio.ByteBuffer.wrap(bytes, start, i - start));
                    } catch (java.nio.charset.CharacterCodingException bad) {
                        break;
                    }
                    line++;
                    start = i + 1;
                }
            }
            throw new org.densify.loaders.data.DataFormatException(file + ": line " + line + ": not valid UTF-8");
        }
    }

    /** Parses a config; {@code source} (the file) starts every error message. */
    public static ExperimentConfig parse(String json, String source) {
        JsonNode root;
        try {
            root = StrictJson.parse(json);
        } catch (StrictJson.Malformed e) {
            throw new IllegalArgumentException(source + ": not valid JSON (" + e.getMessage() + ")");
        }
        Fields top = new Fields(root, "", source);
        top.allow("name", "models", "methods", "seeds", "steps", "beta", "checkpoint_every", "ppo", "sweep");

        String name = top.text("name", null);
        if (name.isBlank()) throw top.bad("name", "must not be empty");

        Fields m = top.object("models");
        Models models;
        PpoConfig defaults;
        if (m.has("demo")) {
            m.allow("demo", "work");
            String plan = m.text("demo", null);
            if (!plan.equals("full") && !plan.equals("quick")) throw m.bad("demo", "must be \"full\" or \"quick\", got \"" + StrictJson.abbreviate(plan) + "\"");
            models = new DemoModels(plan, Path.of(m.text("work", plan.equals("full") ? "work/demo" : "work/demo-quick")));
            defaults = ((DemoModels) models).demoPlan().ppo();
        } else {
            if (!m.has("policy")) {
                throw top.bad("models", "must name the demo's models ({\"demo\": \"full\" or \"quick\"}) or model folders ({\"policy\": DIR, \"reward_model\": DIR})");
            }
            m.allow("policy", "reward_model", "data");
            models = new FolderModels(Path.of(m.text("policy", null)), Path.of(m.text("reward_model", null)), m.text("data", ImdbDataset.BUNDLED_SAMPLE));
            defaults = PpoConfig.trlDefaults();
        }

        List<String> methods = new ArrayList<>();
        JsonNode methodList = top.array("methods", false);
        for (int i = 0; i < methodList.size(); i++) {
            JsonNode v = methodList.get(i);
            String field = "methods[" + i + "]";
            if (!v.isTextual()) throw top.bad(field, "must be a method name, got " + StrictJson.abbreviate(v));
            String canonical;
            try {
                canonical = Credit.method(v.asText()).name();
            } catch (IllegalArgumentException e) {
                throw top.bad(field, e.getMessage());
            }
            if (methods.contains(canonical)) throw top.bad(field, "'" + canonical + "' is listed twice");
            methods.add(canonical);
        }

        List<Long> seeds = new ArrayList<>();
        JsonNode seedList = top.array("seeds", false);
        for (int i = 0; i < seedList.size(); i++) {
            JsonNode v = seedList.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) throw top.bad("seeds[" + i + "]", "must be an integer >= 0, got " + StrictJson.abbreviate(v));
            if (seeds.contains(v.asLong())) throw top.bad("seeds[" + i + "]", v.asLong() + " is listed twice");
            seeds.add(v.asLong());
        }

        int steps = top.integer("steps", null, 1);
        int checkpointEvery = top.integer("checkpoint_every", DEFAULT_CHECKPOINT_EVERY, 1);

        Fields s = top.has("sweep") ? top.object("sweep") : null;
        String swept = null;
        if (s != null) {
            s.allow("parameter", "values");
            swept = s.text("parameter", null);
            if (!swept.equals("beta") && !swept.equals("gen_length")) {
                throw s.bad("parameter", "must be \"beta\" or \"gen_length\", got \"" + StrictJson.abbreviate(swept) + "\"");
            }
        }
        if ("beta".equals(swept) && top.has("beta")) throw top.bad("beta", "is set by the beta sweep; remove it");
        double beta = top.number("beta", Credit.DEFAULT_BETA);
        if (!(beta >= 0 && beta <= 1)) throw top.bad("beta", "must be in [0, 1], got " + beta);

        PpoConfig ppo = parsePpo(top.has("ppo") ? top.object("ppo") : null, defaults, "gen_length".equals(swept));

        Sweep sweep = null;
        if (s != null) {
            JsonNode values = s.array("values", false);
            List<Point> points = new ArrayList<>();
            Set<String> labels = new HashSet<>();
            for (int i = 0; i < values.size(); i++) {
                JsonNode v = values.get(i);
                String field = "values[" + i + "]";
                Point p;
                if (swept.equals("beta")) {
                    if (!v.isNumber() || !(v.asDouble() >= 0 && v.asDouble() <= 1)) throw s.bad(field, "must be a number in [0, 1], got " + StrictJson.abbreviate(v));
                    p = new Point("beta-" + plain(v.asDouble()), v.asDouble(), ppo.genMin(), ppo.genMax());
                } else {
                    if (!v.isArray() || v.size() != 2 || !v.get(0).isIntegralNumber() || !v.get(1).isIntegralNumber()
                            || !v.get(0).canConvertToInt() || !v.get(1).canConvertToInt() || v.get(0).asInt() < 1 || v.get(1).asInt() <= v.get(0).asInt()) {
                        throw s.bad(field, "must be a [min, max] pair of new-token counts with 1 <= min < max (lengths are drawn from "
                                + "range(min, max)), got " + StrictJson.abbreviate(v));
                    }
                    p = new Point("gen-" + v.get(0).asInt() + "-" + v.get(1).asInt(), beta, v.get(0).asInt(), v.get(1).asInt());
                }
                if (!labels.add(p.label())) throw s.bad(field, "repeats an earlier value");
                points.add(p);
            }
            sweep = new Sweep(swept, List.copyOf(points));
            if (swept.equals(Credit.BETA) && methods.stream().noneMatch(method -> Credit.method(method).takesBeta())) {
                throw s.bad("parameter", "beta changes none of the methods; a beta sweep needs an attention method (" + Credit.namesTakingBeta() + ") among them");
            }
        }
        return new ExperimentConfig(name, models, List.copyOf(methods), List.copyOf(seeds), steps, beta, checkpointEvery, ppo, sweep);
    }

    private static PpoConfig parsePpo(Fields p, PpoConfig d, boolean lengthsSwept) {
        if (p == null) return d;
        p.allow("batch", "minibatch", "ppo_epochs", "lr", "kl_init", "adaptive_kl", "kl_target", "kl_horizon", "prompt_min", "prompt_max", "gen_min", "gen_max");
        if (lengthsSwept) {
            for (String f : List.of("gen_min", "gen_max")) if (p.has(f)) throw p.bad(f, "is set by the gen_length sweep; remove it");
        }
        PpoConfig.Builder b = d.toBuilder()
                .batch(p.integer("batch", d.batchSize(), 1), p.integer("minibatch", d.miniBatchSize(), 1))
                .epochs(p.integer("ppo_epochs", d.ppoEpochs(), 1))
                .learningRate(p.number("lr", d.learningRate()))
                .kl(p.number("kl_init", d.initKlCoef()), PpoConfig.KlControl.adaptiveWhen(p.bool("adaptive_kl", d.adaptiveKl())),
                        p.number("kl_target", d.klTarget()), p.number("kl_horizon", d.klHorizon()))
                .promptLengths(p.integer("prompt_min", d.promptMin(), 1), p.integer("prompt_max", d.promptMax(), 1))
                .genLengths(p.integer("gen_min", d.genMin(), 1), p.integer("gen_max", d.genMax(), 1));
        try {
            return b.build();
        } catch (PpoConfig.InvalidSetting e) {
            String key = e.setting().key();
            throw p.bad(key, e.problem() + (p.has(key) ? "" : " (the default)"));
        }
    }

    // ---- writing -------------------------------------------------------------------------------

    /** The normal form: every field, defaults filled in; parsing it gives this config back. */
    public ObjectNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode o = f.objectNode();
        o.put("name", name);
        ObjectNode m = o.putObject("models");
        switch (models) {
            case DemoModels d -> {
                m.put("demo", d.plan());
                m.put("work", d.work().toString());
            }
            case FolderModels fm -> {
                m.put("policy", fm.policy().toString());
                m.put("reward_model", fm.rewardModel().toString());
                m.put("data", fm.data());
            }
        }
        ArrayNode ms = o.putArray("methods");
        methods.forEach(ms::add);
        ArrayNode ss = o.putArray("seeds");
        seeds.forEach(ss::add);
        o.put("steps", steps);
        if (sweep == null || !sweep.parameter().equals("beta")) o.put("beta", beta);
        o.put("checkpoint_every", checkpointEvery);
        ObjectNode p = o.putObject("ppo");
        p.put("batch", ppo.batchSize());
        p.put("minibatch", ppo.miniBatchSize());
        p.put("ppo_epochs", ppo.ppoEpochs());
        p.put("lr", ppo.learningRate());
        p.put("kl_init", ppo.initKlCoef());
        p.put("adaptive_kl", ppo.adaptiveKl());
        p.put("kl_target", ppo.klTarget());
        p.put("kl_horizon", ppo.klHorizon());
        p.put("prompt_min", ppo.promptMin());
        p.put("prompt_max", ppo.promptMax());
        if (sweep == null || !sweep.parameter().equals("gen_length")) {
            p.put("gen_min", ppo.genMin());
            p.put("gen_max", ppo.genMax());
        }
        if (sweep != null) {
            ObjectNode s = o.putObject("sweep");
            s.put("parameter", sweep.parameter());
            ArrayNode values = s.putArray("values");
            for (Point pt : sweep.points()) {
                if (sweep.parameter().equals("beta")) values.add(pt.beta());
                else values.addArray().add(pt.genMin()).add(pt.genMax());
            }
        }
        return o;
    }

    /** A number as short as it reads: 0.5, 1, 0.25. */
    static String plain(double v) {
        return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }

    /** One JSON object's fields, read by name with errors that say where: "FILE: field 'ppo.batch' ...". */
    private static final class Fields {
        final JsonNode node;
        final String path, source;

        Fields(JsonNode node, String path, String source) {
            this.node = node;
            this.path = path;
            this.source = source;
            if (!node.isObject()) {
                throw new IllegalArgumentException(source + ": " + (path.isEmpty() ? "the config" : "field '" + path + "'") + " must be a JSON object");
            }
        }

        IllegalArgumentException bad(String field, String message) {
            return new IllegalArgumentException(source + ": field '" + path + field + "' " + message);
        }

        boolean has(String field) {
            return node.has(field);
        }

        void allow(String... fields) {
            Set<String> known = new LinkedHashSet<>(List.of(fields));
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!known.contains(f)) {
                    throw new IllegalArgumentException(source + ": unknown field '" + path + StrictJson.abbreviate(f) + "' (expected "
                            + (path.isEmpty() ? "" : "in '" + path.substring(0, path.length() - 1) + "' ") + "one of: " + String.join(", ", known) + ")");
                }
            }
        }

        private JsonNode get(String field) {
            JsonNode v = node.get(field);
            if (v == null || v.isNull()) throw bad(field, "is missing");
            return v;
        }

        Fields object(String field) {
            JsonNode v = get(field);
            if (!v.isObject()) throw bad(field, "must be a JSON object, got " + StrictJson.abbreviate(v));
            return new Fields(v, path + field + ".", source);
        }

        JsonNode array(String field, boolean mayBeEmpty) {
            JsonNode v = get(field);
            if (!v.isArray()) throw bad(field, "must be a JSON array, got " + StrictJson.abbreviate(v));
            if (!mayBeEmpty && v.isEmpty()) throw bad(field, "must not be empty");
            return v;
        }

        String text(String field, String fallback) {
            if (fallback != null && !node.has(field)) return fallback;
            JsonNode v = get(field);
            if (!v.isTextual()) throw bad(field, "must be a string, got " + StrictJson.abbreviate(v));
            return v.asText();
        }

        int integer(String field, Integer fallback, int min) {
            if (fallback != null && !node.has(field)) return fallback;
            JsonNode v = get(field);
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min) {
                throw bad(field, "must be an integer >= " + min + ", got " + StrictJson.abbreviate(v));
            }
            return v.asInt();
        }

        double number(String field, double fallback) {
            if (!node.has(field)) return fallback;
            JsonNode v = get(field);
            if (!v.isNumber()) throw bad(field, "must be a number, got " + StrictJson.abbreviate(v));
            return v.asDouble();
        }

        boolean bool(String field, boolean fallback) {
            if (!node.has(field)) return fallback;
            JsonNode v = get(field);
            if (!v.isBoolean()) throw bad(field, "must be true or false, got " + StrictJson.abbreviate(v));
            return v.asBoolean();
        }
    }
}
