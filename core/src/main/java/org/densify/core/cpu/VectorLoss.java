package org.densify.core.cpu;

import static org.densify.core.cpu.VectorExp.exp;
import static org.densify.core.cpu.VectorExp.expScalar;

import org.densify.core.BackendArguments;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.densify.core.Tensor;

/**
 * The losses of {@link VectorBackend}: cross-entropy and per-token log-probabilities with their
 * entropies and gradients; rows in parallel.
 */
final class VectorLoss extends VectorOps {
    VectorLoss(CpuThreads threads) {
        super(threads);
    }

    // ---- loss ---------------------------------------------------------------------------------

    /**
     * losses [N] or null, dlogits [N, V] or null or logits itself, logits [N, V]. Parallel over rows;
     * the denominator is summed in float blocks moved into a double. With dlogits, the exponentials
     * are written there on the way and scaled afterwards, so each logit is exponentiated once.
     */
    void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        BackendArguments.targets(targets, N, V);
        MemorySegment loss = losses == null ? null : seg(losses), d = dlogits == null ? null : seg(dlogits), x = seg(logits);
        int full = V - V % VL;
        threads.forEach(N, i -> {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                if (loss != null) loss.setAtIndex(F, i, 0f);
                if (d != null) d.asSlice(row * 4, (long) V * 4).fill((byte) 0);
                return;
            }
            FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < full; j += VL) mx = mx.max(load(x, row + j));
            float max = mx.reduceLanes(VectorOperators.MAX);
            for (int j = full; j < V; j++) max = Math.max(max, x.getAtIndex(F, row + j));
            float xTarget = x.getAtIndex(F, row + target); // read before d (maybe the logits) is written

            double sum = 0;
            for (int block = 0; block < full; block += SUM_BLOCK) {
                FloatVector acc = FloatVector.zero(S);
                for (int j = block, end = Math.min(full, block + SUM_BLOCK); j < end; j += VL) {
                    FloatVector e = exp(load(x, row + j).sub(max));
                    if (d != null) e.intoMemorySegment(d, (row + j) * 4, ORDER);
                    acc = acc.add(e);
                }
                sum += sumLanes(acc);
            }
            for (int j = full; j < V; j++) {
                float e = expScalar(x.getAtIndex(F, row + j) - max);
                if (d != null) d.setAtIndex(F, row + j, e);
                sum += e;
            }
            if (loss != null) loss.setAtIndex(F, i, (float) (max + StrictMath.log(sum) - xTarget));
            if (d != null) {
                float factor = (float) (gradScale / sum);
                int j = 0;
                for (; j < full; j += VL) load(d, row + j).mul(factor).intoMemorySegment(d, (row + j) * 4, ORDER);
                for (; j < V; j++) d.setAtIndex(F, row + j, d.getAtIndex(F, row + j) * factor);
                d.setAtIndex(F, row + target, (float) ((expScalar(xTarget - max) / sum - 1) * gradScale));
            }
        });
    }

    /** One row's max and sum of exp(x - max) (written to {@code e} when non-null), and sum of exp(x - max) * x. */
    private record RowSoftmax(float max, double sum, double weighted) {}

    private RowSoftmax rowSoftmax(MemorySegment x, long row, int V, MemorySegment e, boolean weighted) {
        int full = V - V % VL;
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < full; j += VL) mx = mx.max(load(x, row + j));
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (int j = full; j < V; j++) max = Math.max(max, x.getAtIndex(F, row + j));
        double sum = 0, wsum = 0;
        for (int block = 0; block < full; block += SUM_BLOCK) {
            FloatVector acc = FloatVector.zero(S), wacc = FloatVector.zero(S);
            for (int j = block, end = Math.min(full, block + SUM_BLOCK); j < end; j += VL) {
                FloatVector xj = load(x, row + j);
                FloatVector ej = exp(xj.sub(max));
                if (weighted) wacc = ej.fma(xj, wacc);
                if (e != null) ej.intoMemorySegment(e, (row + j) * 4, ORDER);
                acc = acc.add(ej);
            }
            sum += sumLanes(acc);
            if (weighted) wsum += sumLanes(wacc);
        }
        for (int j = full; j < V; j++) {
            float xj = x.getAtIndex(F, row + j);
            float ej = expScalar(xj - max);
            if (e != null) e.setAtIndex(F, row + j, ej);
            sum += ej;
            wsum += (double) ej * xj;
        }
        return new RowSoftmax(max, sum, wsum);
    }

    void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        BackendArguments.targets(targets, N, V);
        MemorySegment lp = logProbs == null ? null : seg(logProbs), ent = entropies == null ? null : seg(entropies), x = seg(logits);
        threads.forEach(N, i -> {
            int target = targets[i];
            if (target < 0) {
                if (lp != null) lp.setAtIndex(F, i, 0f);
                if (ent != null) ent.setAtIndex(F, i, 0f);
                return;
            }
            long row = (long) i * V;
            RowSoftmax r = rowSoftmax(x, row, V, null, ent != null);
            double logSumExp = r.max() + StrictMath.log(r.sum());
            if (lp != null) lp.setAtIndex(F, i, (float) (x.getAtIndex(F, row + target) - logSumExp));
            // H = logsumexp - E_p[x]
            if (ent != null) ent.setAtIndex(F, i, (float) (logSumExp - r.weighted() / r.sum()));
        });
    }

    void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        BackendArguments.targets(targets, N, V);
        if (dLogProbs.length < N) throw new IllegalArgumentException("dLogProbs has " + dLogProbs.length + " entries for " + N + " rows");
        MemorySegment d = seg(dlogits), x = seg(logits);
        int full = V - V % VL;
        threads.forEach(N, i -> {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                d.asSlice(row * 4, (long) V * 4).fill((byte) 0);
                return;
            }
            float xTarget = x.getAtIndex(F, row + target); // read before d (maybe the logits) is written
            RowSoftmax r = rowSoftmax(x, row, V, d, false);
            float factor = (float) (-dLogProbs[i] / r.sum());
            int j = 0;
            for (; j < full; j += VL) load(d, row + j).mul(factor).intoMemorySegment(d, (row + j) * 4, ORDER);
            for (; j < V; j++) d.setAtIndex(F, row + j, d.getAtIndex(F, row + j) * factor);
            d.setAtIndex(F, row + target, (float) (dLogProbs[i] * (1 - expScalar(xTarget - r.max()) / r.sum())));
        });
    }
}
