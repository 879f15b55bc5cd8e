package org.densify.rlhf.reward;

import org.densify.rlhf.credit.RewardModel;

/**
 * The reward model's losses on its classifier logits (one sequence's {@code [labels]} row), each
 * with its gradient. Computed in double and written as float.
 *
 * <ul>
 *   <li>classification, 2 labels: softmax cross-entropy {@code logsumexp(l) - l[y]}, gradient
 *       {@code softmax(l) - onehot(y)};</li>
 *   <li>classification, 1 label: the logistic loss of the scalar reward {@code r = l[0]} read as the
 *       positive-class logit, {@code -log sigmoid(+-r)} (+ for label 1). For two labels the softmax
 *       cross-entropy is the same function of {@code l[1] - l[0]}, so both train
 *       {@link RewardModel#scalar} as a log-odds of "positive";</li>
 *   <li>preference pairs: Bradley–Terry, {@code -log sigmoid(r_chosen - r_rejected)} with
 *       {@code r = RewardModel.scalar(logits)}.</li>
 * </ul>
 */
public final class RewardLoss {
    private RewardLoss() {
    }

    /**
     * The classification loss of one sequence's logits {@code [labels]} for {@code label} (0
     * negative, 1 positive). When {@code grad} is not null it receives {@code scale * dLoss/dlogits}.
     */
    public static double classification(float[] logits, int label, float[] grad, double scale) {
        if (label < 0 || label > 1) throw new IllegalArgumentException("label must be 0 or 1, got " + label);
        if (logits.length == 1) {
            double z = label == 1 ? logits[0] : -logits[0];
            if (grad != null) grad[0] = (float) (scale * -(label == 1 ? 1 : -1) * sigmoid(-z));
            return softplus(-z);
        }
        if (label >= logits.length) throw new IllegalArgumentException("label " + label + " for " + logits.length + " logits");
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        double logSum = max + Math.log(sum);
        if (grad != null) {
            for (int k = 0; k < logits.length; k++) grad[k] = (float) (scale * (Math.exp(logits[k] - logSum) - (k == label ? 1 : 0)));
        }
        return logSum - logits[label];
    }

    /**
     * Bradley–Terry loss {@code -log sigmoid(r(chosen) - r(rejected))} of two sequences' logits.
     * When the gradient arrays are not null they receive {@code scale * dLoss/dlogits} of each side.
     */
    public static double bradleyTerry(float[] chosen, float[] rejected, float[] gradChosen, float[] gradRejected, double scale) {
        double d = (double) RewardModel.scalar(chosen) - RewardModel.scalar(rejected);
        if (gradChosen != null) {
            float g = (float) (scale * -sigmoid(-d)); // dLoss/d r_chosen; dLoss/d r_rejected is its negative
            System.arraycopy(RewardModel.scalarGradient(chosen.length, g), 0, gradChosen, 0, chosen.length);
            System.arraycopy(RewardModel.scalarGradient(rejected.length, -g), 0, gradRejected, 0, rejected.length);
        }
        return softplus(-d);
    }

    /** Whether the reward's sign agrees with the label: {@code r > 0} for label 1, {@code r <= 0} for label 0 (argmax, ties negative). */
    public static boolean correct(float[] logits, int label) {
        return (RewardModel.scalar(logits) > 0) == (label == 1);
    }

    /** Whether the chosen side gets the strictly higher reward. */
    public static boolean prefers(float[] chosen, float[] rejected) {
        return RewardModel.scalar(chosen) > RewardModel.scalar(rejected);
    }

    /** log(1 + e^x), without overflow for large |x|. */
    static double softplus(double x) {
        return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    }

    static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }
}
