package org.densify.rlhf.experiment;

import java.util.List;

/**
 * The numbers a study reports, over the seeds of each group: per step the mean and standard
 * deviation of the batch mean reward and the mean KL; per group the reward at the last step, the
 * mean over all steps (with two standard errors), and when the seed-averaged curve first beats a
 * threshold. Standard deviations are the sample ones (n - 1); with one seed they are 0.
 */
public final class ExperimentStats {
    private ExperimentStats() {
    }

    /**
     * One run's log.
     *
     * @param reward  batch mean reward per step: [steps], index i is step i + 1
     * @param kl      mean KL per step: [steps]
     * @param length  mean completion length (new tokens) per step: [steps]
     * @param seconds PPO time summed over its steps
     */
    public record RunCurve(String group, long seed, double[] reward, double[] kl, double[] length, double seconds) {
        public int steps() {
            return reward.length;
        }

        public double meanReward() {
            return mean(reward);
        }

        /** Mean reward of the first {@link #window} steps. */
        public double startReward() {
            return windowMean(reward, 0, window(steps()));
        }

        /** Mean reward of the last {@link #window} steps. */
        public double endReward() {
            return windowMean(reward, steps() - window(steps()), window(steps()));
        }

        /** The highest mean reward of any {@link #window} consecutive steps. */
        public double peakReward() {
            int w = window(steps());
            double peak = Double.NEGATIVE_INFINITY;
            for (int from = 0; from + w <= steps(); from++) peak = Math.max(peak, windowMean(reward, from, w));
            return peak;
        }

        /**
         * Whether the run ends below where it began: its last window's mean reward under its first's.
         * PPO that has learnt anything ends above its start, so this is the plainest sign of a run that
         * collapsed (the paper's sparse runs with long completions fell back below their start).
         */
        public boolean endsBelowStart() {
            return endReward() < startReward();
        }

        /** Mean completion length of the first {@link #window} steps. */
        public double startLength() {
            return windowMean(length, 0, window(steps()));
        }

        /** Mean completion length of the last {@link #window} steps. */
        public double endLength() {
            return windowMean(length, steps() - window(steps()), window(steps()));
        }
    }

    /**
     * The number of steps that a run's start, end and peak are averaged over: batch means jump from
     * step to step, so one step says little. A fifth of the run, at least 1 and at most 10 steps.
     */
    public static int window(int steps) {
        return Math.max(1, Math.min(10, steps / 5));
    }

    private static double windowMean(double[] v, int from, int w) {
        double sum = 0;
        for (int i = from; i < from + w; i++) sum += v[i];
        return sum / w;
    }

    /**
     * A group's runs reduced over seeds.
     *
     * @param rewardMean  per step: [steps], mean over seeds of the batch mean reward
     * @param rewardStd   per step: [steps], their standard deviation
     * @param klMean      per step: [steps], mean over seeds of the KL
     * @param lengthMean  per step: [steps], mean over seeds of the mean completion length
     * @param runs        the group's runs, in seed order
     */
    public record Group(String name, List<RunCurve> runs, double[] rewardMean, double[] rewardStd, double[] klMean, double[] lengthMean) {
        public int steps() {
            return rewardMean.length;
        }

        /** Each run's batch mean reward at the last step: [runs]. */
        public double[] finalRewards() {
            return runs.stream().mapToDouble(r -> r.reward()[r.steps() - 1]).toArray();
        }

        /** Each run's mean over all steps: [runs]. */
        public double[] meanRewards() {
            return runs.stream().mapToDouble(RunCurve::meanReward).toArray();
        }

        /** Each run's KL at the last step: [runs]. */
        public double[] finalKls() {
            return runs.stream().mapToDouble(r -> r.kl()[r.steps() - 1]).toArray();
        }

        /** The highest seed-averaged batch mean. */
        public double best() {
            double best = Double.NEGATIVE_INFINITY;
            for (double v : rewardMean) best = Math.max(best, v);
            return best;
        }

        /** The first step (1-based) at which the seed-averaged curve reaches {@link #best()}. */
        public int bestStep() {
            double best = best();
            for (int i = 0; i < rewardMean.length; i++) if (rewardMean[i] == best) return i + 1;
            throw new IllegalStateException("no step reaches the maximum");
        }
    }

    /** Reduces runs of equal length over seeds. */
    public static Group group(String name, List<RunCurve> runs) {
        if (runs.isEmpty()) throw new IllegalArgumentException(name + ": a group needs at least one run");
        int steps = runs.getFirst().steps();
        for (RunCurve r : runs) {
            if (r.steps() != steps || r.kl().length != steps || r.length().length != steps) {
                throw new IllegalArgumentException(name + ": seed " + r.seed() + " has " + r.steps() + " steps, seed " + runs.getFirst().seed() + " has " + steps);
            }
        }
        double[] mean = new double[steps], std = new double[steps], kl = new double[steps], length = new double[steps];
        double[] column = new double[runs.size()], klColumn = new double[runs.size()], lengthColumn = new double[runs.size()];
        for (int s = 0; s < steps; s++) {
            for (int r = 0; r < runs.size(); r++) {
                column[r] = runs.get(r).reward()[s];
                klColumn[r] = runs.get(r).kl()[s];
                lengthColumn[r] = runs.get(r).length()[s];
            }
            mean[s] = mean(column);
            std[s] = std(column);
            kl[s] = mean(klColumn);
            length[s] = mean(lengthColumn);
        }
        return new Group(name, List.copyOf(runs), mean, std, kl, length);
    }

    public static double mean(double[] v) {
        if (v.length == 0) throw new IllegalArgumentException("mean of nothing");
        double sum = 0;
        for (double x : v) sum += x;
        return sum / v.length;
    }

    /** Sample standard deviation (divides by n - 1); 0 for a single value. */
    public static double std(double[] v) {
        if (v.length < 2) return 0;
        double m = mean(v), sq = 0;
        for (double x : v) sq += (x - m) * (x - m);
        return Math.sqrt(sq / (v.length - 1));
    }

    /** Standard error of the mean: std / sqrt(n); 0 for a single value. */
    public static double standardError(double[] v) {
        return std(v) / Math.sqrt(v.length);
    }

    /** The first step (1-based) whose value is strictly above {@code threshold}, or -1 if none is. */
    public static int firstStepAbove(double[] curve, double threshold) {
        for (int i = 0; i < curve.length; i++) if (curve[i] > threshold) return i + 1;
        return -1;
    }

    /**
     * Whether two groups' means differ by more than twice the standard error of the difference,
     * {@code sqrt(se_a^2 + se_b^2)} (independent seeds).
     */
    public static double twoStandardErrorsOfDifference(double[] a, double[] b) {
        double sa = standardError(a), sb = standardError(b);
        return 2 * Math.sqrt(sa * sa + sb * sb);
    }
}
