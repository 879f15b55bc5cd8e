package org.densify.core.cpu;

import static org.densify.core.cpu.VectorExp.exp;

import org.densify.core.BackendArguments;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.densify.core.Tensor;

/**
 * Causal attention of {@link VectorBackend}: GPT-2's multi-head attention over packed qkv and the
 * Llama family's grouped-query attention, for training (forward, backward) and against the KV cache.
 */
final class VectorAttention extends VectorOps {
    VectorAttention(CpuThreads threads) {
        super(threads);
    }

    // ---- attention ----------------------------------------------------------------------------
    //
    // attentionForward/Backward run one task per (sequence, head). The head's rows are copied into
    // float[] scratch (q, k, v as [rows, hsp], k or v also transposed as [hs, W]; hsp and W padded
    // with zeros to whole 2-vector blocks) and query rows are taken ROWS at a time: the 4-row by
    // 2-vector kernels keep 8 accumulators in registers and load each k/v vector once per 4 rows,
    // about 2.5x the speed of one row at a time.

    /** Query rows per block. */
    private static final int ROWS = 4;

    /**
     * Causal attention; one task per (sequence, head). out [N, C], att null or [NH, T_s, T_s] per
     * sequence, lastRow null or [N], qkv [N, 3C].
     */
    void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
        BackendArguments.heads(NH, C);
        BackendArguments.totalLength(seqLengths);
        MemorySegment o = seg(out), a = att == null ? null : seg(att), x = seg(qkv);
        int numSeq = seqLengths.length, hs = C / NH, hsp = roundUp(hs, 2 * VL);
        float scale = (float) (1 / Math.sqrt(hs));
        int[] starts = starts(seqLengths);
        long[] attStarts = attStarts(seqLengths, NH);
        float[][] lastRows = lastRow == null ? null : new float[numSeq * NH][];
        threads.forEach(numSeq * NH, task -> {
            int s = task / NH, h = task % NH, T = seqLengths[s], start = starts[s];
            if (T == 0) return;
            int W = roundUp(T, 2 * VL);
            float[] q = gatherHead(x, start, T, 3 * C, h * hs, hs, hsp);
            float[] kT = gatherHeadTransposed(x, start, T, 3 * C, C + h * hs, hs, W);
            float[] v = gatherHead(x, start, T, 3 * C, 2 * C + h * hs, hs, hsp);
            float[] p = new float[ROWS * W], o4 = new float[ROWS * hsp];
            for (int t0 = 0; t0 < T; t0 += ROWS) {
                int keys = Math.min(t0 + ROWS, T), width = roundUp(keys, 2 * VL);
                scoreBlock(q, t0 * hsp, hsp, hs, kT, W, width, scale, p, W);
                for (int r = 0; r < ROWS; r++) {
                    int t = t0 + r, row = r * W;
                    if (t >= T) { // padding row: weight 0 for every key
                        Arrays.fill(p, row, row + width, 0f);
                        continue;
                    }
                    Arrays.fill(p, row + t + 1, row + width, Float.NEGATIVE_INFINITY);
                    softmaxInPlace(p, row, width);
                    if (a != null) {
                        long attRow = attStarts[s] + ((long) h * T + t) * T;
                        MemorySegment.copy(p, row, a, F, attRow * 4, t + 1);
                        a.asSlice((attRow + t + 1) * 4, (long) (T - t - 1) * 4).fill((byte) 0);
                    }
                    if (lastRows != null && t == T - 1) lastRows[task] = Arrays.copyOfRange(p, row, row + T);
                }
                weightedBlock(p, W, keys, v, hsp, hsp, o4, hsp);
                for (int r = 0; r < ROWS && t0 + r < T; r++) {
                    MemorySegment.copy(o4, r * hsp, o, F, ((long) (start + t0 + r) * C + h * hs) * 4, hs);
                }
            }
        });
        if (lastRow != null) {
            MemorySegment last = seg(lastRow);
            for (int s = 0; s < numSeq; s++) {
                if (seqLengths[s] > 0) writeHeadMean(last, starts[s], lastRows, s * NH, NH, seqLengths[s]);
            }
        }
    }

    /**
     * dqkv [N, 3C] += from dout [N, C]; one task per (sequence, head). The head's dk and dv
     * accumulate in scratch over query blocks in order, then are added into dqkv.
     */
    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
        BackendArguments.heads(NH, C);
        BackendArguments.totalLength(seqLengths);
        MemorySegment dx = seg(dqkv), dy = seg(dout), x = seg(qkv), a = seg(att);
        int numSeq = seqLengths.length, hs = C / NH, hsp = roundUp(hs, 2 * VL);
        float scale = (float) (1 / Math.sqrt(hs));
        int[] starts = starts(seqLengths);
        long[] attStarts = attStarts(seqLengths, NH);
        threads.forEach(numSeq * NH, task -> {
            int s = task / NH, h = task % NH, T = seqLengths[s], start = starts[s];
            if (T == 0) return;
            int W = roundUp(T, 2 * VL);
            float[] q = gatherHead(x, start, T, 3 * C, h * hs, hs, hsp);
            float[] k = gatherHead(x, start, T, 3 * C, C + h * hs, hs, hsp);
            float[] vT = gatherHeadTransposed(x, start, T, 3 * C, 2 * C + h * hs, hs, W);
            float[] g = gatherHead(dy, start, T, C, h * hs, hs, hsp);
            float[] dk = new float[T * hsp], dv = new float[T * hsp], dq4 = new float[ROWS * hsp];
            float[] p = new float[ROWS * W], dpre = new float[ROWS * W];
            for (int t0 = 0; t0 < T; t0 += ROWS) {
                int keys = Math.min(t0 + ROWS, T), width = roundUp(keys, 2 * VL);
                for (int r = 0; r < ROWS; r++) {
                    int t = t0 + r, row = r * W, L = t < T ? t + 1 : 0; // padding rows get weight 0
                    if (L > 0) MemorySegment.copy(a, F, (attStarts[s] + ((long) h * T + t) * T) * 4, p, row, L);
                    Arrays.fill(p, row + L, row + width, 0f);
                }
                // datt = dout_t . v_j; softmax backward dpre = p * (datt - p . datt), times the score scale
                scoreBlock(g, t0 * hsp, hsp, hs, vT, W, width, 1f, dpre, W);
                for (int row = 0; row < ROWS * W; row += W) {
                    FloatVector acc = FloatVector.zero(S);
                    for (int j = row; j < row + width; j += VL) {
                        acc = FloatVector.fromArray(S, p, j).fma(FloatVector.fromArray(S, dpre, j), acc);
                    }
                    float pDotDatt = sumLanes(acc);
                    for (int j = row; j < row + width; j += VL) {
                        FloatVector.fromArray(S, dpre, j).sub(pDotDatt).mul(FloatVector.fromArray(S, p, j)).mul(scale)
                                .intoArray(dpre, j);
                    }
                }
                weightedBlock(dpre, W, keys, k, hsp, hsp, dq4, hsp);
                for (int r = 0; r < ROWS && t0 + r < T; r++) addInto(dx, (long) (start + t0 + r) * 3 * C + h * hs, dq4, r * hsp, hs);
                addOuterBlock(dk, dpre, W, keys, q, t0 * hsp, hsp, hsp);
                addOuterBlock(dv, p, W, keys, g, t0 * hsp, hsp, hsp);
            }
            for (int t = 0; t < T; t++) {
                long row = (long) (start + t) * 3 * C;
                addInto(dx, row + C + h * hs, dk, t * hsp, hs);
                addInto(dx, row + 2L * C + h * hs, dv, t * hsp, hs);
            }
        });
    }

    /**
     * Attention of new rows against the key/value cache. out [N, C], q rows of stride qStride,
     * caches [numSeq, cacheCapacity, C], lastRow null or [numSeq, cacheCapacity].
     *
     * <p>Decoding is bound by reading the cache, so each task walks whole cache rows for a group of
     * heads (streaming a row is about twice as fast as reading one head's 256 bytes of it) and reads
     * each k and v once: one task per (sequence, head group), with just enough groups to occupy the
     * threads. The grouping decides only which task computes a head, never its arithmetic, so the
     * bits do not depend on the thread count.
     */
    void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
                         int[] past, int[] count, int NH, int C, Tensor lastRow) {
        BackendArguments.heads(NH, C);
        BackendArguments.cache(past, count, cacheCapacity, qStride, C);
        MemorySegment o = seg(out), x = seg(q), kc = seg(kCache), vc = seg(vCache);
        int numSeq = past.length, hs = C / NH;
        float scale = (float) (1 / Math.sqrt(hs));
        int[] rowStarts = starts(count);
        int headsPerTask = ceilDiv(NH, Math.min(NH, ceilDiv(2 * threads.threads(), Math.max(1, numSeq))));
        int groups = ceilDiv(NH, headsPerTask);
        float[][] lastRows = lastRow == null ? null : new float[numSeq * NH][];
        threads.forEach(numSeq * groups, task -> {
            int s = task / groups, h0 = task % groups * headsPerTask, heads = Math.min(NH, h0 + headsPerTask) - h0, n = count[s];
            if (n == 0) return;
            int width = heads * hs, pStride = roundUp(past[s] + n, VL);
            long cacheStart = (long) s * cacheCapacity * C + h0 * hs;
            float[] qRow = new float[width], p = new float[heads * pStride], o1 = new float[width], tile = new float[4 * VL];
            for (int i = 0; i < n; i++) {
                long row = rowStarts[s] + i;
                int L = past[s] + i + 1, Lp = roundUp(L, VL);
                MemorySegment.copy(x, F, (row * qStride + h0 * hs) * 4, qRow, 0, width);
                scoresAgainstRows(qRow, heads, hs, kc, cacheStart, C, L, scale, p, pStride, tile);
                for (int h = 0; h < heads; h++) {
                    Arrays.fill(p, h * pStride + L, h * pStride + Lp, Float.NEGATIVE_INFINITY);
                    softmaxInPlace(p, h * pStride, Lp);
                }
                weightedRows(p, pStride, heads, hs, L, vc, cacheStart, C, o1);
                MemorySegment.copy(o1, 0, o, F, (row * C + h0 * hs) * 4, width);
                if (lastRows != null && i == n - 1) {
                    for (int h = 0; h < heads; h++) lastRows[s * NH + h0 + h] = Arrays.copyOfRange(p, h * pStride, h * pStride + L);
                }
            }
        });
        if (lastRow != null) {
            MemorySegment last = seg(lastRow);
            for (int s = 0; s < numSeq; s++) {
                if (count[s] > 0) writeHeadMean(last, (long) s * cacheCapacity, lastRows, s * NH, NH, past[s] + count[s]);
            }
        }
    }

    /**
     * Scores of consecutive heads against cached rows: {@code p[h * pStride + j] = scale * (q_h . k_{j,h})}
     * for h < heads, j < L, where q_h = q[h * hs ..] and k_{j,h} = k[base + j * stride + h * hs ..].
     * Four rows at a time, heads inner, so the rows are read front to back; the four dot products of
     * a head run as independent fma chains and their lanes are summed in order from a scratch tile.
     */
    private static void scoresAgainstRows(float[] q, int heads, int hs, MemorySegment k, long base, long stride, int L,
                                          float scale, float[] p, int pStride, float[] tile) {
        int j = 0;
        for (; j <= L - 4; j += 4) {
            long k0 = base + j * stride, k1 = k0 + stride, k2 = k1 + stride, k3 = k2 + stride;
            for (int h = 0, c = 0; h < heads; h++, c += hs) {
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                int d = c;
                for (; d <= c + hs - VL; d += VL) {
                    FloatVector qv = FloatVector.fromArray(S, q, d);
                    a0 = load(k, k0 + d).fma(qv, a0);
                    a1 = load(k, k1 + d).fma(qv, a1);
                    a2 = load(k, k2 + d).fma(qv, a2);
                    a3 = load(k, k3 + d).fma(qv, a3);
                }
                a0.intoArray(tile, 0);
                a1.intoArray(tile, VL);
                a2.intoArray(tile, 2 * VL);
                a3.intoArray(tile, 3 * VL);
                for (int r = 0; r < 4; r++) {
                    float sum = 0;
                    for (int l = 0; l < VL; l++) sum += tile[r * VL + l];
                    long at = k0 + r * stride;
                    for (int e = d; e < c + hs; e++) sum = Math.fma(q[e], k.getAtIndex(F, at + e), sum);
                    p[h * pStride + j + r] = sum * scale;
                }
            }
        }
        for (; j < L; j++) {
            for (int h = 0, c = 0; h < heads; h++, c += hs) p[h * pStride + j] = dot(q, c, k, base + j * stride + c, hs) * scale;
        }
    }

    /**
     * Weighted sums of cached rows for consecutive heads: {@code out[h * hs + d] = sum_{j < L} p[h * pStride + j]
     * * v[base + j * stride + h * hs + d]}, keys added in order, four rows read at a time front to back.
     */
    private static void weightedRows(float[] p, int pStride, int heads, int hs, int L, MemorySegment v, long base, long stride,
                                     float[] out) {
        Arrays.fill(out, 0, heads * hs, 0f);
        int j = 0;
        for (; j <= L - 4; j += 4) {
            long v0 = base + j * stride, v1 = v0 + stride, v2 = v1 + stride, v3 = v2 + stride;
            for (int h = 0, c = 0; h < heads; h++, c += hs) {
                int at = h * pStride + j;
                float p0 = p[at], p1 = p[at + 1], p2 = p[at + 2], p3 = p[at + 3];
                FloatVector w0 = FloatVector.broadcast(S, p0), w1 = FloatVector.broadcast(S, p1);
                FloatVector w2 = FloatVector.broadcast(S, p2), w3 = FloatVector.broadcast(S, p3);
                int d = c;
                for (; d <= c + hs - VL; d += VL) {
                    FloatVector acc = FloatVector.fromArray(S, out, d);
                    acc = load(v, v0 + d).fma(w0, acc);
                    acc = load(v, v1 + d).fma(w1, acc);
                    acc = load(v, v2 + d).fma(w2, acc);
                    acc = load(v, v3 + d).fma(w3, acc);
                    acc.intoArray(out, d);
                }
                for (; d < c + hs; d++) {
                    float acc = Math.fma(v.getAtIndex(F, v0 + d), p0, out[d]);
                    acc = Math.fma(v.getAtIndex(F, v1 + d), p1, acc);
                    acc = Math.fma(v.getAtIndex(F, v2 + d), p2, acc);
                    out[d] = Math.fma(v.getAtIndex(F, v3 + d), p3, acc);
                }
            }
        }
        for (; j < L; j++) {
            long v0 = base + j * stride;
            for (int h = 0, c = 0; h < heads; h++, c += hs) {
                float p0 = p[h * pStride + j];
                FloatVector w0 = FloatVector.broadcast(S, p0);
                int d = c;
                for (; d <= c + hs - VL; d += VL) load(v, v0 + d).fma(w0, FloatVector.fromArray(S, out, d)).intoArray(out, d);
                for (; d < c + hs; d++) out[d] = Math.fma(v.getAtIndex(F, v0 + d), p0, out[d]);
            }
        }
    }

    /** First row of each sequence (prefix sums of lengths). */
    private static int[] starts(int[] lengths) {
        int[] starts = new int[lengths.length];
        for (int s = 1; s < lengths.length; s++) starts[s] = starts[s - 1] + lengths[s - 1];
        return starts;
    }

    /** Offset of each sequence's [NH, T, T] block in att. */
    private static long[] attStarts(int[] lengths, int NH) {
        long[] starts = new long[lengths.length];
        for (int s = 1; s < lengths.length; s++) starts[s] = starts[s - 1] + (long) NH * lengths[s - 1] * lengths[s - 1];
        return starts;
    }

    /** One head's slice of T rows as [roundUp(T, ROWS), hsp]: {@code [t * hsp + d] = src[(start + t) * stride + col + d]}, zero padded. */
    private static float[] gatherHead(MemorySegment src, int start, int T, int stride, int col, int hs, int hsp) {
        float[] dst = new float[roundUp(T, ROWS) * hsp];
        for (int t = 0; t < T; t++) MemorySegment.copy(src, F, ((long) (start + t) * stride + col) * 4, dst, t * hsp, hs);
        return dst;
    }

    /** One head's slice transposed, [hs, W]: {@code [d * W + t] = src[(start + t) * stride + col + d]}, zero padded. */
    private static float[] gatherHeadTransposed(MemorySegment src, int start, int T, int stride, int col, int hs, int W) {
        float[] dst = new float[hs * W], row = new float[hs];
        for (int t = 0; t < T; t++) {
            MemorySegment.copy(src, F, ((long) (start + t) * stride + col) * 4, row, 0, hs);
            for (int d = 0; d < hs; d++) dst[d * W + t] = row[d];
        }
        return dst;
    }

    /**
     * Four rows times columns: {@code scores[r * scoreStride + j] = scale * sum_{d < hs} rows[rowOff + r * rowStride + d]
     * * colsT[d * colStride + j]} for r < 4, j < width (a multiple of 2 VL).
     */
    private static void scoreBlock(float[] rows, int rowOff, int rowStride, int hs, float[] colsT, int colStride, int width,
                                   float scale, float[] scores, int scoreStride) {
        int r1 = rowOff + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride;
        for (int j = 0; j < width; j += 2 * VL) {
            FloatVector s00 = FloatVector.zero(S), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
            for (int d = 0, c = j; d < hs; d++, c += colStride) {
                FloatVector k0 = FloatVector.fromArray(S, colsT, c), k1 = FloatVector.fromArray(S, colsT, c + VL);
                FloatVector x = FloatVector.broadcast(S, rows[rowOff + d]);
                s00 = k0.fma(x, s00);
                s01 = k1.fma(x, s01);
                x = FloatVector.broadcast(S, rows[r1 + d]);
                s10 = k0.fma(x, s10);
                s11 = k1.fma(x, s11);
                x = FloatVector.broadcast(S, rows[r2 + d]);
                s20 = k0.fma(x, s20);
                s21 = k1.fma(x, s21);
                x = FloatVector.broadcast(S, rows[r3 + d]);
                s30 = k0.fma(x, s30);
                s31 = k1.fma(x, s31);
            }
            s00.mul(scale).intoArray(scores, j);
            s01.mul(scale).intoArray(scores, j + VL);
            s10.mul(scale).intoArray(scores, scoreStride + j);
            s11.mul(scale).intoArray(scores, scoreStride + j + VL);
            s20.mul(scale).intoArray(scores, 2 * scoreStride + j);
            s21.mul(scale).intoArray(scores, 2 * scoreStride + j + VL);
            s30.mul(scale).intoArray(scores, 3 * scoreStride + j);
            s31.mul(scale).intoArray(scores, 3 * scoreStride + j + VL);
        }
    }

    /**
     * Four weighted sums of rows: {@code out[r * outStride + d] = sum_{j < count} w[r * wStride + j] * rows[j * rowStride + d]}
     * for r < 4, d < width (a multiple of 2 VL).
     */
    private static void weightedBlock(float[] w, int wStride, int count, float[] rows, int rowStride, int width,
                                      float[] out, int outStride) {
        for (int d = 0; d < width; d += 2 * VL) {
            FloatVector o00 = FloatVector.zero(S), o01 = o00, o10 = o00, o11 = o00, o20 = o00, o21 = o00, o30 = o00, o31 = o00;
            for (int j = 0, at = d; j < count; j++, at += rowStride) {
                FloatVector v0 = FloatVector.fromArray(S, rows, at), v1 = FloatVector.fromArray(S, rows, at + VL);
                FloatVector x = FloatVector.broadcast(S, w[j]);
                o00 = v0.fma(x, o00);
                o01 = v1.fma(x, o01);
                x = FloatVector.broadcast(S, w[wStride + j]);
                o10 = v0.fma(x, o10);
                o11 = v1.fma(x, o11);
                x = FloatVector.broadcast(S, w[2 * wStride + j]);
                o20 = v0.fma(x, o20);
                o21 = v1.fma(x, o21);
                x = FloatVector.broadcast(S, w[3 * wStride + j]);
                o30 = v0.fma(x, o30);
                o31 = v1.fma(x, o31);
            }
            o00.intoArray(out, d);
            o01.intoArray(out, d + VL);
            o10.intoArray(out, outStride + d);
            o11.intoArray(out, outStride + d + VL);
            o20.intoArray(out, 2 * outStride + d);
            o21.intoArray(out, 2 * outStride + d + VL);
            o30.intoArray(out, 3 * outStride + d);
            o31.intoArray(out, 3 * outStride + d + VL);
        }
    }

    /**
     * Four rank-1 updates, rows in order: {@code acc[j * stride + d] += sum_{r < 4} w[r * wStride + j] * x[xOff + r * stride + d]}
     * for j < count, d < width (a multiple of 2 VL).
     */
    private static void addOuterBlock(float[] acc, float[] w, int wStride, int count, float[] x, int xOff, int stride, int width) {
        for (int d = 0; d < width; d += 2 * VL) {
            int x0 = xOff + d, x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
            FloatVector x00 = FloatVector.fromArray(S, x, x0), x01 = FloatVector.fromArray(S, x, x0 + VL);
            FloatVector x10 = FloatVector.fromArray(S, x, x1), x11 = FloatVector.fromArray(S, x, x1 + VL);
            FloatVector x20 = FloatVector.fromArray(S, x, x2), x21 = FloatVector.fromArray(S, x, x2 + VL);
            FloatVector x30 = FloatVector.fromArray(S, x, x3), x31 = FloatVector.fromArray(S, x, x3 + VL);
            for (int j = 0, at = d; j < count; j++, at += stride) {
                FloatVector a0 = FloatVector.fromArray(S, acc, at), a1 = FloatVector.fromArray(S, acc, at + VL);
                FloatVector c = FloatVector.broadcast(S, w[j]);
                a0 = x00.fma(c, a0);
                a1 = x01.fma(c, a1);
                c = FloatVector.broadcast(S, w[wStride + j]);
                a0 = x10.fma(c, a0);
                a1 = x11.fma(c, a1);
                c = FloatVector.broadcast(S, w[2 * wStride + j]);
                a0 = x20.fma(c, a0);
                a1 = x21.fma(c, a1);
                c = FloatVector.broadcast(S, w[3 * wStride + j]);
                a0 = x30.fma(c, a0);
                a1 = x31.fma(c, a1);
                a0.intoArray(acc, at);
                a1.intoArray(acc, at + VL);
            }
        }
    }

    /** dst[at + d] += src[srcOff + d], d < n. */
    private static void addInto(MemorySegment dst, long at, float[] src, int srcOff, int n) {
        int d = 0;
        for (; d <= n - VL; d += VL) {
            load(dst, at + d).add(FloatVector.fromArray(S, src, srcOff + d)).intoMemorySegment(dst, (at + d) * 4, ORDER);
        }
        for (; d < n; d++) dst.setAtIndex(F, at + d, dst.getAtIndex(F, at + d) + src[srcOff + d]);
    }

    /** sum_d q[qOff + d] * k[at + d], d < hs, lanes summed in order as in {@link #scoresAgainstRows}. */
    private static float dot(float[] q, int qOff, MemorySegment k, long at, int hs) {
        FloatVector acc = FloatVector.zero(S);
        int d = 0;
        for (; d <= hs - VL; d += VL) acc = load(k, at + d).fma(FloatVector.fromArray(S, q, qOff + d), acc);
        float sum = sumLanes(acc);
        for (; d < hs; d++) sum = Math.fma(q[qOff + d], k.getAtIndex(F, at + d), sum);
        return sum;
    }

    /** p[off, off + width) = its softmax, in place; width a multiple of VL; -inf entries become exactly 0. */
    private static void softmaxInPlace(float[] p, int off, int width) {
        int end = off + width;
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int j = off; j < end; j += VL) mx = mx.max(FloatVector.fromArray(S, p, j));
        float max = mx.reduceLanes(VectorOperators.MAX); // exact in any order
        FloatVector sum = FloatVector.zero(S);
        for (int j = off; j < end; j += VL) {
            FloatVector e = exp(FloatVector.fromArray(S, p, j).sub(max));
            e.intoArray(p, j);
            sum = sum.add(e);
        }
        float inv = 1f / sumLanes(sum);
        for (int j = off; j < end; j += VL) FloatVector.fromArray(S, p, j).mul(inv).intoArray(p, j);
    }

    /** last[offset + j] = mean over heads of rows[first + h][j], j < length, heads added in order. */
    private static void writeHeadMean(MemorySegment last, long offset, float[][] rows, int first, int NH, int length) {
        for (int j = 0; j < length; j++) {
            float sum = 0;
            for (int h = 0; h < NH; h++) sum += rows[first + h][j];
            last.setAtIndex(F, offset + j, sum / NH);
        }
    }

    // ---- grouped-query attention (the Llama family) -------------------------------------------

    /**
     * Grouped-query causal attention; one task per (sequence, query head), the same blocked kernels
     * as {@link #attentionForward} with k and v read from the head's key/value group.
     */
    void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
                                 int[] seqLengths, int H, int KV, int hd) {
        BackendArguments.groupedHeads(H, KV, hd);
        BackendArguments.totalLength(seqLengths);
        MemorySegment o = seg(out), a = att == null ? null : seg(att), qs = seg(q), ks = seg(k), vs = seg(v);
        int numSeq = seqLengths.length, hsp = roundUp(hd, 2 * VL), group = H / KV, qWidth = H * hd, kvWidth = KV * hd;
        float scale = (float) (1 / Math.sqrt(hd));
        int[] starts = starts(seqLengths);
        long[] attStarts = attStarts(seqLengths, H);
        float[][] lastRows = lastRow == null ? null : new float[numSeq * H][];
        threads.forEach(numSeq * H, task -> {
            int s = task / H, h = task % H, T = seqLengths[s], start = starts[s], kvCol = h / group * hd;
            if (T == 0) return;
            int W = roundUp(T, 2 * VL);
            float[] qh = gatherHead(qs, start, T, qWidth, h * hd, hd, hsp);
            float[] kT = gatherHeadTransposed(ks, start, T, kvWidth, kvCol, hd, W);
            float[] vh = gatherHead(vs, start, T, kvWidth, kvCol, hd, hsp);
            float[] p = new float[ROWS * W], o4 = new float[ROWS * hsp];
            for (int t0 = 0; t0 < T; t0 += ROWS) {
                int keys = Math.min(t0 + ROWS, T), width = roundUp(keys, 2 * VL);
                scoreBlock(qh, t0 * hsp, hsp, hd, kT, W, width, scale, p, W);
                for (int r = 0; r < ROWS; r++) {
                    int t = t0 + r, row = r * W;
                    if (t >= T) {
                        Arrays.fill(p, row, row + width, 0f);
                        continue;
                    }
                    Arrays.fill(p, row + t + 1, row + width, Float.NEGATIVE_INFINITY);
                    softmaxInPlace(p, row, width);
                    if (a != null) {
                        long attRow = attStarts[s] + ((long) h * T + t) * T;
                        MemorySegment.copy(p, row, a, F, attRow * 4, t + 1);
                        a.asSlice((attRow + t + 1) * 4, (long) (T - t - 1) * 4).fill((byte) 0);
                    }
                    if (lastRows != null && t == T - 1) lastRows[task] = Arrays.copyOfRange(p, row, row + T);
                }
                weightedBlock(p, W, keys, vh, hsp, hsp, o4, hsp);
                for (int r = 0; r < ROWS && t0 + r < T; r++) {
                    MemorySegment.copy(o4, r * hsp, o, F, ((long) (start + t0 + r) * qWidth + h * hd) * 4, hd);
                }
            }
        });
        if (lastRow != null) {
            MemorySegment last = seg(lastRow);
            for (int s = 0; s < numSeq; s++) {
                if (seqLengths[s] > 0) writeHeadMean(last, starts[s], lastRows, s * H, H, seqLengths[s]);
            }
        }
    }

    /**
     * dq, dk, dv += from dout; one task per (sequence, key/value head), its query heads in order, so
     * that dk and dv of a group are summed by one task in a fixed order.
     */
    void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
                                  int[] seqLengths, int H, int KV, int hd) {
        BackendArguments.groupedHeads(H, KV, hd);
        BackendArguments.totalLength(seqLengths);
        MemorySegment dqs = seg(dq), dks = seg(dk), dvs = seg(dv), dy = seg(dout), qs = seg(q), ks = seg(k), vs = seg(v), a = seg(att);
        int numSeq = seqLengths.length, hsp = roundUp(hd, 2 * VL), group = H / KV, qWidth = H * hd, kvWidth = KV * hd;
        float scale = (float) (1 / Math.sqrt(hd));
        int[] starts = starts(seqLengths);
        long[] attStarts = attStarts(seqLengths, H);
        threads.forEach(numSeq * KV, task -> {
            int s = task / KV, kvh = task % KV, T = seqLengths[s], start = starts[s], kvCol = kvh * hd;
            if (T == 0) return;
            int W = roundUp(T, 2 * VL);
            float[] kh = gatherHead(ks, start, T, kvWidth, kvCol, hd, hsp);
            float[] vT = gatherHeadTransposed(vs, start, T, kvWidth, kvCol, hd, W);
            float[] dkh = new float[T * hsp], dvh = new float[T * hsp], dq4 = new float[ROWS * hsp];
            float[] p = new float[ROWS * W], dpre = new float[ROWS * W];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                float[] qh = gatherHead(qs, start, T, qWidth, h * hd, hd, hsp);
                float[] g = gatherHead(dy, start, T, qWidth, h * hd, hd, hsp);
                for (int t0 = 0; t0 < T; t0 += ROWS) {
                    int keys = Math.min(t0 + ROWS, T), width = roundUp(keys, 2 * VL);
                    for (int r = 0; r < ROWS; r++) {
                        int t = t0 + r, row = r * W, L = t < T ? t + 1 : 0;
                        if (L > 0) MemorySegment.copy(a, F, (attStarts[s] + ((long) h * T + t) * T) * 4, p, row, L);
                        Arrays.fill(p, row + L, row + width, 0f);
                    }
                    scoreBlock(g, t0 * hsp, hsp, hd, vT, W, width, 1f, dpre, W);
                    for (int row = 0; row < ROWS * W; row += W) {
                        FloatVector acc = FloatVector.zero(S);
                        for (int j = row; j < row + width; j += VL) {
                            acc = FloatVector.fromArray(S, p, j).fma(FloatVector.fromArray(S, dpre, j), acc);
                        }
                        float pDotDatt = sumLanes(acc);
                        for (int j = row; j < row + width; j += VL) {
                            FloatVector.fromArray(S, dpre, j).sub(pDotDatt).mul(FloatVector.fromArray(S, p, j)).mul(scale)
                                    .intoArray(dpre, j);
                        }
                    }
                    weightedBlock(dpre, W, keys, kh, hsp, hsp, dq4, hsp);
                    for (int r = 0; r < ROWS && t0 + r < T; r++) addInto(dqs, (long) (start + t0 + r) * qWidth + h * hd, dq4, r * hsp, hd);
                    addOuterBlock(dkh, dpre, W, keys, qh, t0 * hsp, hsp, hsp);
                    addOuterBlock(dvh, p, W, keys, g, t0 * hsp, hsp, hsp);
                }
            }
            for (int t = 0; t < T; t++) {
                long row = (long) (start + t) * kvWidth + kvCol;
                addInto(dks, row, dkh, t * hsp, hd);
                addInto(dvs, row, dvh, t * hsp, hd);
            }
        });
    }

    /** Grouped attention of new rows against the cache; one task per (sequence, key/value head), its query heads in order. */
    void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
                                int[] past, int[] count, int H, int KV, int hd, Tensor lastRow) {
        BackendArguments.groupedHeads(H, KV, hd);
        BackendArguments.cache(past, count, cacheCapacity, KV * hd, KV * hd);
        MemorySegment o = seg(out), qs = seg(q), kc = seg(kCache), vc = seg(vCache);
        int numSeq = past.length, group = H / KV, qWidth = H * hd, kvWidth = KV * hd;
        float scale = (float) (1 / Math.sqrt(hd));
        int[] rowStarts = starts(count);
        float[][] lastRows = lastRow == null ? null : new float[numSeq * H][];
        threads.forEach(numSeq * KV, task -> {
            int s = task / KV, kvh = task % KV, n = count[s];
            if (n == 0) return;
            int pStride = roundUp(past[s] + n, VL);
            long cacheStart = (long) s * cacheCapacity * kvWidth + (long) kvh * hd;
            float[] qRow = new float[hd], p = new float[pStride], o1 = new float[hd], tile = new float[4 * VL];
            for (int i = 0; i < n; i++) {
                long row = rowStarts[s] + i;
                int L = past[s] + i + 1, Lp = roundUp(L, VL);
                for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                    MemorySegment.copy(qs, F, (row * qWidth + (long) h * hd) * 4, qRow, 0, hd);
                    scoresAgainstRows(qRow, 1, hd, kc, cacheStart, kvWidth, L, scale, p, pStride, tile);
                    Arrays.fill(p, L, Lp, Float.NEGATIVE_INFINITY);
                    softmaxInPlace(p, 0, Lp);
                    weightedRows(p, pStride, 1, hd, L, vc, cacheStart, kvWidth, o1);
                    MemorySegment.copy(o1, 0, o, F, (row * qWidth + (long) h * hd) * 4, hd);
                    if (lastRows != null && i == n - 1) lastRows[s * H + h] = Arrays.copyOf(p, L);
                }
            }
        });
        if (lastRow != null) {
            MemorySegment last = seg(lastRow);
            for (int s = 0; s < numSeq; s++) {
                if (count[s] > 0) writeHeadMean(last, (long) s * cacheCapacity, lastRows, s * H, H, past[s] + count[s]);
            }
        }
    }
}
