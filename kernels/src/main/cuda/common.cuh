// Helpers shared by every kernel file. Compiled to PTX by nvcc; the tests also compile the same
// sources as plain C++ against a CPU emulator of the CUDA execution model (kernels/src/test/emu),
// which defines DENSIFY_EMULATED and its own versions of the few intrinsics used here.
//
// Conventions of every kernel:
//  - row-major dense matrices, shapes in the comment above each kernel, as in core's Backend;
//  - no atomics: every output element has one owner thread and every sum runs in a fixed order,
//    so results are bitwise reproducible run to run and independent of the GPU model;
//  - counts of elements are long long (the Java side passes longs), row/column counts are int;
//  - an optional output is a null pointer when absent.
#pragma once

#ifndef DENSIFY_EMULATED
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define FULL_MASK 0xffffffffu

// Threads per block of the row-per-block kernels (loss, layer norm, reductions): the Java side
// launches exactly this many.
#define BLOCK 256

// Rows summed by one block of the column-sum kernels (bias / layer-norm parameter gradients). A
// constant, not a function of the GPU, so the summation order never changes.
#define ROWS_PER_CHUNK 128

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

__device__ __forceinline__ float warp_sum(float v) {
    // xor butterfly: every lane ends with the same bits (each step adds the same two values)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_double(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// scratch: 32 floats of shared memory, free for reuse once this returns.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // an earlier call may still be reading scratch
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? scratch[lane] : 0.0f);
}

__device__ __forceinline__ double block_sum_double(double v, double* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum_double(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_sum_double(lane < warps ? scratch[lane] : 0.0);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? scratch[lane] : -INFINITY);
}
