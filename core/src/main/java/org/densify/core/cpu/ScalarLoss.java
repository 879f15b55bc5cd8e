package org.densify.core.cpu;

import org.densify.core.BackendArguments;
import org.densify.core.Tensor;

/**
 * The losses of {@link ScalarBackend}: cross-entropy and per-token log-probabilities with their
 * entropies and gradients.
 */
final class ScalarLoss {
    private ScalarLoss() {
    }

    // ---- loss ---------------------------------------------------------------------------------

    /** losses [N] (or null), dlogits [N, V] (or null, or logits itself), logits [N, V]. */
    static void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        BackendArguments.targets(targets, N, V);
        CpuTensor loss = CpuTensor.ofNullable(losses), d = CpuTensor.ofNullable(dlogits), x = CpuTensor.of(logits);
        for (int i = 0; i < N; i++) {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                if (loss != null) loss.set(i, 0f);
                if (d != null) for (int j = 0; j < V; j++) d.set(row + j, 0f);
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < V; j++) max = Math.max(max, x.get(row + j));
            double sum = 0;
            for (int j = 0; j < V; j++) sum += Math.exp(x.get(row + j) - max);
            double logSumExp = max + Math.log(sum);
            if (loss != null) loss.set(i, (float) (logSumExp - x.get(row + target)));
            if (d != null) {
                // reads x[j] before writing d[j]: safe when dlogits is logits
                for (int j = 0; j < V; j++) {
                    double p = Math.exp(x.get(row + j) - logSumExp);
                    d.set(row + j, (float) ((p - (j == target ? 1 : 0)) * gradScale));
                }
            }
        }
    }

    static void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        BackendArguments.targets(targets, N, V);
        CpuTensor lp = CpuTensor.ofNullable(logProbs), ent = CpuTensor.ofNullable(entropies), x = CpuTensor.of(logits);
        for (int i = 0; i < N; i++) {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                if (lp != null) lp.set(i, 0f);
                if (ent != null) ent.set(i, 0f);
                continue;
            }
            double logSumExp = logSumExp(x, row, V);
            if (lp != null) lp.set(i, (float) (x.get(row + target) - logSumExp));
            if (ent != null) {
                double entropy = 0;
                for (int j = 0; j < V; j++) {
                    double logP = x.get(row + j) - logSumExp;
                    entropy -= Math.exp(logP) * logP;
                }
                ent.set(i, (float) entropy);
            }
        }
    }

    static void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        BackendArguments.targets(targets, N, V);
        if (dLogProbs.length < N) throw new IllegalArgumentException("dLogProbs has " + dLogProbs.length + " entries for " + N + " rows");
        CpuTensor d = CpuTensor.of(dlogits), x = CpuTensor.of(logits);
        for (int i = 0; i < N; i++) {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                for (int j = 0; j < V; j++) d.set(row + j, 0f);
                continue;
            }
            double logSumExp = logSumExp(x, row, V);
            double g = dLogProbs[i];
            for (int j = 0; j < V; j++) { // reads x[j] before writing d[j]: safe in place
                double p = Math.exp(x.get(row + j) - logSumExp);
                d.set(row + j, (float) (g * ((j == target ? 1 : 0) - p)));
            }
        }
    }

    private static double logSumExp(CpuTensor x, long row, int V) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < V; j++) max = Math.max(max, x.get(row + j));
        double sum = 0;
        for (int j = 0; j < V; j++) sum += Math.exp(x.get(row + j) - max);
        return max + Math.log(sum);
    }
}
