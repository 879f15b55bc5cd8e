package org.densify.rlhf.pretrain;

import org.densify.core.model.FreshModel;
import org.densify.loaders.model.ModelFamily;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hyper-parameters of a pre-training run, as the command-line options give them. Everything
 * but the reporting cadence ({@code eval_every}, {@code checkpoint_every}) fixes the run's
 * trajectory, so a resumed run must match those exactly.
 */
public record PretrainSettings(int layers, int dModel, int heads, int context, int steps, int batchTokens, double lr, int warmup,
                               double minLrRatio, double weightDecay, double gradClip, int evalEvery, int evalTokens,
                               int checkpointEvery, long seed) {

    /**
     * The {@code pretrain} command's defaults, the one place they are written: 4 blocks of width 128
     * with 4 heads over 128 positions, 2,400 steps of 512 tokens, a peak learning rate of 3e-3 after 50
     * warm-up steps and a cosine to a tenth of it, weight decay 0.1, gradient clip 1, evaluation of
     * 16,384 held-out tokens every 200 steps, a checkpoint every 400, seed 0.
     */
    public static PretrainSettings defaults() {
        return new PretrainSettings(4, 128, 4, 128, 2400, 512, 3e-3, 50, 0.1, 0.1, 1.0, 200, 16384, 400, 0);
    }

    /** A builder that starts from these settings: the one way to change some of them. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Settings changed one by one from a starting {@link PretrainSettings}; {@link #build()} makes the record. */
    public static final class Builder {
        private int layers;
        private int dModel;
        private int heads;
        private int context;
        private int steps;
        private int batchTokens;
        private double lr;
        private int warmup;
        private double minLrRatio;
        private double weightDecay;
        private double gradClip;
        private int evalEvery;
        private int evalTokens;
        private int checkpointEvery;
        private long seed;

        private Builder(PretrainSettings s) {
            layers = s.layers;
            dModel = s.dModel;
            heads = s.heads;
            context = s.context;
            steps = s.steps;
            batchTokens = s.batchTokens;
            lr = s.lr;
            warmup = s.warmup;
            minLrRatio = s.minLrRatio;
            weightDecay = s.weightDecay;
            gradClip = s.gradClip;
            evalEvery = s.evalEvery;
            evalTokens = s.evalTokens;
            checkpointEvery = s.checkpointEvery;
            seed = s.seed;
        }

        public Builder layers(int v) {
            layers = v;
            return this;
        }

        public Builder dModel(int v) {
            dModel = v;
            return this;
        }

        public Builder heads(int v) {
            heads = v;
            return this;
        }

        public Builder context(int v) {
            context = v;
            return this;
        }

        public Builder steps(int v) {
            steps = v;
            return this;
        }

        public Builder batchTokens(int v) {
            batchTokens = v;
            return this;
        }

        public Builder lr(double v) {
            lr = v;
            return this;
        }

        public Builder warmup(int v) {
            warmup = v;
            return this;
        }

        public Builder minLrRatio(double v) {
            minLrRatio = v;
            return this;
        }

        public Builder weightDecay(double v) {
            weightDecay = v;
            return this;
        }

        public Builder gradClip(double v) {
            gradClip = v;
            return this;
        }

        public Builder evalEvery(int v) {
            evalEvery = v;
            return this;
        }

        public Builder evalTokens(int v) {
            evalTokens = v;
            return this;
        }

        public Builder checkpointEvery(int v) {
            checkpointEvery = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public PretrainSettings build() {
            return new PretrainSettings(layers, dModel, heads, context, steps, batchTokens, lr, warmup, minLrRatio, weightDecay, gradClip,
                    evalEvery, evalTokens, checkpointEvery, seed);
        }
    }

    /** Context windows per step: {@code batch_tokens / context}, at least 1. */
    public int windows() {
        return Math.max(1, batchTokens / context);
    }

    /** A model of {@code family} with these sizes and the family's defaults for the rest ({@link FreshModel#of}). */
    public FreshModel freshModel(ModelFamily family, int vocabSize) {
        return FreshModel.of(family, vocabSize, context, dModel, layers, heads, null, null, null, null);
    }

    /** Each problem as one line naming the option; empty when every value is usable. */
    public List<String> problems() {
        List<String> p = new ArrayList<>();
        if (layers < 1) p.add("--layers must be >= 1, got " + layers);
        if (dModel < 1) p.add("--d-model must be >= 1, got " + dModel);
        if (heads < 1 || dModel % Math.max(heads, 1) != 0) p.add("--heads must divide --d-model " + dModel + ", got " + heads);
        if (context < 2) p.add("--context must be >= 2 (one token to read, one to predict), got " + context);
        if (steps < 1) p.add("--steps must be >= 1, got " + steps);
        if (batchTokens < context) p.add("--batch-tokens " + batchTokens + " must hold at least one window of --context " + context);
        String lrProblem = org.densify.rlhf.run.TrainingChecks.learningRateProblem("--lr", lr);
        if (lrProblem != null) p.add(lrProblem);
        if (warmup < 0) p.add("--warmup must be >= 0, got " + warmup);
        if (!(minLrRatio >= 0 && minLrRatio <= 1)) p.add("--min-lr-ratio must be in [0, 1], got " + minLrRatio);
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) p.add("--weight-decay must be >= 0, got " + weightDecay);
        if (!(gradClip >= 0) || Double.isInfinite(gradClip)) p.add("--grad-clip must be >= 0 (0 = off), got " + gradClip);
        if (evalEvery < 0) p.add("--eval-every must be >= 0 (0 = only at the end), got " + evalEvery);
        if (evalTokens < context) p.add("--eval-tokens " + evalTokens + " must hold at least one window of --context " + context);
        if (checkpointEvery < 0) p.add("--checkpoint-every must be >= 0 (0 = only at the end), got " + checkpointEvery);
        return p;
    }

    /** Option name to value, in option order: what state.json records. */
    public Map<String, Object> asOptions() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("layers", layers);
        m.put("d-model", dModel);
        m.put("heads", heads);
        m.put("context", context);
        m.put("steps", steps);
        m.put("batch-tokens", batchTokens);
        m.put("lr", lr);
        m.put("warmup", warmup);
        m.put("min-lr-ratio", minLrRatio);
        m.put("weight-decay", weightDecay);
        m.put("grad-clip", gradClip);
        m.put("eval-every", evalEvery);
        m.put("eval-tokens", evalTokens);
        m.put("checkpoint-every", checkpointEvery);
        m.put("seed", seed);
        return m;
    }

    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        asOptions().forEach((k, v) -> {
            if (v instanceof Double d) o.put(k, d);
            else if (v instanceof Long l) o.put(k, l);
            else o.put(k, (Integer) v);
        });
        return o;
    }

    /** Reads {@link #toJson()}'s form; a missing or mistyped field throws IllegalArgumentException naming it. */
    public static PretrainSettings fromJson(JsonNode o) {
        return new PretrainSettings(integer(o, "layers"), integer(o, "d-model"), integer(o, "heads"), integer(o, "context"),
                integer(o, "steps"), integer(o, "batch-tokens"), number(o, "lr"), integer(o, "warmup"),
                number(o, "min-lr-ratio"), number(o, "weight-decay"), number(o, "grad-clip"), integer(o, "eval-every"),
                integer(o, "eval-tokens"), integer(o, "checkpoint-every"), longValue(o, "seed"));
    }

    /**
     * The options whose values in {@code now} differ from this checkpoint's and that fix the trajectory (all but the
     * reporting cadence), as "--name A (checkpoint) vs B (now)".
     */
    public List<String> trajectoryDifferences(PretrainSettings now) {
        Map<String, Object> mine = asOptions(), theirs = now.asOptions();
        List<String> out = new ArrayList<>();
        for (var e : mine.entrySet()) {
            if (e.getKey().equals("eval-every") || e.getKey().equals("checkpoint-every")) continue;
            Object b = theirs.get(e.getKey());
            if (!e.getValue().equals(b)) out.add("--" + e.getKey() + " " + e.getValue() + " (checkpoint) vs " + b + " (now)");
        }
        return out;
    }

    private static JsonNode field(JsonNode o, String name) {
        JsonNode v = o.get(name);
        if (v == null || !v.isNumber()) throw new IllegalArgumentException("field '" + name + "' is missing or not a number");
        return v;
    }

    private static int integer(JsonNode o, String name) {
        JsonNode v = field(o, name);
        if (!v.canConvertToInt() || !v.isIntegralNumber()) throw new IllegalArgumentException("field '" + name + "' is not a 32-bit integer");
        return v.intValue();
    }

    private static long longValue(JsonNode o, String name) {
        JsonNode v = field(o, name);
        if (!v.canConvertToLong() || !v.isIntegralNumber()) throw new IllegalArgumentException("field '" + name + "' is not a 64-bit integer");
        return v.longValue();
    }

    private static double number(JsonNode o, String name) {
        return field(o, name).doubleValue();
    }
}
