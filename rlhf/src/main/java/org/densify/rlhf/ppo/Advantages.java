package org.densify.rlhf.ppo;

/**
 * Generalised advantage estimation over each sequence's completion tokens, and the batch whitening
 * TRL applies to the result.
 */
public final class Advantages {
    private Advantages() {}

    /** Advantages and returns of one batch, per sequence, per completion token. */
    public record Result(double[][] advantages, double[][] returns) {}

    /**
     * GAE per sequence: {@code delta_t = r_t + gamma V_{t+1} - V_t} with {@code V_N = 0} after the last
     * token, {@code A_t = delta_t + gamma lambda A_{t+1}}, returns {@code A_t + V_t} (before
     * whitening); then the advantages are whitened over every token of the batch.
     */
    public static Result compute(double[][] rewards, double[][] values, double gamma, double lambda) {
        int S = rewards.length;
        double[][] adv = new double[S][], ret = new double[S][];
        for (int s = 0; s < S; s++) {
            int N = rewards[s].length;
            if (values[s].length != N) throw new IllegalArgumentException("sequence " + s + ": " + N + " rewards but " + values[s].length + " values");
            adv[s] = new double[N];
            ret[s] = new double[N];
            double last = 0;
            for (int t = N - 1; t >= 0; t--) {
                double next = t + 1 < N ? values[s][t + 1] : 0;
                double delta = rewards[s][t] + gamma * next - values[s][t];
                last = delta + gamma * lambda * last;
                adv[s][t] = last;
                ret[s][t] = last + values[s][t];
            }
        }
        whiten(adv);
        return new Result(adv, ret);
    }

    /**
     * In place: {@code (x - mean) / sqrt(var + 1e-8)} over all entries, with the unbiased variance
     * (TRL's {@code masked_whiten}, shift_mean true).
     */
    public static void whiten(double[][] x) {
        long n = 0;
        double sum = 0;
        for (double[] row : x) for (double v : row) { sum += v; n++; }
        if (n < 2) throw new IllegalArgumentException("whitening needs at least 2 tokens in the batch, got " + n);
        double mean = sum / n, squares = 0;
        for (double[] row : x) for (double v : row) squares += (v - mean) * (v - mean);
        double variance = squares / n * n / (n - 1);
        double scale = 1 / Math.sqrt(variance + 1e-8);
        for (double[] row : x) for (int i = 0; i < row.length; i++) row[i] = (row[i] - mean) * scale;
    }
}
