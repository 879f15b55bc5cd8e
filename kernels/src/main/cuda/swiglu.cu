// SwiGLU (Llama family MLP): out = silu(gate) * up, forward and backward.
#include "common.cuh"

// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i], i < n.
extern "C" __global__ void swiglu_forward(float* __restrict__ out, const float* __restrict__ gate, const float* __restrict__ up,
                                          long long n) {
    FOR_EACH(i, n) {
        float x = gate[i];
        out[i] = x / (1.0f + expf(-x)) * up[i];
    }
}

// dgate[i] += dout[i] * up[i] * silu'(gate[i]), dup[i] += dout[i] * silu(gate[i]); silu' = sig (1 + x (1 - sig)).
extern "C" __global__ void swiglu_backward(float* __restrict__ dgate, float* __restrict__ dup, const float* __restrict__ dout,
                                           const float* __restrict__ gate, const float* __restrict__ up, long long n) {
    FOR_EACH(i, n) {
        float x = gate[i], d = dout[i];
        float sig = 1.0f / (1.0f + expf(-x));
        dgate[i] += d * up[i] * sig * (1.0f + x * (1.0f - sig));
        dup[i] += d * x * sig;
    }
}
