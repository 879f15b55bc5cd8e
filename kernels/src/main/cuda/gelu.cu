// GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), forward and backward.
#include "common.cuh"

#define GELU_K 0.7978845608028654f  // sqrt(2 / pi)
#define GELU_A 0.044715f

// out[i] = gelu(in[i]), i < n.
extern "C" __global__ void gelu_forward(float* __restrict__ out, const float* __restrict__ in, long long n) {
    FOR_EACH(i, n) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_A * x * x * x)));
    }
}

// din[i] += gelu'(in[i]) * dout[i], i < n.
extern "C" __global__ void gelu_backward(float* __restrict__ din, const float* __restrict__ in,
                                         const float* __restrict__ dout, long long n) {
    FOR_EACH(i, n) {
        float x = in[i];
        float th = tanhf(GELU_K * (x + GELU_A * x * x * x));
        float sech2 = 1.0f - th * th;
        float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        din[i] += grad * dout[i];
    }
}
