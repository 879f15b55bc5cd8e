// Causal multi-head attention over ragged batches (sequences packed back to back, no padding),
// its backward, and decoding against a key/value cache, fused (no GEMM library involved). The
// same kernels serve GPT-2 (one key/value head per query head) and grouped-query attention (the
// Llama family: `group` consecutive query heads share one key/value head, query head h reads
// key/value head h / group).
//
// Work is cut into tiles of TILE query rows (forward, dq) of one sequence and one query head, or
// TILE key rows (dk, dv) of one sequence and one key/value head: grid (items, heads) where items
// [count, 2] = {sequence, first row of the tile}, built on the host. Blocks are WARPS warps; warp w owns the tile rows w, w + WARPS, ...;
// lane c owns column c of a TILE x TILE score tile. Each output element has one owning block and
// every sum has a fixed order, so the results are deterministic without atomics.
//
// seqInfo [S, 5] describes sequence s: {qRow0, nq, kRow0, shift, lastRowAt}
//   qRow0     row of its first query in q / out (and dout, dqkv)
//   nq        query rows (T for a full forward, the new tokens when decoding)
//   kRow0     row of its key 0 in k / v (the cache row of position 0 when decoding)
//   shift     keys before query row 0 (0 for a full forward, the cached length when decoding):
//             query row r sees keys 0 .. shift + r
//   lastRowAt where its last query row's probabilities go in each head's row of lastRowHeads, or -1
// attOffset [S]: start of sequence s's maps [NH, T, T] in att (full forward only; T = nq).
//
// Shared memory (dynamic, floats; kp = hs | 1 keeps rows read by different lanes in different banks):
//   forward, dq: 2 * TILE * kp + 2 * TILE * hs + TILE * (TILE + 1)
//   dkv:         2 * TILE * kp + 3 * TILE * hs + TILE * (TILE + 1) + TILE
#include "common.cuh"

#define TILE 32
#define WARPS 8
#define ROWS_PER_WARP (TILE / WARPS)
#define PSTRIDE (TILE + 1)

struct Seq {
    int qRow0, nq, kRow0, shift, lastRowAt;
};

__device__ __forceinline__ Seq seq_info(const int* info, int s) {
    const int* p = info + 5 * s;
    Seq q;
    q.qRow0 = p[0];
    q.nq = p[1];
    q.kRow0 = p[2];
    q.shift = p[3];
    q.lastRowAt = p[4];
    return q;
}

// dst[r * dstStride + d] = src[r * srcStride + d], r < rows, d < hs (coalesced along d).
__device__ __forceinline__ void load_rows(float* dst, int dstStride, const float* src, long long srcStride, int rows, int hs) {
    for (int idx = threadIdx.x; idx < rows * hs; idx += blockDim.x) {
        int r = idx / hs, d = idx - r * hs;
        dst[r * dstStride + d] = src[r * srcStride + d];
    }
}

// s[i] = a[warp + WARPS i] . b[lane] over hs, for the ROWS_PER_WARP rows this warp owns (row
// stride kp in both): each b element is loaded once for all of them. Rows or columns outside the
// tile hold stale values; callers mask their results.
__device__ __forceinline__ void warp_dots(float* s, const float* a, const float* b, int kp, int hs, int warp, int lane) {
    for (int i = 0; i < ROWS_PER_WARP; i++) s[i] = 0.0f;
    const float* bl = b + lane * kp;
    const float* aw = a + warp * kp;
    for (int d = 0; d < hs; d++) {
        float bd = bl[d];
        for (int i = 0; i < ROWS_PER_WARP; i++) s[i] = fmaf(aw[WARPS * i * kp + d], bd, s[i]);
    }
}

// acc[o * hs + d] += sum_{c < n} w(o, c) * x[c * xStride + d] for o < outs, d < hs, with
// w(o, c) = w[o * PSTRIDE + c] (query-side products: P v, dS k) or, TRANSPOSED, w[c * PSTRIDE + o]
// (key-side products: P^T dout, dS^T q). When blockDim.x is a multiple of hs (hs = 64 with 256
// threads), a thread owns one column d of up to 8 outputs and loads each x element once for all of
// them; otherwise one element at a time. The order of the sum over c is the same either way.
template <bool TRANSPOSED>
__device__ __forceinline__ void accumulate(float* acc, const float* w, const float* x, int xStride, int outs, int n, int hs) {
    int threads = blockDim.x;
    if (threads % hs == 0 && threads / hs * 8 >= TILE) {
        int d = threadIdx.x % hs, first = threadIdx.x / hs, step = threads / hs;
        float a[8];
#pragma unroll
        for (int k = 0; k < 8; k++) {
            int o = first + k * step;
            a[k] = o < outs ? acc[o * hs + d] : 0.0f;
        }
        for (int c = 0; c < n; c++) {
            float xv = x[c * xStride + d];
#pragma unroll
            for (int k = 0; k < 8; k++) {
                int o = first + k * step;
                if (o < outs) a[k] = fmaf(TRANSPOSED ? w[c * PSTRIDE + o] : w[o * PSTRIDE + c], xv, a[k]);
            }
        }
#pragma unroll
        for (int k = 0; k < 8; k++) {
            int o = first + k * step;
            if (o < outs) acc[o * hs + d] = a[k];
        }
        return;
    }
    for (int idx = threadIdx.x; idx < outs * hs; idx += threads) {
        int o = idx / hs, d = idx - o * hs;
        float a = acc[idx];
        for (int c = 0; c < n; c++) a = fmaf(TRANSPOSED ? w[c * PSTRIDE + o] : w[o * PSTRIDE + c], x[c * xStride + d], a);
        acc[idx] = a;
    }
}

__device__ __forceinline__ void zero(float* x, int n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = 0.0f;
}

// out [rows, outStride] (head h at columns h * hs) = softmax(q k^T * scale + causal mask) v, per
// query head h (blockIdx.y); q rows of stride qStride with head h at h * hs, k and v rows of
// stride kvStride with key/value head h / group at (h / group) * hs.
// att: null, or the full-forward maps (entries above the diagonal written as 0). lastRowHeads:
// null, or [NH, headStride]: each sequence's last query row per head at lastRowAt (see
// attention_last_row_mean). Two passes over the keys: row max and sum first (online), then the
// normalised probabilities, so the maps and the output agree exactly.
extern "C" __global__ void attention_forward(float* __restrict__ out, int outStride, const float* __restrict__ q, int qStride,
                                             const float* __restrict__ k, const float* __restrict__ v, int kvStride, int group,
                                             float* __restrict__ att, const long long* __restrict__ attOffset,
                                             float* __restrict__ lastRowHeads, long long headStride,
                                             const int* __restrict__ items, const int* __restrict__ seqInfo, int hs, float scale) {
    DYNAMIC_SHARED(float, smem);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.y;
    int s = items[2 * blockIdx.x], r0 = items[2 * blockIdx.x + 1];
    Seq sq = seq_info(seqInfo, s);
    int rows = min(TILE, sq.nq - r0);
    int keyEnd = sq.shift + r0 + rows;  // keys [0, keyEnd) are seen by some row of the tile
    int kp = hs | 1;
    float* sQ = smem;                   // [TILE, kp]
    float* sK = sQ + TILE * kp;         // [TILE, kp]
    float* sV = sK + TILE * kp;         // [TILE, hs]
    float* sP = sV + TILE * hs;         // [TILE, PSTRIDE] probabilities of the current key tile
    float* sO = sP + TILE * PSTRIDE;    // [TILE, hs] output accumulators

    load_rows(sQ, kp, q + (long long)(sq.qRow0 + r0) * qStride + h * hs, qStride, rows, hs);
    const float* kSeq = k + (long long)sq.kRow0 * kvStride + h / group * hs;
    const float* vSeq = v + (long long)sq.kRow0 * kvStride + h / group * hs;

    // pass 1: running max and sum of exp per row (lane-replicated registers of the owning warp)
    float m[ROWS_PER_WARP], l[ROWS_PER_WARP];
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    for (int k0 = 0; k0 < keyEnd; k0 += TILE) {
        int kn = min(TILE, keyEnd - k0);
        __syncthreads();
        load_rows(sK, kp, kSeq + (long long)k0 * kvStride, kvStride, kn, hs);
        __syncthreads();
        float dots[ROWS_PER_WARP];
        warp_dots(dots, sQ, sK, kp, hs, warp, lane);
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            int r = warp + WARPS * i;
            if (r >= rows) break;  // warp-uniform
            int j = k0 + lane;
            float sc = lane < kn && j <= sq.shift + r0 + r ? dots[i] * scale : -INFINITY;
            float newMax = fmaxf(m[i], warp_max(sc));  // finite: key 0 is in tile 0 and every row sees it
            float tileSum = warp_sum(sc == -INFINITY ? 0.0f : expf(sc - newMax));
            l[i] = (m[i] == -INFINITY ? 0.0f : l[i] * expf(m[i] - newMax)) + tileSum;
            m[i] = newMax;
        }
    }

    // pass 2: probabilities (written to the maps), output = P v
    float inv[ROWS_PER_WARP];
    for (int i = 0; i < ROWS_PER_WARP; i++) inv[i] = 1.0f / l[i];
    zero(sO, TILE * hs);
    long long attRow0 = att ? attOffset[s] + ((long long)h * sq.nq + r0) * sq.nq : 0;
    bool captureLast = lastRowHeads && sq.lastRowAt >= 0 && r0 + rows == sq.nq;
    for (int k0 = 0; k0 < keyEnd; k0 += TILE) {
        int kn = min(TILE, keyEnd - k0);
        __syncthreads();
        load_rows(sK, kp, kSeq + (long long)k0 * kvStride, kvStride, kn, hs);
        load_rows(sV, hs, vSeq + (long long)k0 * kvStride, kvStride, kn, hs);
        __syncthreads();
        float dots[ROWS_PER_WARP];
        warp_dots(dots, sQ, sK, kp, hs, warp, lane);
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            int r = warp + WARPS * i;
            if (r >= rows) break;
            int j = k0 + lane;
            float p = lane < kn && j <= sq.shift + r0 + r ? expf(dots[i] * scale - m[i]) * inv[i] : 0.0f;
            sP[r * PSTRIDE + lane] = p;
            if (lane < kn) {
                if (att) att[attRow0 + (long long)r * sq.nq + j] = p;
                if (captureLast && r == rows - 1) lastRowHeads[h * headStride + sq.lastRowAt + j] = p;
            }
        }
        __syncthreads();
        accumulate<false>(sO, sP, sV, hs, rows, kn, hs);
    }
    if (att) {  // the rest of each map row lies above the diagonal
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            int r = warp + WARPS * i;
            if (r >= rows) break;
            for (int j = keyEnd + lane; j < sq.nq; j += 32) att[attRow0 + (long long)r * sq.nq + j] = 0.0f;
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < rows * hs; idx += blockDim.x) {
        int r = idx / hs, d = idx - r * hs;
        out[(long long)(sq.qRow0 + r0 + r) * outStride + h * hs + d] = sO[idx];
    }
}

// dst[dstAt + j] = mean over the NH heads of heads[h * headStride + srcAt + j], j < length, with
// rowInfo [S, 3] = {srcAt, dstAt, length} per captured sequence. grid (S, ceil(max length / blockDim.x)).
extern "C" __global__ void attention_last_row_mean(float* __restrict__ dst, const float* __restrict__ heads,
                                                   const int* __restrict__ rowInfo, int NH, long long headStride) {
    const int* p = rowInfo + 3 * blockIdx.x;
    int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= p[2]) return;
    float sum = 0;
    for (int h = 0; h < NH; h++) sum += heads[h * headStride + p[0] + j];
    dst[p[1] + j] = sum / NH;
}

// Backward, part 1 of 2 (full forward only), per query tile of query head h (blockIdx.y):
//   g[r, j] = dout_r . v_j,  D_r = sum_j P[r, j] g[r, j]       (saved to dscratch [heads, N] for part 2)
//   dq_r += scale * sum_j P[r, j] (g[r, j] - D_r) k_j
// dq rows of stride qStride and dout rows of stride outStride hold head h at h * hs; k and v rows
// of stride kvStride hold key/value head h / group at (h / group) * hs (GPT-2: dq, k, v are the
// thirds of dqkv / qkv [N, 3C], outStride C, group 1).
extern "C" __global__ void attention_backward_dq(float* __restrict__ dq, int qStride, const float* __restrict__ dout, int outStride,
                                                 const float* __restrict__ k, const float* __restrict__ v, int kvStride, int group,
                                                 const float* __restrict__ att, const long long* __restrict__ attOffset,
                                                 float* __restrict__ dscratch, int N, const int* __restrict__ items,
                                                 const int* __restrict__ seqInfo, int hs, float scale) {
    DYNAMIC_SHARED(float, smem);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.y;
    int s = items[2 * blockIdx.x], r0 = items[2 * blockIdx.x + 1];
    Seq sq = seq_info(seqInfo, s);
    int T = sq.nq, rows = min(TILE, T - r0), keyEnd = r0 + rows;
    int kp = hs | 1;
    float* sDO = smem;                  // [TILE, kp]
    float* sV = sDO + TILE * kp;        // [TILE, kp]
    float* sK = sV + TILE * kp;         // [TILE, hs]
    float* sP = sK + TILE * hs;         // [TILE, PSTRIDE]
    float* sA = sP + TILE * PSTRIDE;    // [TILE, hs] dq accumulators

    load_rows(sDO, kp, dout + (long long)(sq.qRow0 + r0) * outStride + h * hs, outStride, rows, hs);
    const float* kSeq = k + (long long)sq.qRow0 * kvStride + h / group * hs;
    const float* vSeq = v + (long long)sq.qRow0 * kvStride + h / group * hs;
    const float* attRows = att + attOffset[s] + ((long long)h * T + r0) * T;

    float D[ROWS_PER_WARP];
    for (int i = 0; i < ROWS_PER_WARP; i++) D[i] = 0.0f;
    for (int k0 = 0; k0 < keyEnd; k0 += TILE) {
        int kn = min(TILE, keyEnd - k0);
        __syncthreads();
        load_rows(sV, kp, vSeq + (long long)k0 * kvStride, kvStride, kn, hs);
        __syncthreads();
        float g[ROWS_PER_WARP];
        warp_dots(g, sDO, sV, kp, hs, warp, lane);
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            int r = warp + WARPS * i, j = k0 + lane;
            if (r < rows && lane < kn && j <= r0 + r) D[i] += attRows[(long long)r * T + j] * g[i];
        }
    }
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        int r = warp + WARPS * i;
        if (r >= rows) break;
        D[i] = warp_sum(D[i]);
        if (lane == 0) dscratch[(long long)h * N + sq.qRow0 + r0 + r] = D[i];
    }

    zero(sA, TILE * hs);
    for (int k0 = 0; k0 < keyEnd; k0 += TILE) {
        int kn = min(TILE, keyEnd - k0);
        __syncthreads();
        load_rows(sV, kp, vSeq + (long long)k0 * kvStride, kvStride, kn, hs);
        load_rows(sK, hs, kSeq + (long long)k0 * kvStride, kvStride, kn, hs);
        __syncthreads();
        float g[ROWS_PER_WARP];
        warp_dots(g, sDO, sV, kp, hs, warp, lane);
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            int r = warp + WARPS * i, j = k0 + lane;
            if (r >= rows) break;
            float dpre = 0.0f;
            if (lane < kn && j <= r0 + r) dpre = attRows[(long long)r * T + j] * (g[i] - D[i]) * scale;
            sP[r * PSTRIDE + lane] = dpre;
        }
        __syncthreads();
        accumulate<false>(sA, sP, sK, hs, rows, kn, hs);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < rows * hs; idx += blockDim.x) {
        int r = idx / hs, d = idx - r * hs;
        dq[(long long)(sq.qRow0 + r0 + r) * qStride + h * hs + d] += sA[idx];
    }
}

// Backward, part 2 of 2, per key tile [j0, j0 + TILE) (items hold the tile's first key row) of
// key/value head kh (blockIdx.y), over the query rows t >= j0 of each of its group query heads
// h = kh * group .. kh * group + group - 1 in turn, with D from part 1:
//   dv_j += sum_h sum_t P_h[t, j] dout_t,h
//   dk_j += scale * sum_h sum_t P_h[t, j] (dout_t,h . v_j - D_t,h) q_t,h
// One block owns the tile's dk and dv rows for the whole group, so the sum over the group needs
// no atomics and has a fixed order. q rows of stride qStride and dout rows of stride outStride
// hold query head h at h * hs; v, dk and dv rows of stride kvStride hold head kh at kh * hs.
extern "C" __global__ void attention_backward_dkv(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ q,
                                                  int qStride, const float* __restrict__ dout, int outStride,
                                                  const float* __restrict__ v, int kvStride, int group,
                                                  const float* __restrict__ att, const long long* __restrict__ attOffset,
                                                  const float* __restrict__ dscratch, int N, const int* __restrict__ items,
                                                  const int* __restrict__ seqInfo, int hs, float scale) {
    DYNAMIC_SHARED(float, smem);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, kh = blockIdx.y;
    int s = items[2 * blockIdx.x], j0 = items[2 * blockIdx.x + 1];
    Seq sq = seq_info(seqInfo, s);
    int T = sq.nq, kn = min(TILE, T - j0);
    int kp = hs | 1;
    float* sV = smem;                   // [TILE, kp] this block's values
    float* sDO = sV + TILE * kp;        // [TILE, kp]
    float* sQ = sDO + TILE * kp;        // [TILE, hs]
    float* sP = sQ + TILE * hs;         // [TILE, PSTRIDE] probabilities, then their gradients
    float* sD = sP + TILE * PSTRIDE;    // [TILE]
    float* sdK = sD + TILE;             // [TILE, hs]
    float* sdV = sdK + TILE * hs;       // [TILE, hs]

    load_rows(sV, kp, v + (long long)(sq.qRow0 + j0) * kvStride + kh * hs, kvStride, kn, hs);
    zero(sdK, 2 * TILE * hs);

    for (int h = kh * group; h < (kh + 1) * group; h++) {
        const float* attHead = att + attOffset[s] + (long long)h * T * T;
        for (int t0 = j0; t0 < T; t0 += TILE) {
            int qn = min(TILE, T - t0);
            __syncthreads();
            load_rows(sDO, kp, dout + (long long)(sq.qRow0 + t0) * outStride + h * hs, outStride, qn, hs);
            load_rows(sQ, hs, q + (long long)(sq.qRow0 + t0) * qStride + h * hs, qStride, qn, hs);
            if ((int)threadIdx.x < qn) sD[threadIdx.x] = dscratch[(long long)h * N + sq.qRow0 + t0 + threadIdx.x];
            __syncthreads();
            float p[ROWS_PER_WARP], g[ROWS_PER_WARP];
            warp_dots(g, sDO, sV, kp, hs, warp, lane);
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                int r = warp + WARPS * i, j = j0 + lane;
                p[i] = r < qn && lane < kn && j <= t0 + r ? attHead[(long long)(t0 + r) * T + j] : 0.0f;
                sP[r * PSTRIDE + lane] = p[i];
            }
            __syncthreads();
            accumulate<true>(sdV, sP, sDO, kp, kn, qn, hs);
            __syncthreads();
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                int r = warp + WARPS * i;
                sP[r * PSTRIDE + lane] = r < qn ? p[i] * (g[i] - sD[r]) * scale : 0.0f;
            }
            __syncthreads();
            accumulate<true>(sdK, sP, sQ, hs, kn, qn, hs);
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < kn * hs; idx += blockDim.x) {
        int c = idx / hs, d = idx - c * hs;
        long long row = (long long)(sq.qRow0 + j0 + c) * kvStride + kh * hs + d;
        dk[row] += sdK[idx];
        dv[row] += sdV[idx];
    }
}

// The keys and values of new rows into the KV cache: new row r goes to cache row rowDst[r]
// (= s * cacheCapacity + past[s] + i, computed on the host); k/v [rows, C], qkv [N, 3C].
extern "C" __global__ void kv_store(float* __restrict__ k, float* __restrict__ v, const float* __restrict__ qkv,
                                    const int* __restrict__ rowDst, int N, int C) {
    FOR_EACH(i, (long long)N * C) {
        long long r = i / C;
        int c = (int)(i - r * C);
        long long d = (long long)rowDst[r] * C + c;
        k[d] = qkv[r * 3 * C + C + c];
        v[d] = qkv[r * 3 * C + 2 * C + c];
    }
}

// Rows into a cache (grouped-query keys or values): new row r of rows [N, width] goes to cache row
// rowDst[r] (= s * cacheCapacity + past[s] + i, computed on the host).
extern "C" __global__ void rows_store(float* __restrict__ cache, const float* __restrict__ rows, const int* __restrict__ rowDst,
                                      int N, int width) {
    FOR_EACH(i, (long long)N * width) {
        long long r = i / width;
        int c = (int)(i - r * width);
        cache[(long long)rowDst[r] * width + c] = rows[i];
    }
}
