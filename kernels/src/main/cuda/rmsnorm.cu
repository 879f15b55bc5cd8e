// RMSNorm (Llama family) forward and backward: one warp per row, as layernorm.cu.
#include "common.cuh"

// out = in * rstd * weight, rstd = 1 / sqrt(mean(in^2) + eps), row by row. out, in [N, C] (out may
// alias in: each lane rewrites only the columns it read); weight [C]; rstd [N] or null.
// Launch: BLOCK threads, 8 rows per block.
extern "C" __global__ void rmsnorm_forward(float* out, float* __restrict__ rstd, const float* in,
                                           const float* __restrict__ weight, int N, int C, float eps) {
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N) return;  // whole warps leave together
    const float* x = in + (long long)row * C;
    float squares = 0;
    for (int c = lane; c < C; c += 32) squares += x[c] * x[c];
    float r = rsqrtf(warp_sum(squares) / C + eps);
    float* o = out + (long long)row * C;
    for (int c = lane; c < C; c += 32) o[c] = x[c] * r * weight[c];
    if (lane == 0 && rstd) rstd[row] = r;
}

// din += rstd * (weight * dout - in * rstd^2 * mean_c(weight * dout * in)); one warp per row.
// din, dout, in [N, C]; weight [C]; rstd [N]. dweight comes from rmsnorm_weight_partial + column_sums_finish.
extern "C" __global__ void rmsnorm_backward(float* __restrict__ din, const float* __restrict__ dout, const float* __restrict__ in,
                                            const float* __restrict__ weight, const float* __restrict__ rstd, int N, int C) {
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N) return;
    long long at = (long long)row * C;
    float r = rstd[row];
    float dot = 0;
    for (int c = lane; c < C; c += 32) dot += weight[c] * dout[at + c] * in[at + c];
    float k = warp_sum(dot) / C * r * r;
    for (int c = lane; c < C; c += 32) din[at + c] += r * (weight[c] * dout[at + c] - in[at + c] * k);
}

// dweight, pass 1 of 2: partials[chunk, j] = sum_{i in chunk} in[i, j] * rstd[i] * dout[i, j], chunks of
// ROWS_PER_CHUNK rows. grid (ceil(C / 32), chunks), block (32, 8), as column_sums_partial. partials [chunks, C].
extern "C" __global__ void rmsnorm_weight_partial(const float* __restrict__ dout, const float* __restrict__ in,
                                                  const float* __restrict__ rstd, int N, int C, float* __restrict__ partials) {
    __shared__ float part[8][33];
    int j = blockIdx.x * 32 + threadIdx.x;
    int first = blockIdx.y * ROWS_PER_CHUNK, last = min(first + ROWS_PER_CHUNK, N);
    float sum = 0;
    if (j < C) {
        for (int i = first + threadIdx.y; i < last; i += 8) {
            long long at = (long long)i * C + j;
            sum += in[at] * rstd[i] * dout[at];
        }
    }
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && j < C) {
        float w = 0;
        for (int k = 0; k < 8; k++) w += part[k][threadIdx.x];
        partials[(long long)blockIdx.y * C + j] = w;
    }
}
