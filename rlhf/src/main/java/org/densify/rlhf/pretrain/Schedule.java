package org.densify.rlhf.pretrain;

/**
 * Learning rate by step (steps count from 1): linear warm-up {@code lr * step / warmup} over the
 * first {@code warmup} steps, then a cosine from {@code lr} down to {@code lr * minRatio} at the
 * last step. A pure function of the step, so a resumed run follows the same curve.
 */
public record Schedule(double lr, int warmup, double minRatio, int steps) {

    public float at(int step) {
        if (step < 1 || step > steps) throw new IllegalArgumentException("step " + step + " outside 1.." + steps);
        if (step <= warmup) return (float) (lr * step / warmup);
        double min = lr * minRatio;
        int decaySteps = steps - warmup;
        // The step just after warm-up starts the cosine near lr; the last step lands exactly on min.
        double progress = decaySteps <= 1 ? 1.0 : (double) (step - warmup - 1) / (decaySteps - 1);
        return (float) (min + 0.5 * (lr - min) * (1 + Math.cos(Math.PI * progress)));
    }
}
