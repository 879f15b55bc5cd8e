package org.densify.core.cpu;

import static org.densify.core.cpu.ScalarOps.addAt;

import org.densify.core.BackendArguments;
import org.densify.core.Tensor;

/**
 * Causal attention of {@link ScalarBackend}: GPT-2's multi-head attention over packed qkv and the
 * Llama family's grouped-query attention, for training (forward, backward) and against the KV cache.
 */
final class ScalarAttention {
    private ScalarAttention() {
    }

    // ---- attention ----------------------------------------------------------------------------

    /** out [N, C], att [NH, T_s, T_s] per sequence or null, lastRow [N] or null, qkv [N, 3C]. */
    static void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
        BackendArguments.heads(NH, C);
        BackendArguments.totalLength(seqLengths);
        CpuTensor o = CpuTensor.of(out), a = CpuTensor.ofNullable(att), last = CpuTensor.ofNullable(lastRow);
        CpuTensor x = CpuTensor.of(qkv);
        int hs = C / NH;
        double scale = 1 / Math.sqrt(hs);
        long start = 0, attStart = 0;
        for (int T : seqLengths) {
            double[] lastSum = new double[T];
            for (int h = 0; h < NH; h++) {
                long qOff = h * hs, kOff = C + h * hs, vOff = 2L * C + h * hs;
                for (int t = 0; t < T; t++) {
                    long qRow = (start + t) * 3 * C;
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        long kRow = (start + t2) * 3 * C;
                        double dot = 0;
                        for (int d = 0; d < hs; d++) dot += (double) x.get(qRow + qOff + d) * x.get(kRow + kOff + d);
                        p[t2] = dot * scale;
                        max = Math.max(max, p[t2]);
                    }
                    softmaxInPlace(p, max);
                    if (a != null) {
                        long attRow = attStart + ((long) h * T + t) * T;
                        for (int t2 = 0; t2 < T; t2++) a.set(attRow + t2, t2 <= t ? (float) p[t2] : 0f);
                    }
                    if (t == T - 1) for (int t2 = 0; t2 < T; t2++) lastSum[t2] += p[t2];
                    for (int d = 0; d < hs; d++) {
                        double sum = 0;
                        for (int t2 = 0; t2 <= t; t2++) sum += p[t2] * x.get((start + t2) * 3 * C + vOff + d);
                        o.set((start + t) * C + qOff + d, (float) sum);
                    }
                }
            }
            if (last != null) for (int t2 = 0; t2 < T; t2++) last.set(start + t2, (float) (lastSum[t2] / NH));
            start += T;
            attStart += (long) NH * T * T;
        }
    }

    /** dqkv [N, 3C] += from dout [N, C], with the forward's qkv [N, 3C] and att. */
    static void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
        BackendArguments.heads(NH, C);
        BackendArguments.totalLength(seqLengths);
        CpuTensor dx = CpuTensor.of(dqkv), dy = CpuTensor.of(dout), x = CpuTensor.of(qkv), a = CpuTensor.of(att);
        int hs = C / NH;
        double scale = 1 / Math.sqrt(hs);
        long start = 0, attStart = 0;
        for (int T : seqLengths) {
            for (int h = 0; h < NH; h++) {
                long qOff = h * hs, kOff = C + h * hs, vOff = 2L * C + h * hs;
                double[][] dk = new double[T][hs], dv = new double[T][hs];
                for (int t = 0; t < T; t++) {
                    long attRow = attStart + ((long) h * T + t) * T;
                    long row = (start + t) * 3 * C;
                    // datt = dout_t . v_t2, and dv_t2 += att[t, t2] * dout_t
                    double[] datt = new double[t + 1];
                    for (int t2 = 0; t2 <= t; t2++) {
                        long row2 = (start + t2) * 3 * C;
                        double p = a.get(attRow + t2);
                        for (int d = 0; d < hs; d++) {
                            double g = dy.get((start + t) * C + qOff + d);
                            datt[t2] += g * x.get(row2 + vOff + d);
                            dv[t2][d] += p * g;
                        }
                    }
                    // softmax backward: dpre = p * (datt - sum(p * datt))
                    double pDotDatt = 0;
                    for (int t2 = 0; t2 <= t; t2++) pDotDatt += a.get(attRow + t2) * datt[t2];
                    double[] dq = new double[hs];
                    for (int t2 = 0; t2 <= t; t2++) {
                        long row2 = (start + t2) * 3 * C;
                        double dpre = a.get(attRow + t2) * (datt[t2] - pDotDatt) * scale;
                        for (int d = 0; d < hs; d++) {
                            dq[d] += dpre * x.get(row2 + kOff + d);
                            dk[t2][d] += dpre * x.get(row + qOff + d);
                        }
                    }
                    for (int d = 0; d < hs; d++) addAt(dx, row + qOff + d, dq[d]);
                }
                for (int t2 = 0; t2 < T; t2++) {
                    long row2 = (start + t2) * 3 * C;
                    for (int d = 0; d < hs; d++) {
                        addAt(dx, row2 + kOff + d, dk[t2][d]);
                        addAt(dx, row2 + vOff + d, dv[t2][d]);
                    }
                }
            }
            start += T;
            attStart += (long) NH * T * T;
        }
    }

    /** out [N, C] for the new rows of q (stride qStride) against kCache/vCache [numSeq, cacheCapacity, C]. */
    static void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
                                int[] past, int[] count, int NH, int C, Tensor lastRow) {
        BackendArguments.heads(NH, C);
        BackendArguments.cache(past, count, cacheCapacity, qStride, C);
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(q), kc = CpuTensor.of(kCache), vc = CpuTensor.of(vCache);
        CpuTensor last = CpuTensor.ofNullable(lastRow);
        int hs = C / NH;
        double scale = 1 / Math.sqrt(hs);
        long row = 0;
        for (int s = 0; s < past.length; s++) {
            int total = past[s] + count[s];
            long cacheStart = (long) s * cacheCapacity * C;
            double[] lastSum = new double[total];
            for (int i = 0; i < count[s]; i++, row++) {
                int L = past[s] + i + 1;
                for (int h = 0; h < NH; h++) {
                    double[] p = new double[L];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < L; j++) {
                        double dot = 0;
                        for (int d = 0; d < hs; d++) {
                            dot += (double) x.get(row * qStride + h * hs + d) * kc.get(cacheStart + (long) j * C + h * hs + d);
                        }
                        p[j] = dot * scale;
                        max = Math.max(max, p[j]);
                    }
                    softmaxInPlace(p, max);
                    if (i == count[s] - 1) for (int j = 0; j < L; j++) lastSum[j] += p[j];
                    for (int d = 0; d < hs; d++) {
                        double sum = 0;
                        for (int j = 0; j < L; j++) sum += p[j] * vc.get(cacheStart + (long) j * C + h * hs + d);
                        o.set(row * C + h * hs + d, (float) sum);
                    }
                }
            }
            if (last != null && count[s] > 0) {
                for (int j = 0; j < total; j++) last.set((long) s * cacheCapacity + j, (float) (lastSum[j] / NH));
            }
        }
    }

    private static void softmaxInPlace(double[] p, double max) {
        double sum = 0;
        for (int j = 0; j < p.length; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
        }
        for (int j = 0; j < p.length; j++) p[j] /= sum;
    }

    // ---- grouped-query attention (the Llama family) -------------------------------------------

    /** out, q [N, H * hd]; k, v [N, KV * hd]; att [H, T_s, T_s] per sequence or null; lastRow [N] or null. */
    static void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
                                        int[] seqLengths, int H, int KV, int hd) {
        BackendArguments.groupedHeads(H, KV, hd);
        BackendArguments.totalLength(seqLengths);
        CpuTensor o = CpuTensor.of(out), a = CpuTensor.ofNullable(att), last = CpuTensor.ofNullable(lastRow);
        CpuTensor qs = CpuTensor.of(q), ks = CpuTensor.of(k), vs = CpuTensor.of(v);
        int group = H / KV;
        long qWidth = (long) H * hd, kvWidth = (long) KV * hd;
        double scale = 1 / Math.sqrt(hd);
        long start = 0, attStart = 0;
        for (int T : seqLengths) {
            double[] lastSum = new double[T];
            for (int h = 0; h < H; h++) {
                long qOff = (long) h * hd, kvOff = (long) (h / group) * hd;
                for (int t = 0; t < T; t++) {
                    long qRow = (start + t) * qWidth;
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        long kRow = (start + t2) * kvWidth;
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += (double) qs.get(qRow + qOff + d) * ks.get(kRow + kvOff + d);
                        p[t2] = dot * scale;
                        max = Math.max(max, p[t2]);
                    }
                    softmaxInPlace(p, max);
                    if (a != null) {
                        long attRow = attStart + ((long) h * T + t) * T;
                        for (int t2 = 0; t2 < T; t2++) a.set(attRow + t2, t2 <= t ? (float) p[t2] : 0f);
                    }
                    if (t == T - 1) for (int t2 = 0; t2 < T; t2++) lastSum[t2] += p[t2];
                    for (int d = 0; d < hd; d++) {
                        double sum = 0;
                        for (int t2 = 0; t2 <= t; t2++) sum += p[t2] * vs.get((start + t2) * kvWidth + kvOff + d);
                        o.set(qRow + qOff + d, (float) sum);
                    }
                }
            }
            if (last != null) for (int t2 = 0; t2 < T; t2++) last.set(start + t2, (float) (lastSum[t2] / H));
            start += T;
            attStart += (long) H * T * T;
        }
    }

    /** dq [N, H * hd], dk, dv [N, KV * hd] += from dout [N, H * hd]. */
    static void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
                                         int[] seqLengths, int H, int KV, int hd) {
        BackendArguments.groupedHeads(H, KV, hd);
        BackendArguments.totalLength(seqLengths);
        CpuTensor dqs = CpuTensor.of(dq), dks = CpuTensor.of(dk), dvs = CpuTensor.of(dv), dy = CpuTensor.of(dout);
        CpuTensor qs = CpuTensor.of(q), ks = CpuTensor.of(k), vs = CpuTensor.of(v), a = CpuTensor.of(att);
        int group = H / KV;
        long qWidth = (long) H * hd, kvWidth = (long) KV * hd;
        double scale = 1 / Math.sqrt(hd);
        long start = 0, attStart = 0;
        for (int T : seqLengths) {
            for (int kvh = 0; kvh < KV; kvh++) {
                long kvOff = (long) kvh * hd;
                double[][] dkSum = new double[T][hd], dvSum = new double[T][hd];
                for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                    long qOff = (long) h * hd;
                    for (int t = 0; t < T; t++) {
                        long attRow = attStart + ((long) h * T + t) * T;
                        long qRow = (start + t) * qWidth;
                        double[] datt = new double[t + 1];
                        for (int t2 = 0; t2 <= t; t2++) {
                            long kvRow = (start + t2) * kvWidth;
                            double p = a.get(attRow + t2);
                            for (int d = 0; d < hd; d++) {
                                double g = dy.get(qRow + qOff + d);
                                datt[t2] += g * vs.get(kvRow + kvOff + d);
                                dvSum[t2][d] += p * g;
                            }
                        }
                        double pDotDatt = 0;
                        for (int t2 = 0; t2 <= t; t2++) pDotDatt += a.get(attRow + t2) * datt[t2];
                        double[] dqRow = new double[hd];
                        for (int t2 = 0; t2 <= t; t2++) {
                            long kvRow = (start + t2) * kvWidth;
                            double dpre = a.get(attRow + t2) * (datt[t2] - pDotDatt) * scale;
                            for (int d = 0; d < hd; d++) {
                                dqRow[d] += dpre * ks.get(kvRow + kvOff + d);
                                dkSum[t2][d] += dpre * qs.get(qRow + qOff + d);
                            }
                        }
                        for (int d = 0; d < hd; d++) addAt(dqs, qRow + qOff + d, dqRow[d]);
                    }
                }
                for (int t2 = 0; t2 < T; t2++) {
                    long kvRow = (start + t2) * kvWidth;
                    for (int d = 0; d < hd; d++) {
                        addAt(dks, kvRow + kvOff + d, dkSum[t2][d]);
                        addAt(dvs, kvRow + kvOff + d, dvSum[t2][d]);
                    }
                }
            }
            start += T;
            attStart += (long) H * T * T;
        }
    }

    /** out, q [N, H * hd] (new rows); kCache, vCache [numSeq, cacheCapacity, KV * hd]; lastRow [numSeq, cacheCapacity] or null. */
    static void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
                                       int[] past, int[] count, int H, int KV, int hd, Tensor lastRow) {
        BackendArguments.groupedHeads(H, KV, hd);
        BackendArguments.cache(past, count, cacheCapacity, KV * hd, KV * hd);
        CpuTensor o = CpuTensor.of(out), qs = CpuTensor.of(q), kc = CpuTensor.of(kCache), vc = CpuTensor.of(vCache);
        CpuTensor last = CpuTensor.ofNullable(lastRow);
        int group = H / KV;
        long qWidth = (long) H * hd, kvWidth = (long) KV * hd;
        double scale = 1 / Math.sqrt(hd);
        long row = 0;
        for (int s = 0; s < past.length; s++) {
            int total = past[s] + count[s];
            long cacheStart = (long) s * cacheCapacity * kvWidth;
            double[] lastSum = new double[total];
            for (int i = 0; i < count[s]; i++, row++) {
                int L = past[s] + i + 1;
                for (int h = 0; h < H; h++) {
                    long qOff = row * qWidth + (long) h * hd, kvOff = (long) (h / group) * hd;
                    double[] p = new double[L];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < L; j++) {
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += (double) qs.get(qOff + d) * kc.get(cacheStart + j * kvWidth + kvOff + d);
                        p[j] = dot * scale;
                        max = Math.max(max, p[j]);
                    }
                    softmaxInPlace(p, max);
                    if (i == count[s] - 1) for (int j = 0; j < L; j++) lastSum[j] += p[j];
                    for (int d = 0; d < hd; d++) {
                        double sum = 0;
                        for (int j = 0; j < L; j++) sum += p[j] * vc.get(cacheStart + j * kvWidth + kvOff + d);
                        o.set(qOff + d, (float) sum);
                    }
                }
            }
            if (last != null && count[s] > 0) {
                for (int j = 0; j < total; j++) last.set((long) s * cacheCapacity + j, (float) (lastSum[j] / H));
            }
        }
    }
}
