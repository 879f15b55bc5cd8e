// Token + position embeddings and their backward.
#include "common.cuh"

// out[t, c] = wte[tokens[t], c] + wpe[positions[t], c]; out [N, C], wte [V, C], wpe [maxT, C],
// tokens and positions [N] (checked against V and maxT on the host).
extern "C" __global__ void embedding_forward(float* __restrict__ out, const int* __restrict__ tokens,
                                             const int* __restrict__ positions, const float* __restrict__ wte,
                                             const float* __restrict__ wpe, int N, int C) {
    FOR_EACH(i, (long long)N * C) {
        long long t = i / C;
        int c = (int)(i - t * C);
        out[i] = wte[(long long)tokens[t] * C + c] + wpe[(long long)positions[t] * C + c];
    }
}

// dtable[ids[u], c] += sum over r in [rowStart[u], rowStart[u + 1]) of dout[rows[r], c].
// Deterministic without atomics: the host groups the rows by id (CSR: ids [U], rowStart [U + 1],
// rows [N] ascending within each group), so each table row has one owner block and a fixed order.
// grid (U, ceil(C / blockDim.x)); dout [N, C], dtable [V, C] (wte) or [maxT, C] (wpe).
extern "C" __global__ void embedding_backward(float* __restrict__ dtable, const float* __restrict__ dout,
                                              const int* __restrict__ ids, const int* __restrict__ rowStart,
                                              const int* __restrict__ rows, int C) {
    int u = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sum = 0;
    for (int r = rowStart[u]; r < rowStart[u + 1]; r++) sum += dout[(long long)rows[r] * C + c];
    dtable[(long long)ids[u] * C + c] += sum;
}
