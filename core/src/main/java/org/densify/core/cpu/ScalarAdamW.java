package org.densify.core.cpu;

import org.densify.core.Tensor;

/**
 * The AdamW step of {@link ScalarBackend}.
 */
final class ScalarAdamW {
    private ScalarAdamW() {
    }

    // ---- optimiser ----------------------------------------------------------------------------

    static void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step, float gradScale) {
        CpuTensor p = CpuTensor.of(params), g = CpuTensor.of(grads), mt = CpuTensor.of(m), vt = CpuTensor.of(v);
        double correction1 = 1 - Math.pow(beta1, step), correction2 = 1 - Math.pow(beta2, step);
        for (long i = 0; i < n; i++) {
            double grad = (double) g.get(i) * gradScale;
            double param = p.get(i);
            param -= (double) lr * weightDecay * param;
            double mi = beta1 * (double) mt.get(i) + (1 - (double) beta1) * grad;
            double vi = beta2 * (double) vt.get(i) + (1 - (double) beta2) * grad * grad;
            param -= lr * (mi / correction1) / (Math.sqrt(vi / correction2) + eps);
            p.set(i, (float) param);
            mt.set(i, (float) mi);
            vt.set(i, (float) vi);
        }
    }
}
