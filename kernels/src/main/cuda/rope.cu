// Rotary position embedding as Hugging Face applies it (rotate_half), forward and backward.
#include "common.cuh"

// For row t, head h and i < hd/2, angle a = positions[t] * invFreq[i] (in double, as on the CPU):
//   out[i] = x[i] cos a - x[i + hd/2] sign sin a,  out[i + hd/2] = x[i + hd/2] cos a + x[i] sign sin a.
// sign = 1 is the forward (out may alias in: each thread owns its pair), sign = -1 with accumulate
// is the backward (out += rotated dout). out, in [N, heads * hd]; positions [N]; invFreq [hd / 2].
extern "C" __global__ void rope(float* out, const float* in, const int* __restrict__ positions, const float* __restrict__ invFreq,
                                int N, int heads, int hd, float sign, int accumulate) {
    int half = hd / 2;
    FOR_EACH(idx, (long long)N * heads * half) {
        int i = (int)(idx % half);
        long long th = idx / half;  // t * heads + h
        int t = (int)(th / heads);
        double angle = (double)positions[t] * (double)invFreq[i];
        float c = (float)cos(angle), s = sign * (float)sin(angle);
        long long at = th * hd + i;
        float a = in[at], b = in[at + half];
        float ra = a * c - b * s, rb = b * c + a * s;
        if (accumulate) {
            out[at] += ra;
            out[at + half] += rb;
        } else {
            out[at] = ra;
            out[at + half] = rb;
        }
    }
}
