// Bias broadcast for matmul and column sums for the bias backward.
#include "common.cuh"

// c[i, j] = (accumulate ? c[i, j] : 0) + bias[j]; c [M, N], bias [N]. Runs before a GEMM with
// beta = 1, which then adds the product on top.
extern "C" __global__ void bias_rows(float* __restrict__ c, const float* __restrict__ bias, int M, int N, int accumulate) {
    FOR_EACH(i, (long long)M * N) {
        float b = bias[i % N];
        c[i] = accumulate ? c[i] + b : b;
    }
}

// Column sums, pass 1 of 2: partials[chunk, j] = sum_{i in chunk} x[i, j], x [M, N], chunks of
// ROWS_PER_CHUNK rows. grid (ceil(N / 32), ceil(M / ROWS_PER_CHUNK)), block (32, 8): the 32
// threads of a warp read 32 adjacent columns of one row. partials [ceil(M / ROWS_PER_CHUNK), N].
extern "C" __global__ void column_sums_partial(const float* __restrict__ x, int M, int N, float* __restrict__ partials) {
    __shared__ float part[8][33];
    int j = blockIdx.x * 32 + threadIdx.x;
    int first = blockIdx.y * ROWS_PER_CHUNK, last = min(first + ROWS_PER_CHUNK, M);
    float sum = 0;
    if (j < N) {
        for (int i = first + threadIdx.y; i < last; i += 8) sum += x[(long long)i * N + j];
    }
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && j < N) {
        float total = 0;
        for (int k = 0; k < 8; k++) total += part[k][threadIdx.x];
        partials[(long long)blockIdx.y * N + j] = total;
    }
}

// Column sums, pass 2 of 2: dst[j] += sum_c partials[c, j] over c < chunks, in chunk order.
// partials [chunks, N], dst [N].
extern "C" __global__ void column_sums_finish(float* __restrict__ dst, const float* __restrict__ partials, int chunks, int N) {
    FOR_EACH(j, N) {
        float sum = 0;
        for (int c = 0; c < chunks; c++) sum += partials[(long long)c * N + j];
        dst[j] += sum;
    }
}
