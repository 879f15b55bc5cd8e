package org.densify.core.cpu;

import org.densify.core.BackendArguments;
import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * The reference backend: single-threaded loops that follow the formulas of {@link Backend} line by
 * line, with every sum (means, variances, dot products, softmax denominators) taken in double.
 * Slow on purpose; every other backend is tested against it. Indexing follows llm.c: a row-major
 * {@code [R, C]} matrix holds element {@code (r, c)} at {@code r * C + c}.
 */
public final class ScalarBackend extends CpuMemory {
    private static final double GELU_K = Math.sqrt(2 / Math.PI);
    private static final double GELU_A = 0.044715;

    @Override
    public String name() {
        return "scalar";
    }

    // ---- elementwise --------------------------------------------------------------------------

    @Override
    public void add(Tensor out, Tensor a, Tensor b, long n) {
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(a), y = CpuTensor.of(b);
        for (long i = 0; i < n; i++) o.set(i, x.get(i) + y.get(i));
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, long n) {
        CpuTensor d = CpuTensor.of(dst), s = CpuTensor.of(src);
        for (long i = 0; i < n; i++) d.set(i, d.get(i) + s.get(i));
    }

    @Override
    public void scale(Tensor x, float factor, long n) {
        CpuTensor t = CpuTensor.of(x);
        for (long i = 0; i < n; i++) t.set(i, t.get(i) * factor);
    }

    @Override
    public double sumOfSquares(Tensor x, long n) {
        CpuTensor t = CpuTensor.of(x);
        double sum = 0;
        for (long i = 0; i < n; i++) {
            double v = t.get(i);
            sum += v * v;
        }
        return sum;
    }

    // ---- embedding ----------------------------------------------------------------------------

    /** out [N, C], wte [V, C], wpe [maxT, C]; N = tokens.length. */
    @Override
    public void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
        BackendArguments.ids(tokens, positions, wte.length() / C, wpe.length() / C);
        CpuTensor o = CpuTensor.of(out), te = CpuTensor.of(wte), pe = CpuTensor.of(wpe);
        for (int t = 0; t < tokens.length; t++) {
            for (int c = 0; c < C; c++) {
                o.set((long) t * C + c, te.get((long) tokens[t] * C + c) + pe.get((long) positions[t] * C + c));
            }
        }
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
        BackendArguments.ids(tokens, positions, dwte == null ? Long.MAX_VALUE : dwte.length() / C,
                dwpe == null ? Long.MAX_VALUE : dwpe.length() / C);
        CpuTensor dte = CpuTensor.ofNullable(dwte), dpe = CpuTensor.ofNullable(dwpe), d = CpuTensor.of(dout);
        for (int t = 0; t < tokens.length; t++) {
            for (int c = 0; c < C; c++) {
                float g = d.get((long) t * C + c);
                if (dte != null) addAt(dte, (long) tokens[t] * C + c, g);
                if (dpe != null) addAt(dpe, (long) positions[t] * C + c, g);
            }
        }
    }

    // ---- layer norm ---------------------------------------------------------------------------

    /** out, in [N, C]; weight, bias [C]; mean, rstd [N] or null. */
    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
                                 int N, int C, float eps) {
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(in), w = CpuTensor.of(weight), b = CpuTensor.of(bias);
        CpuTensor mu = CpuTensor.ofNullable(mean), rs = CpuTensor.ofNullable(rstd);
        for (int i = 0; i < N; i++) {
            long row = (long) i * C;
            double sum = 0;
            for (int c = 0; c < C; c++) sum += x.get(row + c);
            double m = sum / C;
            double squares = 0;
            for (int c = 0; c < C; c++) {
                double d = x.get(row + c) - m;
                squares += d * d;
            }
            double r = 1 / Math.sqrt(squares / C + eps);
            for (int c = 0; c < C; c++) o.set(row + c, (float) ((x.get(row + c) - m) * r * w.get(c) + b.get(c)));
            if (mu != null) mu.set(i, (float) m);
            if (rs != null) rs.set(i, (float) r);
        }
    }

    /** din, dout, in [N, C]; dweight, dbias, weight [C]; mean, rstd [N] from the forward. */
    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        CpuTensor dx = CpuTensor.of(din), dw = CpuTensor.of(dweight), db = CpuTensor.of(dbias);
        CpuTensor dy = CpuTensor.of(dout), x = CpuTensor.of(in), w = CpuTensor.of(weight);
        CpuTensor mu = CpuTensor.of(mean), rs = CpuTensor.of(rstd);
        double[] dwSum = new double[C], dbSum = new double[C];
        for (int i = 0; i < N; i++) {
            long row = (long) i * C;
            double m = mu.get(i), r = rs.get(i);
            // din = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = weight * dout
            double dnormMean = 0, dnormNormMean = 0;
            for (int c = 0; c < C; c++) {
                double norm = (x.get(row + c) - m) * r;
                double dnorm = (double) w.get(c) * dy.get(row + c);
                dnormMean += dnorm;
                dnormNormMean += dnorm * norm;
            }
            dnormMean /= C;
            dnormNormMean /= C;
            for (int c = 0; c < C; c++) {
                double norm = (x.get(row + c) - m) * r;
                double g = dy.get(row + c);
                dwSum[c] += norm * g;
                dbSum[c] += g;
                addAt(dx, row + c, (w.get(c) * g - dnormMean - norm * dnormNormMean) * r);
            }
        }
        for (int c = 0; c < C; c++) {
            addAt(dw, c, dwSum[c]);
            addAt(db, c, dbSum[c]);
        }
    }

    // ---- matrix multiply ----------------------------------------------------------------------

    /** c [M, N] (+)= op(a) [M, K] op(b) [K, N] (+ bias [N]); the plain triple loop. */
    @Override
    public void matmul(Tensor c, Tensor a, Tensor b, Tensor bias, int M, int N, int K,
                       boolean transA, boolean transB, boolean accumulate) {
        CpuTensor out = CpuTensor.of(c), x = CpuTensor.of(a), y = CpuTensor.of(b), bs = CpuTensor.ofNullable(bias);
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double sum = bs == null ? 0 : bs.get(j);
                for (int k = 0; k < K; k++) {
                    float aik = x.get(transA ? (long) k * M + i : (long) i * K + k);
                    float bkj = y.get(transB ? (long) j * K + k : (long) k * N + j);
                    sum += (double) aik * bkj;
                }
                long at = (long) i * N + j;
                out.set(at, (float) (accumulate ? out.get(at) + sum : sum));
            }
        }
    }

    /** dbias [N] += column sums of dout [M, N]. */
    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
        CpuTensor db = CpuTensor.of(dbias), d = CpuTensor.of(dout);
        for (int j = 0; j < N; j++) {
            double sum = 0;
            for (int i = 0; i < M; i++) sum += d.get((long) i * N + j);
            addAt(db, j, sum);
        }
    }

    // ---- activation ---------------------------------------------------------------------------

    @Override
    public void geluForward(Tensor out, Tensor in, long n) {
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(in);
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            o.set(i, (float) (0.5 * v * (1 + Math.tanh(GELU_K * (v + GELU_A * v * v * v)))));
        }
    }

    @Override
    public void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
        CpuTensor dx = CpuTensor.of(din), x = CpuTensor.of(in), dy = CpuTensor.of(dout);
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            double th = Math.tanh(GELU_K * (v + GELU_A * v * v * v));
            double sech2 = 1 - th * th;
            double grad = 0.5 * (1 + th) + 0.5 * v * sech2 * GELU_K * (1 + 3 * GELU_A * v * v);
            addAt(dx, i, grad * dy.get(i));
        }
    }

    // ---- attention ----------------------------------------------------------------------------

    /** out [N, C], att [NH, T_s, T_s] per sequence or null, lastRow [N] or null, qkv [N, 3C]. */
    @Override
    public void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
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
    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
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
    @Override
    public void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
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

    // ---- Llama family -------------------------------------------------------------------------

    /** out, in [N, C]; weight [C]; rstd [N] or null. */
    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(in), w = CpuTensor.of(weight), rs = CpuTensor.ofNullable(rstd);
        for (int i = 0; i < N; i++) {
            long row = (long) i * C;
            double squares = 0;
            for (int c = 0; c < C; c++) {
                double v = x.get(row + c);
                squares += v * v;
            }
            double r = 1 / Math.sqrt(squares / C + eps);
            for (int c = 0; c < C; c++) o.set(row + c, (float) (x.get(row + c) * r * w.get(c)));
            if (rs != null) rs.set(i, (float) r);
        }
    }

    /** din, dout, in [N, C]; dweight (or null), weight [C]; rstd [N] from the forward. */
    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
        CpuTensor dx = CpuTensor.of(din), dw = CpuTensor.ofNullable(dweight), dy = CpuTensor.of(dout);
        CpuTensor x = CpuTensor.of(in), w = CpuTensor.of(weight), rs = CpuTensor.of(rstd);
        double[] dwSum = new double[C];
        for (int i = 0; i < N; i++) {
            long row = (long) i * C;
            double r = rs.get(i);
            // y = x r w: dx = r (w dy - x r^2 mean(w dy x))
            double dot = 0;
            for (int c = 0; c < C; c++) dot += (double) w.get(c) * dy.get(row + c) * x.get(row + c);
            double k = dot / C * r * r;
            for (int c = 0; c < C; c++) {
                double xv = x.get(row + c), g = dy.get(row + c);
                dwSum[c] += xv * r * g;
                addAt(dx, row + c, r * (w.get(c) * g - xv * k));
            }
        }
        if (dw != null) for (int c = 0; c < C; c++) addAt(dw, c, dwSum[c]);
    }

    /** out, in [N, heads * hd]; invFreq [hd / 2]. */
    @Override
    public void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(CpuTensor.of(out), CpuTensor.of(in), positions, CpuTensor.of(invFreq), N, heads, hd, 1, false);
    }

    /** din += R(-angle) dout; din, dout [N, heads * hd]. */
    @Override
    public void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(CpuTensor.of(din), CpuTensor.of(dout), positions, CpuTensor.of(invFreq), N, heads, hd, -1, true);
    }

    /** Rotates each half-pair by sign * angle; overwrites out, or adds into it. */
    private static void rope(CpuTensor out, CpuTensor in, int[] positions, CpuTensor invFreq, int N, int heads, int hd,
                             int sign, boolean accumulate) {
        if (hd % 2 != 0) throw new IllegalArgumentException("rotary head size " + hd + " is odd");
        if (positions.length < N) throw new IllegalArgumentException(positions.length + " positions for " + N + " rows");
        int half = hd / 2;
        for (int t = 0; t < N; t++) {
            for (int i = 0; i < half; i++) {
                double angle = positions[t] * (double) invFreq.get(i);
                double cos = Math.cos(angle), sin = sign * Math.sin(angle);
                for (int h = 0; h < heads; h++) {
                    long at = (long) t * heads * hd + (long) h * hd + i;
                    double a = in.get(at), b = in.get(at + half);
                    double ra = a * cos - b * sin, rb = b * cos + a * sin;
                    if (accumulate) {
                        addAt(out, at, ra);
                        addAt(out, at + half, rb);
                    } else {
                        out.set(at, (float) ra);
                        out.set(at + half, (float) rb);
                    }
                }
            }
        }
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
        CpuTensor o = CpuTensor.of(out), g = CpuTensor.of(gate), u = CpuTensor.of(up);
        for (long i = 0; i < n; i++) {
            double x = g.get(i);
            o.set(i, (float) (x / (1 + Math.exp(-x)) * u.get(i)));
        }
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
        CpuTensor dg = CpuTensor.of(dgate), du = CpuTensor.of(dup), dy = CpuTensor.of(dout);
        CpuTensor g = CpuTensor.of(gate), u = CpuTensor.of(up);
        for (long i = 0; i < n; i++) {
            double x = g.get(i), sig = 1 / (1 + Math.exp(-x)), d = dy.get(i);
            addAt(dg, i, d * u.get(i) * sig * (1 + x * (1 - sig)));
            addAt(du, i, d * x * sig);
        }
    }

    /** out, q [N, H * hd]; k, v [N, KV * hd]; att [H, T_s, T_s] per sequence or null; lastRow [N] or null. */
    @Override
    public void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
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
    @Override
    public void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
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
    @Override
    public void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
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

    // ---- loss ---------------------------------------------------------------------------------

    /** losses [N] (or null), dlogits [N, V] (or null, or logits itself), logits [N, V]. */
    @Override
    public void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        BackendArguments.targets(targets, N, V);
        CpuTensor loss = CpuTensor.ofNullable(losses), d = CpuTensor.ofNullable(dlogits), x = CpuTensor.of(logits);
        for (int i = 0; i < N; i++) {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                if (loss != null) loss.set(i, 0f);
                if (d != null) for (int j = 0; j < V; j++) d.set(row + j, 0f);
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < V; j++) max = Math.max(max, x.get(row + j));
            double sum = 0;
            for (int j = 0; j < V; j++) sum += Math.exp(x.get(row + j) - max);
            double logSumExp = max + Math.log(sum);
            if (loss != null) loss.set(i, (float) (logSumExp - x.get(row + target)));
            if (d != null) {
                // reads x[j] before writing d[j]: safe when dlogits is logits
                for (int j = 0; j < V; j++) {
                    double p = Math.exp(x.get(row + j) - logSumExp);
                    d.set(row + j, (float) ((p - (j == target ? 1 : 0)) * gradScale));
                }
            }
        }
    }

    @Override
    public void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        BackendArguments.targets(targets, N, V);
        CpuTensor lp = CpuTensor.ofNullable(logProbs), ent = CpuTensor.ofNullable(entropies), x = CpuTensor.of(logits);
        for (int i = 0; i < N; i++) {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                if (lp != null) lp.set(i, 0f);
                if (ent != null) ent.set(i, 0f);
                continue;
            }
            double logSumExp = logSumExp(x, row, V);
            if (lp != null) lp.set(i, (float) (x.get(row + target) - logSumExp));
            if (ent != null) {
                double entropy = 0;
                for (int j = 0; j < V; j++) {
                    double logP = x.get(row + j) - logSumExp;
                    entropy -= Math.exp(logP) * logP;
                }
                ent.set(i, (float) entropy);
            }
        }
    }

    @Override
    public void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        BackendArguments.targets(targets, N, V);
        if (dLogProbs.length < N) throw new IllegalArgumentException("dLogProbs has " + dLogProbs.length + " entries for " + N + " rows");
        CpuTensor d = CpuTensor.of(dlogits), x = CpuTensor.of(logits);
        for (int i = 0; i < N; i++) {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                for (int j = 0; j < V; j++) d.set(row + j, 0f);
                continue;
            }
            double logSumExp = logSumExp(x, row, V);
            double g = dLogProbs[i];
            for (int j = 0; j < V; j++) { // reads x[j] before writing d[j]: safe in place
                double p = Math.exp(x.get(row + j) - logSumExp);
                d.set(row + j, (float) (g * ((j == target ? 1 : 0) - p)));
            }
        }
    }

    private static double logSumExp(CpuTensor x, long row, int V) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < V; j++) max = Math.max(max, x.get(row + j));
        double sum = 0;
        for (int j = 0; j < V; j++) sum += Math.exp(x.get(row + j) - max);
        return max + Math.log(sum);
    }

    // ---- optimiser ----------------------------------------------------------------------------

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step, float gradScale) {
        CpuTensor p = CpuTensor.of(params), g = CpuTensor.of(grads), mt = CpuTensor.of(m), vt = CpuTensor.of(v);
        double correction1 = 1 - Math.pow(beta1, step), correction2 = 1 - Math.pow(beta2, step);
        for (long i = 0; i < n; i++) {
            double grad = (double) g.get(i) * gradScale;
            double param = p.get(i);
            param -= (double) lr * weightDecay * param;
            double mi = beta1 * (double) mt.get(i) + (1 - (double) beta1) * grad;
            double vi = beta2 * (double) vt.get(i) + (1 - (double) beta2) * grad * grad;
            param -= lr * (mi / correction1) / (Math.sqrt(vi / correction2) + eps);
            p.set(i, (float) param);
            mt.set(i, (float) mi);
            vt.set(i, (float) vi);
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static void addAt(CpuTensor t, long i, double value) {
        t.set(i, (float) (t.get(i) + value));
    }
}
