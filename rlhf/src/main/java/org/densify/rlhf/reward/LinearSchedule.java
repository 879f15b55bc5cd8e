package org.densify.rlhf.reward;

/**
 * Learning rate by step (steps count from 1), as Hugging Face's {@code get_linear_schedule_with_warmup}
 * (the Trainer's default, with which the reference's IMDb reward model was fine-tuned): a linear
 * warm-up {@code lr * step / warmup} over the first {@code warmup} steps, then a straight line from
 * {@code lr} down to {@code lr / (steps - warmup)} at the last step (it would reach 0 one step later).
 * Unlike Hugging Face no step runs at learning rate 0.
 */
public record LinearSchedule(double lr, int warmup, int steps) {

    public LinearSchedule {
        if (steps < 1) throw new IllegalArgumentException("a schedule needs at least one step, got " + steps);
        if (warmup < 0) throw new IllegalArgumentException("negative warm-up " + warmup);
    }

    public float at(int step) {
        if (step < 1 || step > steps) throw new IllegalArgumentException("step " + step + " outside 1.." + steps);
        if (step <= warmup) return (float) (lr * step / warmup);
        return (float) (lr * (steps - step + 1) / (steps - warmup));
    }
}
