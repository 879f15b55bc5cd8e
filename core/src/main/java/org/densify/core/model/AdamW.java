package org.densify.core.model;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * AdamW over a model's parameter block, as torch.optim.AdamW with two groups: weight decay on
 * matrices and embeddings, none on biases and layer-norm vectors (nanoGPT's split). Moments live in
 * two blocks of the parameter layout. Gradient-norm clipping as torch.nn.utils.clip_grad_norm_.
 */
public final class AdamW implements AutoCloseable {
    private final LanguageModel model;
    private final Backend backend;
    private final Tensor m, v;
    private final float beta1, beta2, eps, weightDecay;
    private int step;

    public AdamW(LanguageModel model, float beta1, float beta2, float eps, float weightDecay) {
        this.model = model;
        this.backend = model.backend();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = backend.allocate(model.layout().size());
        this.v = backend.allocate(model.layout().size());
    }

    /** GPT-2 pre-training defaults: betas (0.9, 0.95), eps 1e-8, weight decay 0.1. */
    public static AdamW forPretraining(LanguageModel model) {
        return new AdamW(model, 0.9f, 0.95f, 1e-8f, 0.1f);
    }

    /** The L2 norm of the whole gradient block. */
    public double gradientNorm() {
        return Math.sqrt(backend.sumOfSquares(model.gradients(), model.layout().size()));
    }

    /**
     * One step at learning rate {@code lr}. With {@code maxGradNorm > 0} the gradients are first
     * scaled by {@code min(1, maxGradNorm / (norm + 1e-6))}.
     *
     * @return the gradient norm before clipping
     */
    public double step(float lr, float maxGradNorm) {
        double norm = gradientNorm();
        if (!Double.isFinite(norm)) {
            throw new IllegalStateException("gradient norm is " + norm + " at optimiser step " + (step + 1)
                    + ": a NaN or infinity reached the gradients; parameters left unchanged");
        }
        float scale = maxGradNorm > 0 ? (float) Math.min(1.0, maxGradNorm / (norm + 1e-6)) : 1f;
        step++;
        Tensor params = model.parameters(), grads = model.gradients();
        for (ParameterLayout.Entry e : model.layout().entries()) {
            long o = e.offset(), n = e.length();
            backend.adamW(params.slice(o, n), grads.slice(o, n), m.slice(o, n), v.slice(o, n), n, lr, beta1, beta2, eps,
                    e.isMatrix() ? weightDecay : 0f, step, scale);
        }
        return norm;
    }

    /** Steps taken so far. */
    public int stepCount() {
        return step;
    }

    /** First and second moments, [layout().size()] each, for checkpoints. */
    public Tensor firstMoment() {
        return m;
    }

    public Tensor secondMoment() {
        return v;
    }

    /** Restores the step counter from a checkpoint (moments are written into {@link #firstMoment()} / {@link #secondMoment()}). */
    public void restoreStepCount(int steps) {
        if (steps < 0) throw new IllegalArgumentException("negative step count " + steps);
        this.step = steps;
    }

    @Override
    public void close() {
        backend.free(m);
        backend.free(v);
    }
}
