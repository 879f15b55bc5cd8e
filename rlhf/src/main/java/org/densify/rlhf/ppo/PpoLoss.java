package org.densify.rlhf.ppo;

/**
 * TRL's PPO loss over one minibatch's completion tokens (all arrays [n], one entry per token), with
 * its gradient with respect to each token's new log-probability and value:
 *
 * <pre>
 * ratio    = exp(logp - logp_old)
 * pg_loss  = mean(max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps)))
 * vf_loss  = 0.5 mean(max((V - Ret)^2, (clip(V, V_old - eps_v, V_old + eps_v) - Ret)^2))
 * loss     = pg_loss + vf_coef vf_loss
 * </pre>
 *
 * Means run over every token of the minibatch. Gradients follow PyTorch's rules: {@code max} splits
 * the gradient evenly on a tie and {@code clamp} passes it inside its closed interval. If the mean
 * ratio exceeds {@code ratioThreshold} the loss and its gradient are zeroed, as TRL does.
 */
public final class PpoLoss {
    private PpoLoss() {}

    /** The loss, TRL's statistics for it, and the gradients [n]. */
    public record Result(double loss, double pgLoss, double vfLoss, double pgClipFraction, double vfClipFraction,
                         double approxKl, double policyKl, double ratioMean, boolean skipped,
                         float[] dLogProbs, float[] dValues) {}

    public static Result compute(float[] logProbs, float[] oldLogProbs, float[] values, float[] oldValues,
                                 double[] advantages, double[] returns, double clipRange, double valueClipRange,
                                 double vfCoef, double ratioThreshold) {
        int n = logProbs.length;
        if (n == 0) throw new IllegalArgumentException("a minibatch needs at least one completion token");
        float[] dLogProbs = new float[n], dValues = new float[n];
        double pg = 0, vf = 0, pgClipped = 0, vfClipped = 0, approxKl = 0, policyKl = 0, ratioSum = 0;
        for (int i = 0; i < n; i++) {
            double logRatio = (double) logProbs[i] - oldLogProbs[i];
            double ratio = Math.exp(logRatio);
            double a = advantages[i];
            double clippedRatio = Math.clamp(ratio, 1 - clipRange, 1 + clipRange);
            double pg1 = -a * ratio, pg2 = -a * clippedRatio;
            pg += Math.max(pg1, pg2);
            if (pg2 > pg1) pgClipped++;
            double ratioPasses = ratio >= 1 - clipRange && ratio <= 1 + clipRange ? 1 : 0;
            double dRatio = pg1 > pg2 ? -a : pg2 > pg1 ? -a * ratioPasses : 0.5 * (-a) + 0.5 * (-a * ratioPasses);
            dLogProbs[i] = (float) (dRatio * ratio / n);

            double v = values[i], old = oldValues[i], ret = returns[i];
            double clippedValue = Math.clamp(v, old - valueClipRange, old + valueClipRange);
            double vf1 = (v - ret) * (v - ret), vf2 = (clippedValue - ret) * (clippedValue - ret);
            vf += Math.max(vf1, vf2);
            if (vf2 > vf1) vfClipped++;
            double valuePasses = v >= old - valueClipRange && v <= old + valueClipRange ? 1 : 0;
            double d1 = 2 * (v - ret), d2 = 2 * (clippedValue - ret) * valuePasses;
            double dv = vf1 > vf2 ? d1 : vf2 > vf1 ? d2 : 0.5 * d1 + 0.5 * d2;
            dValues[i] = (float) (vfCoef * 0.5 * dv / n);

            approxKl += logRatio * logRatio;
            policyKl += -logRatio;
            ratioSum += ratio;
        }
        double pgLoss = pg / n, vfLoss = 0.5 * vf / n, ratioMean = ratioSum / n;
        boolean skipped = ratioMean > ratioThreshold;
        if (skipped) {
            java.util.Arrays.fill(dLogProbs, 0f);
            java.util.Arrays.fill(dValues, 0f);
            pgLoss = 0;
            vfLoss = 0;
        }
        return new Result(pgLoss + vfCoef * vfLoss, pgLoss, vfLoss, pgClipped / n, vfClipped / n, 0.5 * approxKl / n, policyKl / n,
                ratioMean, skipped, dLogProbs, dValues);
    }
}
