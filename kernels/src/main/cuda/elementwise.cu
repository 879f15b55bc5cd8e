// Elementwise ops and the sum of squares (gradient norm). Grid-stride loops, any launch shape.
#include "common.cuh"

// out[i] = a[i] + b[i], i < n (the residual add). out may alias a (hence no __restrict__).
extern "C" __global__ void add_f32(float* out, const float* a, const float* b, long long n) {
    FOR_EACH(i, n) out[i] = a[i] + b[i];
}

// dst[i] += src[i], i < n.
extern "C" __global__ void accumulate_f32(float* dst, const float* src, long long n) {
    FOR_EACH(i, n) dst[i] += src[i];
}

// x[i] *= factor, i < n.
extern "C" __global__ void scale_f32(float* x, float factor, long long n) {
    FOR_EACH(i, n) x[i] *= factor;
}

// Sum of squares, pass 1 of 2: partials[blockIdx.x] = sum of x[i]^2 over the i this block visits,
// in double. The host picks gridDim.x from n alone (never from the GPU), with blockDim.x = BLOCK,
// so the order of every addition is a function of n.
extern "C" __global__ void sum_of_squares_partial(const float* __restrict__ x, long long n, double* __restrict__ partials) {
    __shared__ double scratch[32];
    double sum = 0;
    FOR_EACH(i, n) {
        double v = x[i];
        sum += v * v;
    }
    sum = block_sum_double(sum, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// Sum of squares, pass 2 of 2, one block of BLOCK threads: out[0] = sum of partials[0 .. count).
extern "C" __global__ void sum_of_squares_final(const double* __restrict__ partials, int count, double* __restrict__ out) {
    __shared__ double scratch[32];
    double sum = 0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
    sum = block_sum_double(sum, scratch);
    if (threadIdx.x == 0) out[0] = sum;
}
