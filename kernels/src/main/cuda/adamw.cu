// AdamW, as torch.optim.AdamW.
#include "common.cuh"

// One step over n parameters, g = grads * gradScale:
//   p -= lr * weightDecay * p; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
//   p -= lr * (m / correction1) / (sqrt(v / correction2) + eps)
// with correction1 = 1 - beta1^step, correction2 = 1 - beta2^step computed on the host in double.
// params, grads, m, v [n].
extern "C" __global__ void adamw(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                                 float* __restrict__ v, long long n, float lr, float beta1, float beta2, float eps,
                                 float weightDecay, float correction1, float correction2, float gradScale) {
    FOR_EACH(i, n) {
        float g = grads[i] * gradScale;
        float p = params[i];
        p -= lr * weightDecay * p;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        p -= lr * (mi / correction1) / (sqrtf(vi / correction2) + eps);
        params[i] = p;
        m[i] = mi;
        v[i] = vi;
    }
}
