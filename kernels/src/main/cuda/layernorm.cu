// Layer norm (biased variance) forward and backward: one warp per row.
#include "common.cuh"

// out = (in - mean) * rstd * weight + bias, row by row. out, in [N, C]; weight, bias [C];
// mean, rstd [N] or null. Mean first, then the variance as the mean of squared deviations (two
// passes over the row, the second from L1), so no cancellation. Launch: BLOCK threads, 8 rows per block.
extern "C" __global__ void layernorm_forward(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                                             const float* __restrict__ in, const float* __restrict__ weight,
                                             const float* __restrict__ bias, int N, int C, float eps) {
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N) return;  // whole warps leave together: the shuffles below stay converged
    const float* x = in + (long long)row * C;
    float sum = 0;
    for (int c = lane; c < C; c += 32) sum += x[c];
    float m = warp_sum(sum) / C;
    float squares = 0;
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - m;
        squares += d * d;
    }
    float r = rsqrtf(warp_sum(squares) / C + eps);
    float* o = out + (long long)row * C;
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * r * weight[c] + bias[c];
    if (lane == 0) {
        if (mean) mean[row] = m;
        if (rstd) rstd[row] = r;
    }
}

// din += rstd * (weight * dout - mean_c(weight * dout) - norm * mean_c(weight * dout * norm)),
// norm = (in - mean) * rstd; one warp per row. din, dout, in [N, C]; weight [C]; mean, rstd [N].
// The parameter gradients come from layernorm_params_partial + column_sums_finish.
extern "C" __global__ void layernorm_backward(float* __restrict__ din, const float* __restrict__ dout,
                                              const float* __restrict__ in, const float* __restrict__ weight,
                                              const float* __restrict__ mean, const float* __restrict__ rstd, int N, int C) {
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N) return;
    long long at = (long long)row * C;
    float m = mean[row], r = rstd[row];
    float dnormSum = 0, dnormNormSum = 0;
    for (int c = lane; c < C; c += 32) {
        float norm = (in[at + c] - m) * r;
        float dnorm = weight[c] * dout[at + c];
        dnormSum += dnorm;
        dnormNormSum += dnorm * norm;
    }
    float dnormMean = warp_sum(dnormSum) / C, dnormNormMean = warp_sum(dnormNormSum) / C;
    for (int c = lane; c < C; c += 32) {
        float norm = (in[at + c] - m) * r;
        din[at + c] += (weight[c] * dout[at + c] - dnormMean - norm * dnormNormMean) * r;
    }
}

// Parameter gradients, pass 1 of 2 (pass 2 is column_sums_finish, once per gradient):
// partials[0, chunk, j] = sum_{i in chunk} norm[i, j] * dout[i, j]   (dweight)
// partials[1, chunk, j] = sum_{i in chunk} dout[i, j]                (dbias)
// with chunks of ROWS_PER_CHUNK rows. grid (ceil(C / 32), chunks), block (32, 8), as column_sums_partial.
// partials [2, chunks, C].
extern "C" __global__ void layernorm_params_partial(const float* __restrict__ dout, const float* __restrict__ in,
                                                    const float* __restrict__ mean, const float* __restrict__ rstd,
                                                    int N, int C, float* __restrict__ partials) {
    __shared__ float partW[8][33], partB[8][33];
    int j = blockIdx.x * 32 + threadIdx.x;
    int first = blockIdx.y * ROWS_PER_CHUNK, last = min(first + ROWS_PER_CHUNK, N);
    float sumW = 0, sumB = 0;
    if (j < C) {
        for (int i = first + threadIdx.y; i < last; i += 8) {
            long long at = (long long)i * C + j;
            float g = dout[at];
            sumW += (in[at] - mean[i]) * rstd[i] * g;
            sumB += g;
        }
    }
    partW[threadIdx.y][threadIdx.x] = sumW;
    partB[threadIdx.y][threadIdx.x] = sumB;
    __syncthreads();
    if (threadIdx.y == 0 && j < C) {
        float w = 0, b = 0;
        for (int k = 0; k < 8; k++) {
            w += partW[k][threadIdx.x];
            b += partB[k][threadIdx.x];
        }
        long long chunks = gridDim.y;
        partials[(long long)blockIdx.y * C + j] = w;
        partials[(chunks + blockIdx.y) * C + j] = b;
    }
}
