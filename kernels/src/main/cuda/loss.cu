// Row-wise softmax losses over the vocabulary: fused cross-entropy (loss + gradient) and the
// policy-gradient log-probabilities / entropies with their backward. One block per row
// (blockDim.x a multiple of 32, at most 1024); a thread visits the columns j = threadIdx.x +
// k * blockDim.x in every pass, and the passes are separated by block reductions, so a gradient
// written over the logits (dlogits == logits) only overwrites values its own thread has finished
// reading. targets[i] < 0 means "no target": that row's outputs are 0.
#include "common.cuh"

// max_j x[j] then log(sum_j exp(x[j] - max)) + max over one row of V logits.
__device__ __forceinline__ float row_log_sum_exp(const float* x, int V, float* scratch) {
    float m = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, x[j]);
    m = block_max(m, scratch);
    float s = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) s += expf(x[j] - m);
    return m + logf(block_sum(s, scratch));
}

// losses[i] = logsumexp(logits[i]) - logits[i, targets[i]]; dlogits[i, j] = (softmax(logits[i])_j
// - [j == targets[i]]) * gradScale. logits, dlogits [N, V] (dlogits may be logits, or null);
// losses [N] or null; targets [N]. grid N.
extern "C" __global__ void cross_entropy(float* losses, float* dlogits, const float* logits, const int* __restrict__ targets,
                                         float gradScale, int N, int V) {
    __shared__ float scratch[32];
    int i = blockIdx.x;
    int target = targets[i];
    long long row = (long long)i * V;
    if (target < 0) {
        if (losses && threadIdx.x == 0) losses[i] = 0.0f;
        if (dlogits) for (int j = threadIdx.x; j < V; j += blockDim.x) dlogits[row + j] = 0.0f;
        return;
    }
    const float* x = logits + row;
    float xt = x[target];  // read before any thread can overwrite it with its gradient
    float lse = row_log_sum_exp(x, V, scratch);
    if (losses && threadIdx.x == 0) losses[i] = lse - xt;
    if (dlogits) {
        float* d = dlogits + row;
        for (int j = threadIdx.x; j < V; j += blockDim.x) {
            float p = expf(x[j] - lse);
            d[j] = (p - (j == target ? 1.0f : 0.0f)) * gradScale;
        }
    }
}

// logProbs[i] = logits[i, targets[i]] - logsumexp(logits[i]); entropies[i] = -sum_j p_j log p_j,
// computed as log(s) - sum_j e_j (x_j - max) / s with e_j = exp(x_j - max), s = sum_j e_j (no
// cancellation against the logits' magnitude). logits [N, V]; logProbs, entropies [N] or null. grid N.
extern "C" __global__ void token_log_probs(float* __restrict__ logProbs, float* __restrict__ entropies,
                                           const float* __restrict__ logits, const int* __restrict__ targets, int N, int V) {
    __shared__ float scratch[32];
    int i = blockIdx.x;
    int target = targets[i];
    if (target < 0) {
        if (threadIdx.x == 0) {
            if (logProbs) logProbs[i] = 0.0f;
            if (entropies) entropies[i] = 0.0f;
        }
        return;
    }
    const float* x = logits + (long long)i * V;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, x[j]);
    m = block_max(m, scratch);
    float s = 0, u = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float shifted = x[j] - m;
        float e = expf(shifted);
        s += e;
        u += e * shifted;
    }
    s = block_sum(s, scratch);
    u = block_sum(u, scratch);
    if (threadIdx.x == 0) {
        float logS = logf(s);
        if (logProbs) logProbs[i] = x[target] - m - logS;
        if (entropies) entropies[i] = logS - u / s;
    }
}

// dlogits[i, j] = dLogProbs[i] * ([j == targets[i]] - softmax(logits[i])_j), 0 for rows without a
// target. dlogits, logits [N, V] (dlogits may be logits); dLogProbs, targets [N]. grid N.
extern "C" __global__ void token_log_probs_backward(float* dlogits, const float* logits, const int* __restrict__ targets,
                                                    const float* __restrict__ dLogProbs, int N, int V) {
    __shared__ float scratch[32];
    int i = blockIdx.x;
    int target = targets[i];
    long long row = (long long)i * V;
    float* d = dlogits + row;
    if (target < 0) {
        for (int j = threadIdx.x; j < V; j += blockDim.x) d[j] = 0.0f;
        return;
    }
    const float* x = logits + row;
    float lse = row_log_sum_exp(x, V, scratch);
    float g = dLogProbs[i];
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float p = expf(x[j] - lse);
        d[j] = g * ((j == target ? 1.0f : 0.0f) - p);
    }
}
