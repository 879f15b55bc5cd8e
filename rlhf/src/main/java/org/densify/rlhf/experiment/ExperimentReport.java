package org.densify.rlhf.experiment;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.densify.loaders.io.AtomicFiles;
import org.densify.core.model.ModelShape;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.experiment.ExperimentConfig.Cell;
import org.densify.rlhf.experiment.ExperimentStats.Group;
import org.densify.rlhf.ppo.PpoConfig;
import org.densify.rlhf.reward.RewardModelTrainer;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.DeviationRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * A study's outputs: {@code summary.csv} (per group and step: mean and std over seeds of the batch
 * mean reward, mean KL, mean completion length), {@code runs.csv} (per run: final and mean reward,
 * final KL, start / end / peak reward and start / end length), {@code reward.png} (mean curve with a
 * ±1 std band per group), {@code kl_reward.png} (final KL against final reward, one point per run),
 * {@code length.png} (mean completion length per group) and {@code report.md} (settings, the table,
 * the paper's numbers, the stability table and the plain comparisons the numbers support).
 */
public final class ExperimentReport {

    /**
     * How this invocation ran: backend, cells at once, threads per cell, cells run and skipped, wall
     * seconds; and the wall seconds of every invocation on the folder (this one included), so that a
     * study resumed after a crash still reports the time it took.
     */
    public record Execution(String backend, int parallel, int threadsPerRun, int ran, int skipped, double seconds,
                            int invocations, double secondsOfAllInvocations) {
        /** The only invocation. */
        public Execution(String backend, int parallel, int threadsPerRun, int ran, int skipped, double seconds) {
            this(backend, parallel, threadsPerRun, ran, skipped, seconds, 1, seconds);
        }
    }

    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0x9467bd),
            new Color(0xff7f0e), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf)};

    private final ExperimentConfig config;
    private final List<Group> groups;
    private final String modelDescription;
    private final Execution execution;
    /** Each group's first cell: its method, sweep point and PPO settings. */
    private final Map<String, Cell> cellOf = new LinkedHashMap<>();

    public ExperimentReport(ExperimentConfig config, List<Group> groups, String modelDescription, Execution execution) {
        this.config = config;
        this.groups = groups;
        this.modelDescription = modelDescription;
        this.execution = execution;
        for (Cell c : config.cells(Path.of("."))) cellOf.putIfAbsent(c.group(), c);
    }

    public void write(Path dir) throws IOException {
        AtomicFiles.write(dir.resolve("summary.csv"), summaryCsv().getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("runs.csv"), runsCsv().getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("reward.png"), rewardChart());
        AtomicFiles.write(dir.resolve("kl_reward.png"), klRewardChart());
        AtomicFiles.write(dir.resolve("length.png"), lengthChart());
        AtomicFiles.write(dir.resolve("report.md"), markdown().getBytes(StandardCharsets.UTF_8));
    }

    // ---- CSV -----------------------------------------------------------------------------------

    /**
     * group, method, sweep value, step, seeds, then over seeds: the mean and std of the batch mean
     * reward, the mean KL and the mean completion length.
     */
    String summaryCsv() {
        StringBuilder b = new StringBuilder("group,method,sweep,step,seeds,reward_mean,reward_std,kl_mean,length_mean\n");
        for (Group g : groups) {
            Cell c = cellOf.get(g.name());
            for (int s = 0; s < g.steps(); s++) {
                b.append(String.format(Locale.ROOT, "%s,%s,%s,%d,%d,%.8g,%.8g,%.8g,%.8g%n", g.name(), c.method(), c.point() == null ? "" : c.point().label(),
                        s + 1, g.runs().size(), g.rewardMean()[s], g.rewardStd()[s], g.klMean()[s], g.lengthMean()[s]));
            }
        }
        return b.toString();
    }

    /**
     * One line per run: its reward and KL at the last step, its mean reward over all steps, and the
     * mean reward of its first and last window of steps and of its best window (see {@link ExperimentStats#window}).
     */
    String runsCsv() {
        StringBuilder b = new StringBuilder("group,seed,final_reward,mean_reward,final_kl,start_reward,end_reward,peak_reward,start_length,end_length\n");
        for (Group g : groups) {
            for (ExperimentStats.RunCurve r : g.runs()) {
                b.append(String.format(Locale.ROOT, "%s,%d,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g%n", g.name(), r.seed(), r.reward()[r.steps() - 1],
                        r.meanReward(), r.kl()[r.steps() - 1], r.startReward(), r.endReward(), r.peakReward(), r.startLength(), r.endLength()));
            }
        }
        return b.toString();
    }

    // ---- the table -----------------------------------------------------------------------------

    /** The sparse group a group is compared with: the one at the same sweep value, else the unswept one; null if none. */
    Group reference(Group g) {
        Cell c = cellOf.get(g.name());
        String sparse = Credit.Sparse.METHOD.name();
        String name = c.point() != null && config.sweepApplies(sparse) ? sparse + "-" + c.point().label() : sparse;
        return groups.stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
    }

    /** The step column: the first step above the reference's best, "never", or for a reference itself the step of its best. */
    String firstAbove(Group g) {
        Group ref = reference(g);
        if (ref == null) return "—";
        if (ref == g) return "best " + fmt(g.best()) + " at step " + g.bestStep();
        int step = ExperimentStats.firstStepAbove(g.rewardMean(), ref.best());
        return step < 0 ? "never" : Integer.toString(step);
    }

    public String table() {
        int n = config.steps();
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "| group | seeds | reward at step %d (mean ± std) | mean reward, steps 1-%d (± 2 SE) "
                + "| first step above sparse's best | KL at step %d (mean) | paper (GPT-2 124M): step 100 / mean / first step |%n", n, n, n));
        b.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
        for (Group g : groups) {
            double[] fin = g.finalRewards(), means = g.meanRewards();
            boolean spread = g.runs().size() >= 2; // one seed has no spread to show
            b.append(String.format(Locale.ROOT, "| %s | %d | %s ± %s | %s ± %s | %s | %s | %s |%n", g.name(), g.runs().size(),
                    fmt(ExperimentStats.mean(fin)), spread ? fmt(ExperimentStats.std(fin)) : "—", fmt(ExperimentStats.mean(means)),
                    spread ? fmt(2 * ExperimentStats.standardError(means)) : "—", firstAbove(g), fmt(ExperimentStats.mean(g.finalKls())), paper(g)));
        }
        return b.toString().stripTrailing();
    }

    /**
     * Per group: how many runs end below where they began, how far runs fall from their best
     * window, and the completion length at the start and the end (a run that learns to stop early,
     * or to ramble, shows there).
     */
    public String stabilityTable() {
        int w = ExperimentStats.window(config.steps());
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "| group | runs ending below their start | start → end reward (mean of %d steps; mean over seeds) "
                + "| fall from the best %d steps to the last %d (mean; largest, seed) | completion length, first → last %d steps |%n", w, w, w, w));
        b.append("| --- | ---: | ---: | ---: | ---: |\n");
        for (Group g : groups) {
            List<ExperimentStats.RunCurve> runs = g.runs();
            List<String> below = runs.stream().filter(ExperimentStats.RunCurve::endsBelowStart).map(r -> "seed " + r.seed()).toList();
            double[] fall = runs.stream().mapToDouble(r -> r.peakReward() - r.endReward()).toArray();
            int worst = 0;
            for (int i = 1; i < fall.length; i++) if (fall[i] > fall[worst]) worst = i;
            b.append(String.format(Locale.ROOT, "| %s | %d of %d%s | %s → %s | %s; %s (seed %d) | %s → %s |%n", g.name(), below.size(), runs.size(),
                    below.isEmpty() ? "" : " (" + String.join(", ", below) + ")",
                    fmt(ExperimentStats.mean(runs.stream().mapToDouble(ExperimentStats.RunCurve::startReward).toArray())),
                    fmt(ExperimentStats.mean(runs.stream().mapToDouble(ExperimentStats.RunCurve::endReward).toArray())),
                    fmt(ExperimentStats.mean(fall)), fmt(fall[worst]), runs.get(worst).seed(),
                    fmtLength(ExperimentStats.mean(runs.stream().mapToDouble(ExperimentStats.RunCurve::startLength).toArray())),
                    fmtLength(ExperimentStats.mean(runs.stream().mapToDouble(ExperimentStats.RunCurve::endLength).toArray()))));
        }
        return b.toString().stripTrailing();
    }

    private static String fmtLength(double tokens) {
        return String.format(Locale.ROOT, "%.1f", tokens);
    }

    /** The paper's figures for a group run in the paper's setting (prompts 2-8, completions 8-16 tokens), else a dash. */
    String paper(Group g) {
        Cell c = cellOf.get(g.name());
        PpoConfig p = c.ppo();
        if (p.promptMin() != 2 || p.promptMax() != 8 || p.genMin() != 8 || p.genMax() != 16) return "—";
        boolean betaSweep = config.sweep() != null && config.sweep().parameter().equals(Credit.BETA);
        double beta = betaSweep ? c.point().beta() : config.beta();
        return c.credit().method().paper().at(beta, betaSweep);
    }

    // ---- the report ----------------------------------------------------------------------------

    String markdown() throws IOException {
        StringBuilder b = new StringBuilder();
        b.append("# Experiment: ").append(config.name()).append("\n\n");
        b.append("## Settings\n\n");
        b.append("- Models: ").append(modelDescription).append(".\n");
        b.append("- Policy: ").append(describe(true)).append("\n");
        b.append("- Reward model: ").append(describe(false)).append("\n");
        PpoConfig p = config.ppo();
        String lengths = config.sweep() != null && config.sweep().parameter().equals("gen_length")
                ? "new tokens per completion swept over " + String.join(", ", config.sweep().points().stream().map(pt -> pt.genMin() + "-" + pt.genMax()).toList())
                : p.genMin() + "-" + p.genMax() + " new tokens per completion";
        b.append(String.format(Locale.ROOT, "- PPO: %d steps per run, batch %d, minibatch %d, %d epochs, learning rate %s, KL coefficient %s (%s), "
                        + "prompts of %d-%d tokens, %s.%n", config.steps(), p.batchSize(), p.miniBatchSize(), p.ppoEpochs(), ExperimentConfig.plain(p.learningRate()),
                ExperimentConfig.plain(p.initKlCoef()), p.adaptiveKl() ? "adaptive, target " + ExperimentConfig.plain(p.klTarget()) + ", horizon "
                        + ExperimentConfig.plain(p.klHorizon()) : "fixed", p.promptMin(), p.promptMax(), lengths));
        String credit = config.sweep() != null && config.sweep().parameter().equals("beta")
                ? "beta swept over " + String.join(", ", config.sweep().points().stream().map(pt -> ExperimentConfig.plain(pt.beta())).toList())
                : "beta " + ExperimentConfig.plain(config.beta());
        b.append("- Credit methods: ").append(String.join(", ", config.methods())).append(" (").append(credit).append(" for the attention methods).\n");
        b.append("- Seeds: ").append(String.join(", ", config.seeds().stream().map(String::valueOf).toList()))
                .append(String.format(Locale.ROOT, " (%d per group; %d groups, %d runs).%n", config.seeds().size(), groups.size(),
                        groups.stream().mapToInt(g -> g.runs().size()).sum()));
        double ppoSeconds = groups.stream().flatMap(g -> g.runs().stream()).mapToDouble(ExperimentStats.RunCurve::seconds).sum();
        long stepCount = groups.stream().mapToLong(g -> (long) g.runs().size() * g.steps()).sum();
        String allInvocations = execution.invocations() < 2 ? "" : String.format(Locale.ROOT, "; of all %d invocations on this folder (%s): %s",
                execution.invocations(), Experiment.INVOCATIONS_FILE, duration(execution.secondsOfAllInvocations()));
        b.append(String.format(Locale.ROOT, "- Device %s, %d run%s at a time with %d thread%s each. Wall time of this invocation: %s (%d runs run or resumed, "
                        + "%d finished before)%s. PPO time summed over all runs: %s, %.2f s per step.%n", execution.backend(), execution.parallel(),
                execution.parallel() == 1 ? "" : "s", execution.threadsPerRun(), execution.threadsPerRun() == 1 ? "" : "s", duration(execution.seconds()),
                execution.ran(), execution.skipped(), allInvocations, duration(ppoSeconds), ppoSeconds / Math.max(1, stepCount)));
        b.append("- The reward is the batch mean of the reward model's score at each step. \"mean ± std\" is over seeds; \"2 SE\" is twice the "
                + "standard error over seeds (std / sqrt(seeds)) of each run's mean over all steps. The first-step column uses the "
                + "seed-averaged curve and compares it with the best seed-averaged batch mean of sparse")
                .append(config.sweep() != null && config.sweepApplies(Credit.Sparse.METHOD.name()) ? " at the same sweep value" : "").append(".\n");
        b.append('\n');

        b.append("## Results\n\n").append(table()).append("\n\n");
        b.append("![reward against step](reward.png)\n\n![final KL against final reward](kl_reward.png)\n\n");
        int w = ExperimentStats.window(config.steps());
        b.append("## Stability\n\n");
        b.append(String.format(Locale.ROOT, "Each run's start, end and best are the mean reward of its first %d steps, its last %d steps and its best %d "
                + "consecutive steps. A run that ends below its start has lost more than it learnt: the plainest sign of a collapse.%n%n", w, w, w));
        b.append(stabilityTable()).append("\n\n");
        b.append("![completion length against step](length.png)\n\n");
        b.append("## Comparisons\n\n");
        for (String fact : facts()) b.append("- ").append(fact).append('\n');
        b.append('\n');
        b.append("## Scale\n\n");
        b.append("The paper's numbers (Chan et al. 2024, IMDb: GPT-2 124M policy `gpt2-imdb` and reward model `gpt2-rm-imdb`, batch 16, 10 seeds; ")
                .append("sparse's best batch mean 9.44 at step 89) are given beside ours where the setting matches. Our scale differs: ");
        if (config.models() instanceof ExperimentConfig.DemoModels) {
            b.append("our reward model and policy are small models trained here (sizes above), so their reward values are not on the paper's scale");
        } else {
            b.append("these runs used the models listed above, not necessarily the paper's, so their reward values need not be on the paper's scale");
        }
        b.append(", and our runs last ").append(config.steps()).append(" steps with ").append(config.seeds().size()).append(config.seeds().size() == 1 ? " seed" : " seeds").append(" per group.\n");
        return b.toString();
    }

    /** The comparisons the numbers support, stated without interpretation. */
    List<String> facts() {
        List<String> facts = new ArrayList<>();
        int n = config.steps();
        if (groups.size() < 2) {
            facts.add("Only one group: nothing to compare.");
            return facts;
        }
        boolean spread = config.seeds().size() >= 2;
        if (!spread) facts.add("One seed per group: there are no standard errors, so no difference is tested against them.");
        facts.add(highest("mean reward over steps 1-" + n, Group::meanRewards, spread));
        facts.add(highest("reward at step " + n, Group::finalRewards, spread));
        for (Group g : groups) {
            Group ref = reference(g);
            if (ref == null || ref == g) continue;
            double d = ExperimentStats.mean(g.meanRewards()) - ExperimentStats.mean(ref.meanRewards());
            double se2 = ExperimentStats.twoStandardErrorsOfDifference(g.meanRewards(), ref.meanRewards());
            facts.add(String.format(Locale.ROOT, "%s minus %s, mean reward over steps 1-%d: %s%s", g.name(), ref.name(), n, signed(d),
                    spread ? String.format(Locale.ROOT, " (2 standard errors of the difference: %s; %s)", fmt(se2), Math.abs(d) > se2 ? "exceeds them" : "does not exceed them") : "") + ".");
        }
        return facts;
    }

    private String highest(String what, java.util.function.Function<Group, double[]> values, boolean spread) {
        List<Group> sorted = new ArrayList<>(groups);
        sorted.sort(Comparator.comparingDouble((Group g) -> ExperimentStats.mean(values.apply(g))).reversed());
        Group top = sorted.get(0), next = sorted.get(1);
        double a = ExperimentStats.mean(values.apply(top)), c = ExperimentStats.mean(values.apply(next));
        String s = String.format(Locale.ROOT, "Highest %s: %s (%s); next: %s (%s); difference %s", what, top.name(), fmt(a), next.name(), fmt(c), fmt(a - c));
        if (!spread) return s + ".";
        double se2 = ExperimentStats.twoStandardErrorsOfDifference(values.apply(top), values.apply(next));
        return s + String.format(Locale.ROOT, ", %s than 2 standard errors of the difference (%s).", a - c > se2 ? "larger" : "not larger", fmt(se2));
    }

    /** "GPT-2, 4 layers, d_model 128, ..." (or "Llama, ...") from the model folder's config.json. */
    private String describe(boolean policy) throws IOException {
        Path model = switch (config.models()) {
            case ExperimentConfig.DemoModels d -> policy ? d.work().resolve("policy").resolve("model") : d.work().resolve("reward-model");
            case ExperimentConfig.FolderModels f -> policy ? f.policy() : f.rewardModel();
        };
        ModelShape c = ModelShape.read(model);
        String text = String.format(Locale.ROOT, "%s, %d layers, d_model %d, %d heads, vocabulary %,d, context %d, %,d parameters in the trunk (%s).",
                c.familyName(), c.layers(), c.hiddenSize(), c.heads(), c.vocabSize(), c.maxSequenceLength(), c.bodyParameters(), model);
        double accuracy = policy ? Double.NaN : RewardModelTrainer.heldOutAccuracy(model);
        if (!Double.isNaN(accuracy)) {
            text += String.format(Locale.ROOT, " Held-out accuracy %.1f %% (from its %s): the runs can separate the credit methods no "
                    + "better than this reward model separates reviews.", 100 * accuracy, RewardModelTrainer.SUMMARY);
        }
        return text;
    }

    // ---- charts --------------------------------------------------------------------------------

    /** Reward against step: each group's seed mean with a ±1 std band. */
    byte[] rewardChart() throws IOException {
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        for (Group g : groups) {
            YIntervalSeries s = new YIntervalSeries(g.name());
            for (int i = 0; i < g.steps(); i++) s.add(i + 1, g.rewardMean()[i], g.rewardMean()[i] - g.rewardStd()[i], g.rewardMean()[i] + g.rewardStd()[i]);
            data.addSeries(s);
        }
        DeviationRenderer renderer = new DeviationRenderer(true, false);
        renderer.setAlpha(0.18f);
        for (int i = 0; i < groups.size(); i++) {
            Color c = PALETTE[i % PALETTE.length];
            renderer.setSeriesPaint(i, c);
            renderer.setSeriesFillPaint(i, c);
            renderer.setSeriesStroke(i, new BasicStroke(2f));
        }
        NumberAxis x = new NumberAxis("PPO step");
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("batch mean reward (mean ± 1 std over " + config.seeds().size() + " seeds)");
        y.setAutoRangeIncludesZero(false);
        return png(new XYPlot(data, x, y, renderer), config.name() + ": reward against PPO step");
    }

    /** Mean completion length against step, one line per group (mean over seeds). */
    byte[] lengthChart() throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Group g : groups) {
            XYSeries s = new XYSeries(g.name());
            for (int i = 0; i < g.steps(); i++) s.add(i + 1, g.lengthMean()[i]);
            data.addSeries(s);
        }
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < groups.size(); i++) {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            renderer.setSeriesStroke(i, new BasicStroke(2f));
        }
        NumberAxis x = new NumberAxis("PPO step");
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("mean completion length, tokens (mean over " + config.seeds().size() + " seeds)");
        return png(new XYPlot(data, x, y, renderer), config.name() + ": completion length against PPO step");
    }

    /** Final KL against final reward, one point per run, coloured by group. */
    byte[] klRewardChart() throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Group g : groups) {
            XYSeries s = new XYSeries(g.name());
            for (ExperimentStats.RunCurve r : g.runs()) s.add(r.kl()[r.steps() - 1], r.reward()[r.steps() - 1]);
            data.addSeries(s);
        }
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(false, true);
        for (int i = 0; i < groups.size(); i++) renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        NumberAxis x = new NumberAxis("KL at step " + config.steps());
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("batch mean reward at step " + config.steps());
        y.setAutoRangeIncludesZero(false);
        return png(new XYPlot(data, x, y, renderer), config.name() + ": final KL and final reward, one point per run");
    }

    private static byte[] png(XYPlot plot, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ChartUtils.writeChartAsPNG(png, chart, 900, 540);
        return png.toByteArray();
    }

    // ---- formatting ----------------------------------------------------------------------------

    /** Four significant digits: the demo's rewards are of order 1, a barely trained model's of order 0.01. */
    static String fmt(double v) {
        return String.format(Locale.ROOT, "%.4g", v);
    }

    static String signed(double v) {
        return String.format(Locale.ROOT, "%+.4g", v);
    }

    static String duration(double seconds) {
        if (seconds < 120) return String.format(Locale.ROOT, "%.0f s", seconds);
        if (seconds < 7200) return String.format(Locale.ROOT, "%.1f min", seconds / 60);
        return String.format(Locale.ROOT, "%.1f h", seconds / 3600);
    }
}
