package org.densify.rlhf.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.densify.loaders.io.AtomicFiles;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.ppo.PpoRun;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The demo's comparison of credit methods: a table (mean reward over all steps, final reward, the
 * first step at which each method's batch mean beats the best batch mean sparse reached, KL), the
 * per-step time split, a CSV of the reward curves, and a PNG chart of reward against step.
 */
public final class DemoReport {
    /** Steps averaged for the "final" reward: one batch mean is noisy. */
    static final int FINAL_WINDOW = 10;

    private final Map<String, List<PpoRun.StepRecord>> runs;

    public DemoReport(Map<String, List<PpoRun.StepRecord>> runs) {
        if (runs.isEmpty()) throw new IllegalArgumentException("no PPO run to report");
        this.runs = runs;
    }

    /** One row of the table. */
    public record Row(String method, double meanReward, double finalReward, double bestReward, int firstAboveSparseBest,
                      double finalKl, double secondsPerStep) {}

    public List<Row> rows() {
        List<PpoRun.StepRecord> sparse = runs.get(Credit.Sparse.METHOD.name());
        double sparseBest = sparse == null ? Double.NaN : sparse.stream().mapToDouble(PpoRun.StepRecord::rewardMean).max().orElse(Double.NaN);
        return runs.entrySet().stream().map(e -> {
            List<PpoRun.StepRecord> steps = e.getValue();
            double mean = steps.stream().mapToDouble(PpoRun.StepRecord::rewardMean).average().orElse(Double.NaN);
            int window = Math.min(FINAL_WINDOW, steps.size());
            double last = steps.subList(steps.size() - window, steps.size()).stream().mapToDouble(PpoRun.StepRecord::rewardMean).average().orElse(Double.NaN);
            double best = steps.stream().mapToDouble(PpoRun.StepRecord::rewardMean).max().orElse(Double.NaN);
            int first = -1;
            for (PpoRun.StepRecord s : steps) {
                // sparse itself: the step of its best; the others: the first step strictly above it
                if (e.getKey().equals(Credit.Sparse.METHOD.name()) ? s.rewardMean() >= sparseBest : s.rewardMean() > sparseBest) {
                    first = s.step();
                    break;
                }
            }
            double seconds = steps.stream().mapToDouble(PpoRun.StepRecord::seconds).average().orElse(Double.NaN);
            return new Row(e.getKey(), mean, last, best, first, steps.getLast().kl(), seconds);
        }).toList();
    }

    /** The table as Markdown. */
    public String table() {
        int steps = runs.values().iterator().next().size();
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "| credit | mean reward, steps 1-%d | final reward (last %d steps) | best batch | first step above sparse's best | final KL | s/step |%n",
                steps, Math.min(FINAL_WINDOW, steps)));
        b.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (Row r : rows()) {
            b.append(String.format(Locale.ROOT, "| %s | %.3f | %.3f | %.3f | %s | %.3f | %.2f |%n", r.method(), r.meanReward(), r.finalReward(),
                    r.bestReward(), r.firstAboveSparseBest() < 0 ? "never" : Integer.toString(r.firstAboveSparseBest()), r.finalKl(), r.secondsPerStep()));
        }
        return b.toString().stripTrailing();
    }

    /** Where a PPO step's time goes, averaged over every step of every run. */
    public String timings() {
        double gen = 0, reward = 0, ref = 0, update = 0, total = 0;
        int n = 0;
        for (List<PpoRun.StepRecord> steps : runs.values()) {
            for (PpoRun.StepRecord s : steps) {
                gen += s.generationSeconds();
                reward += s.rewardSeconds();
                ref += s.referenceSeconds();
                update += s.updateSeconds();
                total += s.seconds();
                n++;
            }
        }
        return String.format(Locale.ROOT, "PPO step, mean of %d: %.3f s = generation %.3f + reward %.3f + reference (and rollout) %.3f + update %.3f",
                n, total / n, gen / n, reward / n, ref / n, update / n);
    }

    /** step, then each method's batch mean reward and KL. */
    public void writeCsv(Path file) throws IOException {
        StringBuilder b = new StringBuilder("step");
        for (String m : runs.keySet()) b.append(',').append(m).append("_reward,").append(m).append("_kl");
        b.append('\n');
        int steps = runs.values().stream().mapToInt(List::size).max().orElse(0);
        for (int i = 0; i < steps; i++) {
            b.append(i + 1);
            for (List<PpoRun.StepRecord> s : runs.values()) {
                if (i < s.size()) b.append(String.format(Locale.ROOT, ",%.6f,%.6f", s.get(i).rewardMean(), s.get(i).kl()));
                else b.append(",,");
            }
            b.append('\n');
        }
        AtomicFiles.write(file, b.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** Reward against step: each method's batch means (thin) and their 5-step moving average (thick). */
    public void writeChart(Path file, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection data = new XYSeriesCollection();
        for (Map.Entry<String, List<PpoRun.StepRecord>> e : runs.entrySet()) {
            XYSeries smooth = new XYSeries(e.getKey() + " (5-step mean)");
            XYSeries raw = new XYSeries(e.getKey());
            List<PpoRun.StepRecord> s = e.getValue();
            for (int i = 0; i < s.size(); i++) {
                raw.add(s.get(i).step(), s.get(i).rewardMean());
                double sum = 0;
                int from = Math.max(0, i - 4);
                for (int j = from; j <= i; j++) sum += s.get(j).rewardMean();
                smooth.add(s.get(i).step(), sum / (i - from + 1));
            }
            data.addSeries(smooth);
            data.addSeries(raw);
        }
        NumberAxis x = new NumberAxis("PPO step");
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("mean reward of the batch");
        y.setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        Color[] palette = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0x9467bd), new Color(0xff7f0e)};
        for (int m = 0; m < runs.size(); m++) {
            Color c = palette[m % palette.length];
            renderer.setSeriesPaint(2 * m, c);
            renderer.setSeriesStroke(2 * m, new BasicStroke(2.5f));
            renderer.setSeriesPaint(2 * m + 1, new Color(c.getRed(), c.getGreen(), c.getBlue(), 90));
            renderer.setSeriesStroke(2 * m + 1, new BasicStroke(1f));
            renderer.setSeriesVisibleInLegend(2 * m + 1, false);
        }
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
        ChartUtils.writeChartAsPNG(png, chart, 900, 540);
        AtomicFiles.write(file, png.toByteArray());
    }
}
