package org.densify.rlhf.ppo;

/**
 * The KL coefficient of the per-token penalty: fixed, or adapted towards a target KL as in Ziegler et
 * al. (2019) and TRL: {@code coef *= 1 + clip(kl / target - 1, -0.2, 0.2) * nSteps / horizon}.
 */
public final class KlController {
    private final boolean adaptive;
    private final double target, horizon;
    private double value;

    private KlController(double initial, boolean adaptive, double target, double horizon) {
        if (!(initial >= 0)) throw new IllegalArgumentException("the KL coefficient must be >= 0, got " + initial);
        if (adaptive && !(target > 0 && horizon > 0)) throw new IllegalArgumentException("adaptive KL needs target > 0 and horizon > 0");
        this.value = initial;
        this.adaptive = adaptive;
        this.target = target;
        this.horizon = horizon;
    }

    public static KlController adaptive(double initial, double target, double horizon) {
        return new KlController(initial, true, target, horizon);
    }

    public static KlController fixed(double value) {
        return new KlController(value, false, 0, 0);
    }

    public double value() {
        return value;
    }

    /** Restores the coefficient from a checkpoint. */
    public void restore(double coefficient) {
        this.value = coefficient;
    }

    /**
     * Updates after a PPO step whose mean per-sequence KL was {@code kl}, over {@code nSteps} samples
     * (TRL passes the batch size).
     */
    public void update(double kl, int nSteps) {
        if (!adaptive) return;
        double error = Math.max(-0.2, Math.min(0.2, kl / target - 1));
        value *= 1 + error * nSteps / horizon;
    }
}
