// A CPU emulator of the slice of CUDA the kernels use, so the tests can run the real kernel
// sources (src/main/cuda/*.cu, compiled here as C++) through the real CudaBackend on a machine
// without a GPU. Included before each .cu file.
//
// Model: one block at a time; each CUDA thread is a fiber (own stack, hand-written context switch) on one OS thread; fibers run
// until they reach __syncthreads or a warp shuffle, in an order shuffled at every step, so a
// kernel that reads shared memory another thread writes without a barrier between gives wrong
// (test-failing) results instead of passing by luck. __shared__ variables become function
// statics (blocks never run concurrently), dynamic shared memory is poisoned with NaN for every
// block, a barrier some threads never reach is reported as a deadlock, and kernel arguments are
// type-checked against the launch.
#pragma once
#define DENSIFY_EMULATED 1

#include <algorithm>
#include <cmath>
#include <cstdint>

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
};

extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(emu_dynamic_shared())

void* emu_dynamic_shared();
void __syncthreads();
float __shfl_xor_sync(unsigned mask, float v, int laneMask);
double __shfl_xor_sync(unsigned mask, double v, int laneMask);

using std::max;
using std::min;

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
