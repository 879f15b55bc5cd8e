package org.densify.core.cpu;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import org.densify.core.Tensor;

/**
 * The AdamW step of {@link VectorBackend}.
 */
final class VectorAdamW extends VectorOps {
    VectorAdamW(CpuThreads threads) {
        super(threads);
    }

    // ---- optimiser ----------------------------------------------------------------------------

    /** torch.optim.AdamW's single-tensor step, in float, in fixed chunks. */
    void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
               float eps, float weightDecay, int step, float gradScale) {
        MemorySegment p = seg(params), g = seg(grads), ms = seg(m), vs = seg(v);
        float decay = 1 - lr * weightDecay;
        float stepSize = (float) (lr / (1 - StrictMath.pow(beta1, step)));
        float correction2Sqrt = (float) Math.sqrt(1 - StrictMath.pow(beta2, step));
        float b1 = beta1, c1 = 1 - beta1, b2 = beta2, c2 = 1 - beta2;
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) {
                FloatVector grad = load(g, i).mul(gradScale);
                FloatVector mi = load(ms, i).mul(b1).add(grad.mul(c1));
                FloatVector vi = load(vs, i).mul(b2).add(grad.mul(grad).mul(c2));
                FloatVector denom = vi.sqrt().div(correction2Sqrt).add(eps);
                load(p, i).mul(decay).sub(mi.div(denom).mul(stepSize)).intoMemorySegment(p, i * 4, ORDER);
                mi.intoMemorySegment(ms, i * 4, ORDER);
                vi.intoMemorySegment(vs, i * 4, ORDER);
            }
            for (; i < to; i++) {
                float grad = g.getAtIndex(F, i) * gradScale;
                float mi = ms.getAtIndex(F, i) * b1 + grad * c1;
                float vi = vs.getAtIndex(F, i) * b2 + grad * grad * c2;
                float denom = (float) Math.sqrt(vi) / correction2Sqrt + eps;
                p.setAtIndex(F, i, p.getAtIndex(F, i) * decay - mi / denom * stepSize);
                ms.setAtIndex(F, i, mi);
                vs.setAtIndex(F, i, vi);
            }
        });
    }
}
