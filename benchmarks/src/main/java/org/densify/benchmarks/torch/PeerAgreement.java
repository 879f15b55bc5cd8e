package org.densify.benchmarks.torch;

import org.densify.core.model.AdamW;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Outputs;

/**
 * Checks that a PyTorch peer ({@link TorchGpt2}, {@link TorchLlama}) computes what Densify computes before either is timed: the same
 * mean next-token loss on the same weights and tokens (inference forward, training forward with
 * backward) and, after one AdamW step on each side, the same loss again (which the gradients and
 * the optimiser step both feed). Every comparison is relative and must be under {@link #TOLERANCE}.
 */
public final class PeerAgreement {
    /** Relative difference allowed between the two fp32 losses. */
    public static final double TOLERANCE = 1e-4;

    /** The losses compared, Densify's first. */
    public record Losses(double densifyForward, double torchForward, double densifyTraining, double torchTraining,
                         double densifyAfterStep, double torchAfterStep, double densifyGradNorm, double torchGradNorm) {
        /** The largest relative difference between the paired losses. */
        public double worstRelativeDifference() {
            return Math.max(relative(densifyForward, torchForward),
                    Math.max(relative(densifyTraining, torchTraining), relative(densifyAfterStep, torchAfterStep)));
        }

        @Override
        public String toString() {
            return String.format("loss %.7f vs %.7f, training loss %.7f vs %.7f, after one AdamW step %.7f vs %.7f,"
                            + " gradient norm %.6g vs %.6g (Densify vs PyTorch; worst relative difference %.2e)",
                    densifyForward, torchForward, densifyTraining, torchTraining, densifyAfterStep, torchAfterStep,
                    densifyGradNorm, torchGradNorm, worstRelativeDifference());
        }
    }

    /** The optimiser settings both sides use in the check and in the timed training step. */
    public record Optimizer(float lr, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm) {
        /** GPT-2's pre-training settings (nanoGPT's), used for every family: lr 6e-4, betas 0.9/0.95, weight decay 0.1, clipping at 1. */
        public static final Optimizer PRETRAINING = new Optimizer(6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f);

        public AdamW densify(LanguageModel model) {
            return new AdamW(model, beta1, beta2, eps, weightDecay);
        }

        public double step(AdamW adamW) {
            return adamW.step(lr, maxGradNorm);
        }

        public double step(TorchPeer peer) {
            return peer.adamW(lr, beta1, beta2, eps, weightDecay, maxGradNorm);
        }
    }

    private PeerAgreement() {}

    static double relative(double a, double b) {
        return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
    }

    /**
     * Runs the comparison on {@code tokens} (sequences of one length), stepping Densify with {@code
     * adamW} and the peer with its own AdamW state (so repeated checks compare later steps). The
     * step changes both models' weights identically; callers that time afterwards time the stepped weights.
     *
     * @throws IllegalStateException naming every loss when any pair differs by more than {@link #TOLERANCE}
     */
    public static Losses check(LanguageModel model, AdamW adamW, TorchPeer peer, int[][] tokens, Optimizer optimizer) {
        Batch batch = Batch.of(tokens);
        double densifyForward = model.languageModelLoss(model.forward(batch, ForwardOptions.forInference()));
        double torchForward = peer.lossValue(tokens);

        model.zeroGradients();
        Outputs out = model.forward(batch, ForwardOptions.forTraining());
        double densifyTraining = model.languageModelLoss(out);
        model.backward(out, null, null);
        double torchTraining = peer.forwardBackward(tokens);
        double densifyNorm = optimizer.step(adamW);
        double torchNorm = optimizer.step(peer);
        double densifyAfter = model.languageModelLoss(model.forward(batch, ForwardOptions.forInference()));
        double torchAfter = peer.lossValue(tokens);

        Losses losses = new Losses(densifyForward, torchForward, densifyTraining, torchTraining, densifyAfter, torchAfter,
                densifyNorm, torchNorm);
        if (!(losses.worstRelativeDifference() < TOLERANCE)) {
            throw new IllegalStateException("the PyTorch peer disagrees with Densify beyond " + TOLERANCE + ": " + losses);
        }
        return losses;
    }
}
