package org.densify.core.cpu;

import org.densify.core.BackendArguments;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.densify.core.Tensor;

/**
 * The fast CPU backend: Vector API loops with scalar tails, parallel over independent rows, column
 * blocks, fixed-size chunks or (sequence, head) pairs of {@link CpuThreads}. matmul is {@link Gemm}.
 *
 * <p>Determinism: every sum runs in an order fixed by the data's shape alone (tasks split rows,
 * columns, fixed-size chunks or heads, never a reduction by the thread count), and the code avoids
 * the two Vector API operations whose result may differ between the interpreter and compiled code:
 * {@code reduceLanes(ADD)} (its order is unspecified; {@link #sumLanes} fixes it) and the
 * transcendental lanewise ops (EXP, TANH; {@link #exp} is a polynomial of exactly-rounded basic
 * ops, and {@link #expScalar} computes the same bits for scalar tails).
 */
public final class VectorBackend extends CpuMemory {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    /** Elementwise ops and sumOfSquares split n floats into chunks of this size (a multiple of VL). */
    private static final int CHUNK = 1 << 14;
    /** Column-parallel reductions (dbias, dweight, embedding grads) give each task this many columns. */
    private static final int COLUMNS = 64;
    /** Long float sums (cross-entropy denominators, sumOfSquares) move into a double every this many floats. */
    private static final int SUM_BLOCK = 256;
    private static final float GELU_K = (float) Math.sqrt(2 / Math.PI);
    private static final float GELU_A = 0.044715f;

    private final CpuThreads threads;
    private final Gemm gemm;

    public VectorBackend() {
        this(CpuThreads.shared());
    }

    public VectorBackend(CpuThreads threads) {
        this.threads = threads;
        this.gemm = new Gemm(threads);
    }

    @Override
    public String name() {
        return "cpu";
    }

    // ---- elementwise --------------------------------------------------------------------------

    @Override
    public void add(Tensor out, Tensor a, Tensor b, long n) {
        MemorySegment o = seg(out), x = seg(a), y = seg(b);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) load(x, i).add(load(y, i)).intoMemorySegment(o, i * 4, ORDER);
            for (; i < to; i++) o.setAtIndex(F, i, x.getAtIndex(F, i) + y.getAtIndex(F, i));
        });
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, long n) {
        add(dst, dst, src, n);
    }

    @Override
    public void scale(Tensor x, float factor, long n) {
        MemorySegment t = seg(x);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) load(t, i).mul(factor).intoMemorySegment(t, i * 4, ORDER);
            for (; i < to; i++) t.setAtIndex(F, i, t.getAtIndex(F, i) * factor);
        });
    }

    /** Chunks of CHUNK floats, each summed in float blocks of SUM_BLOCK moved into a double; chunks added in order. */
    @Override
    public double sumOfSquares(Tensor x, long n) {
        MemorySegment t = seg(x);
        double[] partial = new double[chunkCount(n)];
        chunks(n, (from, to) -> {
            double sum = 0;
            long i = from;
            while (i <= to - VL) {
                long end = Math.min(to, i + SUM_BLOCK);
                FloatVector acc = FloatVector.zero(S);
                for (; i <= end - VL; i += VL) {
                    FloatVector v = load(t, i);
                    acc = v.fma(v, acc);
                }
                sum += sumLanes(acc);
            }
            for (; i < to; i++) {
                double v = t.getAtIndex(F, i);
                sum += v * v;
            }
            partial[(int) (from / CHUNK)] = sum;
        });
        double sum = 0;
        for (double p : partial) sum += p;
        return sum;
    }

    // ---- embedding ----------------------------------------------------------------------------

    /** out [N, C] = wte [V, C] rows + wpe [maxT, C] rows, parallel over rows. */
    @Override
    public void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
        BackendArguments.ids(tokens, positions, wte.length() / C, wpe.length() / C);
        MemorySegment o = seg(out), te = seg(wte), pe = seg(wpe);
        threads.forEach(tokens.length, t -> {
            long row = (long) t * C, tokenRow = (long) tokens[t] * C, positionRow = (long) positions[t] * C;
            int c = 0;
            for (; c <= C - VL; c += VL) {
                load(te, tokenRow + c).add(load(pe, positionRow + c)).intoMemorySegment(o, (row + c) * 4, ORDER);
            }
            for (; c < C; c++) o.setAtIndex(F, row + c, te.getAtIndex(F, tokenRow + c) + pe.getAtIndex(F, positionRow + c));
        });
    }

    /** Parallel over column blocks: a token may repeat, so rows cannot be split between tasks. */
    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
        BackendArguments.ids(tokens, positions, dwte == null ? Long.MAX_VALUE : dwte.length() / C,
                dwpe == null ? Long.MAX_VALUE : dwpe.length() / C);
        MemorySegment dte = dwte == null ? null : seg(dwte), dpe = dwpe == null ? null : seg(dwpe), d = seg(dout);
        columnBlocks(C, (from, to) -> {
            for (int t = 0; t < tokens.length; t++) {
                long row = (long) t * C;
                if (dte != null) addRow(dte, (long) tokens[t] * C, d, row, from, to);
                if (dpe != null) addRow(dpe, (long) positions[t] * C, d, row, from, to);
            }
        });
    }

    /** dst[dstRow + c] += src[srcRow + c] for c in [from, to). */
    private static void addRow(MemorySegment dst, long dstRow, MemorySegment src, long srcRow, int from, int to) {
        int c = from;
        for (; c <= to - VL; c += VL) {
            load(dst, dstRow + c).add(load(src, srcRow + c)).intoMemorySegment(dst, (dstRow + c) * 4, ORDER);
        }
        for (; c < to; c++) dst.setAtIndex(F, dstRow + c, dst.getAtIndex(F, dstRow + c) + src.getAtIndex(F, srcRow + c));
    }

    // ---- layer norm ---------------------------------------------------------------------------

    /** out, in [N, C]; weight, bias [C]; mean, rstd [N] or null. Parallel over rows. */
    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
                                 int N, int C, float eps) {
        MemorySegment o = seg(out), x = seg(in), w = seg(weight), b = seg(bias);
        MemorySegment mu = mean == null ? null : seg(mean), rs = rstd == null ? null : seg(rstd);
        threads.forEach(N, i -> {
            long row = (long) i * C;
            FloatVector acc = FloatVector.zero(S);
            int c = 0;
            for (; c <= C - VL; c += VL) acc = acc.add(load(x, row + c));
            float sum = sumLanes(acc);
            for (; c < C; c++) sum += x.getAtIndex(F, row + c);
            float m = sum / C;

            acc = FloatVector.zero(S);
            for (c = 0; c <= C - VL; c += VL) {
                FloatVector d = load(x, row + c).sub(m);
                acc = d.fma(d, acc);
            }
            float squares = sumLanes(acc);
            for (; c < C; c++) {
                float d = x.getAtIndex(F, row + c) - m;
                squares = Math.fma(d, d, squares);
            }
            float r = (float) (1 / Math.sqrt(squares / C + eps));

            for (c = 0; c <= C - VL; c += VL) {
                load(x, row + c).sub(m).mul(r).fma(load(w, c), load(b, c)).intoMemorySegment(o, (row + c) * 4, ORDER);
            }
            for (; c < C; c++) {
                o.setAtIndex(F, row + c, Math.fma((x.getAtIndex(F, row + c) - m) * r, w.getAtIndex(F, c), b.getAtIndex(F, c)));
            }
            if (mu != null) mu.setAtIndex(F, i, m);
            if (rs != null) rs.setAtIndex(F, i, r);
        });
    }

    /** din [N, C] parallel over rows; dweight, dbias [C] parallel over column blocks, rows summed in order. */
    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        MemorySegment dx = seg(din), dw = seg(dweight), db = seg(dbias), dy = seg(dout), x = seg(in), w = seg(weight);
        MemorySegment mu = seg(mean), rs = seg(rstd);
        threads.forEach(N, i -> {
            long row = (long) i * C;
            float m = mu.getAtIndex(F, i), r = rs.getAtIndex(F, i);
            // din = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = weight * dout
            FloatVector accDnorm = FloatVector.zero(S), accDnormNorm = FloatVector.zero(S);
            int c = 0;
            for (; c <= C - VL; c += VL) {
                FloatVector norm = load(x, row + c).sub(m).mul(r);
                FloatVector dnorm = load(w, c).mul(load(dy, row + c));
                accDnorm = accDnorm.add(dnorm);
                accDnormNorm = dnorm.fma(norm, accDnormNorm);
            }
            float sumDnorm = sumLanes(accDnorm), sumDnormNorm = sumLanes(accDnormNorm);
            for (; c < C; c++) {
                float norm = (x.getAtIndex(F, row + c) - m) * r;
                float dnorm = w.getAtIndex(F, c) * dy.getAtIndex(F, row + c);
                sumDnorm += dnorm;
                sumDnormNorm = Math.fma(dnorm, norm, sumDnormNorm);
            }
            float dnormMean = sumDnorm / C, dnormNormMean = sumDnormNorm / C;
            for (c = 0; c <= C - VL; c += VL) {
                FloatVector norm = load(x, row + c).sub(m).mul(r);
                FloatVector dnorm = load(w, c).mul(load(dy, row + c));
                dnorm.sub(dnormMean).sub(norm.mul(dnormNormMean)).fma(FloatVector.broadcast(S, r), load(dx, row + c))
                        .intoMemorySegment(dx, (row + c) * 4, ORDER);
            }
            for (; c < C; c++) {
                float norm = (x.getAtIndex(F, row + c) - m) * r;
                float dnorm = w.getAtIndex(F, c) * dy.getAtIndex(F, row + c);
                dx.setAtIndex(F, row + c, Math.fma(dnorm - dnormMean - norm * dnormNormMean, r, dx.getAtIndex(F, row + c)));
            }
        });
        columnBlocks(C, (from, to) -> {
            float[] dwSum = new float[to - from], dbSum = new float[to - from];
            for (int i = 0; i < N; i++) {
                long row = (long) i * C;
                float m = mu.getAtIndex(F, i), r = rs.getAtIndex(F, i);
                int c = from;
                for (; c <= to - VL; c += VL) {
                    FloatVector g = load(dy, row + c);
                    FloatVector norm = load(x, row + c).sub(m).mul(r);
                    norm.fma(g, FloatVector.fromArray(S, dwSum, c - from)).intoArray(dwSum, c - from);
                    g.add(FloatVector.fromArray(S, dbSum, c - from)).intoArray(dbSum, c - from);
                }
                for (; c < to; c++) {
                    float g = dy.getAtIndex(F, row + c);
                    dwSum[c - from] = Math.fma((x.getAtIndex(F, row + c) - m) * r, g, dwSum[c - from]);
                    dbSum[c - from] += g;
                }
            }
            for (int c = from; c < to; c++) {
                dw.setAtIndex(F, c, dw.getAtIndex(F, c) + dwSum[c - from]);
                db.setAtIndex(F, c, db.getAtIndex(F, c) + dbSum[c - from]);
            }
        });
    }

    // ---- matrix multiply ----------------------------------------------------------------------

    @Override
    public void matmul(Tensor c, Tensor a, Tensor b, Tensor bias, int M, int N, int K,
                       boolean transA, boolean transB, boolean accumulate) {
        gemm.multiply(seg(c), seg(a), seg(b), bias == null ? null : seg(bias), M, N, K, transA, transB, accumulate);
    }

    /** dbias [N] += column sums of dout [M, N]; parallel over column blocks, rows summed in order. */
    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
        MemorySegment db = seg(dbias), d = seg(dout);
        columnBlocks(N, (from, to) -> {
            float[] sum = new float[to - from];
            for (int i = 0; i < M; i++) {
                long row = (long) i * N;
                int c = from;
                for (; c <= to - VL; c += VL) {
                    load(d, row + c).add(FloatVector.fromArray(S, sum, c - from)).intoArray(sum, c - from);
                }
                for (; c < to; c++) sum[c - from] += d.getAtIndex(F, row + c);
            }
            for (int c = from; c < to; c++) db.setAtIndex(F, c, db.getAtIndex(F, c) + sum[c - from]);
        });
    }

    // ---- activation ---------------------------------------------------------------------------

    @Override
    public void geluForward(Tensor out, Tensor in, long n) {
        MemorySegment o = seg(out), x = seg(in);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) gelu(load(x, i)).intoMemorySegment(o, i * 4, ORDER);
            for (; i < to; i++) o.setAtIndex(F, i, geluScalar(x.getAtIndex(F, i)));
        });
    }

    @Override
    public void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
        MemorySegment dx = seg(din), x = seg(in), dy = seg(dout);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) {
                geluGrad(load(x, i)).fma(load(dy, i), load(dx, i)).intoMemorySegment(dx, i * 4, ORDER);
            }
            for (; i < to; i++) {
                dx.setAtIndex(F, i, Math.fma(geluGradScalar(x.getAtIndex(F, i)), dy.getAtIndex(F, i), dx.getAtIndex(F, i)));
            }
        });
    }

    // gelu_new(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = K (x + A x^3): one exp, no tanh.
    private static FloatVector gelu(FloatVector x) {
        FloatVector minus2u = x.mul(x).fma(GELU_A, 1f).mul(x).mul(-2 * GELU_K);
        return x.div(exp(minus2u).add(1f));
    }

    private static float geluScalar(float x) {
        float minus2u = Math.fma(x * x, GELU_A, 1f) * x * (-2 * GELU_K);
        return x / (expScalar(minus2u) + 1f);
    }

    // gelu'(x) = sig + x * 2 sig (1 - sig) * K (1 + 3 A x^2), sig = sigmoid(2u) = 1 / (1 + e), 1 - sig = e * sig.
    private static FloatVector geluGrad(FloatVector x) {
        FloatVector x2 = x.mul(x);
        FloatVector e = exp(x2.fma(GELU_A, 1f).mul(x).mul(-2 * GELU_K));
        FloatVector sig = FloatVector.broadcast(S, 1f).div(e.add(1f));
        FloatVector slope = x2.fma(3 * GELU_A, 1f).mul(x).mul(2 * GELU_K);
        return slope.mul(sig).mul(e.mul(sig)).add(sig);
    }

    private static float geluGradScalar(float x) {
        float x2 = x * x;
        float e = expScalar(Math.fma(x2, GELU_A, 1f) * x * (-2 * GELU_K));
        float sig = 1f / (e + 1f);
        float slope = Math.fma(x2, 3 * GELU_A, 1f) * x * (2 * GELU_K);
        return slope * sig * (e * sig) + sig;
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
    @Override
    public void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
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
    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
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
    @Override
    public void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
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

    // ---- loss ---------------------------------------------------------------------------------

    /**
     * losses [N] or null, dlogits [N, V] or null or logits itself, logits [N, V]. Parallel over rows;
     * the denominator is summed in float blocks moved into a double. With dlogits, the exponentials
     * are written there on the way and scaled afterwards, so each logit is exponentiated once.
     */
    @Override
    public void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        BackendArguments.targets(targets, N, V);
        MemorySegment loss = losses == null ? null : seg(losses), d = dlogits == null ? null : seg(dlogits), x = seg(logits);
        int full = V - V % VL;
        threads.forEach(N, i -> {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                if (loss != null) loss.setAtIndex(F, i, 0f);
                if (d != null) d.asSlice(row * 4, (long) V * 4).fill((byte) 0);
                return;
            }
            FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < full; j += VL) mx = mx.max(load(x, row + j));
            float max = mx.reduceLanes(VectorOperators.MAX);
            for (int j = full; j < V; j++) max = Math.max(max, x.getAtIndex(F, row + j));
            float xTarget = x.getAtIndex(F, row + target); // read before d (maybe the logits) is written

            double sum = 0;
            for (int block = 0; block < full; block += SUM_BLOCK) {
                FloatVector acc = FloatVector.zero(S);
                for (int j = block, end = Math.min(full, block + SUM_BLOCK); j < end; j += VL) {
                    FloatVector e = exp(load(x, row + j).sub(max));
                    if (d != null) e.intoMemorySegment(d, (row + j) * 4, ORDER);
                    acc = acc.add(e);
                }
                sum += sumLanes(acc);
            }
            for (int j = full; j < V; j++) {
                float e = expScalar(x.getAtIndex(F, row + j) - max);
                if (d != null) d.setAtIndex(F, row + j, e);
                sum += e;
            }
            if (loss != null) loss.setAtIndex(F, i, (float) (max + StrictMath.log(sum) - xTarget));
            if (d != null) {
                float factor = (float) (gradScale / sum);
                int j = 0;
                for (; j < full; j += VL) load(d, row + j).mul(factor).intoMemorySegment(d, (row + j) * 4, ORDER);
                for (; j < V; j++) d.setAtIndex(F, row + j, d.getAtIndex(F, row + j) * factor);
                d.setAtIndex(F, row + target, (float) ((expScalar(xTarget - max) / sum - 1) * gradScale));
            }
        });
    }

    /** One row's max and sum of exp(x - max) (written to {@code e} when non-null), and sum of exp(x - max) * x. */
    private record RowSoftmax(float max, double sum, double weighted) {}

    private RowSoftmax rowSoftmax(MemorySegment x, long row, int V, MemorySegment e, boolean weighted) {
        int full = V - V % VL;
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < full; j += VL) mx = mx.max(load(x, row + j));
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (int j = full; j < V; j++) max = Math.max(max, x.getAtIndex(F, row + j));
        double sum = 0, wsum = 0;
        for (int block = 0; block < full; block += SUM_BLOCK) {
            FloatVector acc = FloatVector.zero(S), wacc = FloatVector.zero(S);
            for (int j = block, end = Math.min(full, block + SUM_BLOCK); j < end; j += VL) {
                FloatVector xj = load(x, row + j);
                FloatVector ej = exp(xj.sub(max));
                if (weighted) wacc = ej.fma(xj, wacc);
                if (e != null) ej.intoMemorySegment(e, (row + j) * 4, ORDER);
                acc = acc.add(ej);
            }
            sum += sumLanes(acc);
            if (weighted) wsum += sumLanes(wacc);
        }
        for (int j = full; j < V; j++) {
            float xj = x.getAtIndex(F, row + j);
            float ej = expScalar(xj - max);
            if (e != null) e.setAtIndex(F, row + j, ej);
            sum += ej;
            wsum += (double) ej * xj;
        }
        return new RowSoftmax(max, sum, wsum);
    }

    @Override
    public void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        BackendArguments.targets(targets, N, V);
        MemorySegment lp = logProbs == null ? null : seg(logProbs), ent = entropies == null ? null : seg(entropies), x = seg(logits);
        threads.forEach(N, i -> {
            int target = targets[i];
            if (target < 0) {
                if (lp != null) lp.setAtIndex(F, i, 0f);
                if (ent != null) ent.setAtIndex(F, i, 0f);
                return;
            }
            long row = (long) i * V;
            RowSoftmax r = rowSoftmax(x, row, V, null, ent != null);
            double logSumExp = r.max() + StrictMath.log(r.sum());
            if (lp != null) lp.setAtIndex(F, i, (float) (x.getAtIndex(F, row + target) - logSumExp));
            // H = logsumexp - E_p[x]
            if (ent != null) ent.setAtIndex(F, i, (float) (logSumExp - r.weighted() / r.sum()));
        });
    }

    @Override
    public void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        BackendArguments.targets(targets, N, V);
        if (dLogProbs.length < N) throw new IllegalArgumentException("dLogProbs has " + dLogProbs.length + " entries for " + N + " rows");
        MemorySegment d = seg(dlogits), x = seg(logits);
        int full = V - V % VL;
        threads.forEach(N, i -> {
            long row = (long) i * V;
            int target = targets[i];
            if (target < 0) {
                d.asSlice(row * 4, (long) V * 4).fill((byte) 0);
                return;
            }
            float xTarget = x.getAtIndex(F, row + target); // read before d (maybe the logits) is written
            RowSoftmax r = rowSoftmax(x, row, V, d, false);
            float factor = (float) (-dLogProbs[i] / r.sum());
            int j = 0;
            for (; j < full; j += VL) load(d, row + j).mul(factor).intoMemorySegment(d, (row + j) * 4, ORDER);
            for (; j < V; j++) d.setAtIndex(F, row + j, d.getAtIndex(F, row + j) * factor);
            d.setAtIndex(F, row + target, (float) (dLogProbs[i] * (1 - expScalar(xTarget - r.max()) / r.sum())));
        });
    }

    // ---- optimiser ----------------------------------------------------------------------------

    /** torch.optim.AdamW's single-tensor step, in float, in fixed chunks. */
    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step, float gradScale) {
        MemorySegment p = seg(params), g = seg(grads), ms = seg(m), vs = seg(v);
        float decay = 1 - lr * weightDecay;
        float stepSize = (float) (lr / (1 - StrictMath.pow(beta1, step)));
        float correction2Sqrt = (float) Math.sqrt(1 - StrictMath.pow(beta2, step));
        float b1 = beta1, c1 = 1 - beta1, b2 = beta2, c2 = 1 - beta2;
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) {
                FloatVector grad = load(g, i).mul(gradScale);
                FloatVector mi = load(ms, i).mul(b1).add(grad.mul(c1));
                FloatVector vi = load(vs, i).mul(b2).add(grad.mul(grad).mul(c2));
                FloatVector denom = vi.sqrt().div(correction2Sqrt).add(eps);
                load(p, i).mul(decay).sub(mi.div(denom).mul(stepSize)).intoMemorySegment(p, i * 4, ORDER);
                mi.intoMemorySegment(ms, i * 4, ORDER);
                vi.intoMemorySegment(vs, i * 4, ORDER);
            }
            for (; i < to; i++) {
                float grad = g.getAtIndex(F, i) * gradScale;
                float mi = ms.getAtIndex(F, i) * b1 + grad * c1;
                float vi = vs.getAtIndex(F, i) * b2 + grad * grad * c2;
                float denom = (float) Math.sqrt(vi) / correction2Sqrt + eps;
                p.setAtIndex(F, i, p.getAtIndex(F, i) * decay - mi / denom * stepSize);
                ms.setAtIndex(F, i, mi);
                vs.setAtIndex(F, i, vi);
            }
        });
    }

    // ---- Llama family -------------------------------------------------------------------------

    /** out, in [N, C]; weight [C]; rstd [N] or null. Parallel over rows. */
    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
        MemorySegment o = seg(out), x = seg(in), w = seg(weight), rs = rstd == null ? null : seg(rstd);
        threads.forEach(N, i -> {
            long row = (long) i * C;
            FloatVector acc = FloatVector.zero(S);
            int c = 0;
            for (; c <= C - VL; c += VL) {
                FloatVector v = load(x, row + c);
                acc = v.fma(v, acc);
            }
            float squares = sumLanes(acc);
            for (; c < C; c++) {
                float v = x.getAtIndex(F, row + c);
                squares = Math.fma(v, v, squares);
            }
            float r = (float) (1 / Math.sqrt(squares / C + eps));
            for (c = 0; c <= C - VL; c += VL) load(x, row + c).mul(r).mul(load(w, c)).intoMemorySegment(o, (row + c) * 4, ORDER);
            for (; c < C; c++) o.setAtIndex(F, row + c, x.getAtIndex(F, row + c) * r * w.getAtIndex(F, c));
            if (rs != null) rs.setAtIndex(F, i, r);
        });
    }

    /** din [N, C] parallel over rows; dweight [C] (or null) parallel over column blocks, rows summed in order. */
    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
        MemorySegment dx = seg(din), dy = seg(dout), x = seg(in), w = seg(weight), rs = seg(rstd);
        threads.forEach(N, i -> {
            long row = (long) i * C;
            float r = rs.getAtIndex(F, i);
            FloatVector acc = FloatVector.zero(S);
            int c = 0;
            for (; c <= C - VL; c += VL) acc = load(w, c).mul(load(dy, row + c)).fma(load(x, row + c), acc);
            float dot = sumLanes(acc);
            for (; c < C; c++) dot = Math.fma(w.getAtIndex(F, c) * dy.getAtIndex(F, row + c), x.getAtIndex(F, row + c), dot);
            // dx = r (w dy - x k), k = r^2 mean(w dy x)
            float k = dot / C * r * r;
            for (c = 0; c <= C - VL; c += VL) {
                load(w, c).mul(load(dy, row + c)).sub(load(x, row + c).mul(k)).fma(FloatVector.broadcast(S, r), load(dx, row + c))
                        .intoMemorySegment(dx, (row + c) * 4, ORDER);
            }
            for (; c < C; c++) {
                float g = w.getAtIndex(F, c) * dy.getAtIndex(F, row + c) - x.getAtIndex(F, row + c) * k;
                dx.setAtIndex(F, row + c, Math.fma(g, r, dx.getAtIndex(F, row + c)));
            }
        });
        if (dweight == null) return;
        MemorySegment dw = seg(dweight);
        columnBlocks(C, (from, to) -> {
            float[] sum = new float[to - from];
            for (int i = 0; i < N; i++) {
                long row = (long) i * C;
                float r = rs.getAtIndex(F, i);
                for (int c = from; c < to; c++) sum[c - from] = Math.fma(x.getAtIndex(F, row + c) * r, dy.getAtIndex(F, row + c), sum[c - from]);
            }
            for (int c = from; c < to; c++) dw.setAtIndex(F, c, dw.getAtIndex(F, c) + sum[c - from]);
        });
    }

    /** out, in [N, heads * hd]; invFreq [hd / 2]. Parallel over rows; the angles of a row are shared by its heads. */
    @Override
    public void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(seg(out), seg(in), positions, seg(invFreq), N, heads, hd, 1f, false);
    }

    @Override
    public void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(seg(din), seg(dout), positions, seg(invFreq), N, heads, hd, -1f, true);
    }

    private void rope(MemorySegment out, MemorySegment in, int[] positions, MemorySegment invFreq, int N, int heads, int hd,
                      float sign, boolean accumulate) {
        if (hd % 2 != 0) throw new IllegalArgumentException("rotary head size " + hd + " is odd");
        if (positions.length < N) throw new IllegalArgumentException(positions.length + " positions for " + N + " rows");
        int half = hd / 2;
        threads.forEach(N, t -> {
            float[] cos = new float[half], sin = new float[half];
            for (int i = 0; i < half; i++) {
                double angle = positions[t] * (double) invFreq.getAtIndex(F, i);
                cos[i] = (float) Math.cos(angle);
                sin[i] = sign * (float) Math.sin(angle);
            }
            for (int h = 0; h < heads; h++) {
                long base = (long) t * heads * hd + (long) h * hd;
                int i = 0;
                for (; i <= half - VL; i += VL) {
                    FloatVector a = load(in, base + i), b = load(in, base + half + i);
                    FloatVector c = FloatVector.fromArray(S, cos, i), sn = FloatVector.fromArray(S, sin, i);
                    FloatVector ra = a.mul(c).sub(b.mul(sn)), rb = b.mul(c).add(a.mul(sn));
                    if (accumulate) {
                        ra = ra.add(load(out, base + i));
                        rb = rb.add(load(out, base + half + i));
                    }
                    ra.intoMemorySegment(out, (base + i) * 4, ORDER);
                    rb.intoMemorySegment(out, (base + half + i) * 4, ORDER);
                }
                for (; i < half; i++) {
                    float a = in.getAtIndex(F, base + i), b = in.getAtIndex(F, base + half + i);
                    float ra = a * cos[i] - b * sin[i], rb = b * cos[i] + a * sin[i];
                    if (accumulate) {
                        ra += out.getAtIndex(F, base + i);
                        rb += out.getAtIndex(F, base + half + i);
                    }
                    out.setAtIndex(F, base + i, ra);
                    out.setAtIndex(F, base + half + i, rb);
                }
            }
        });
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
        MemorySegment o = seg(out), g = seg(gate), u = seg(up);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) {
                FloatVector x = load(g, i);
                x.div(exp(x.neg()).add(1f)).mul(load(u, i)).intoMemorySegment(o, i * 4, ORDER);
            }
            for (; i < to; i++) {
                float x = g.getAtIndex(F, i);
                o.setAtIndex(F, i, x / (expScalar(-x) + 1f) * u.getAtIndex(F, i));
            }
        });
    }

    // silu'(x) = sig (1 + x (1 - sig)), sig = 1 / (1 + e^-x)
    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
        MemorySegment dg = seg(dgate), du = seg(dup), dy = seg(dout), g = seg(gate), u = seg(up);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) {
                FloatVector x = load(g, i), d = load(dy, i);
                FloatVector sig = FloatVector.broadcast(S, 1f).div(exp(x.neg()).add(1f));
                FloatVector grad = x.mul(sig.neg().add(1f)).add(1f).mul(sig);
                d.mul(load(u, i)).fma(grad, load(dg, i)).intoMemorySegment(dg, i * 4, ORDER);
                d.mul(x).fma(sig, load(du, i)).intoMemorySegment(du, i * 4, ORDER);
            }
            for (; i < to; i++) {
                float x = g.getAtIndex(F, i), d = dy.getAtIndex(F, i);
                float sig = 1f / (expScalar(-x) + 1f);
                float grad = (x * (1f - sig) + 1f) * sig;
                dg.setAtIndex(F, i, Math.fma(d * u.getAtIndex(F, i), grad, dg.getAtIndex(F, i)));
                du.setAtIndex(F, i, Math.fma(d * x, sig, du.getAtIndex(F, i)));
            }
        });
    }

    /**
     * Grouped-query causal attention; one task per (sequence, query head), the same blocked kernels
     * as {@link #attentionForward} with k and v read from the head's key/value group.
     */
    @Override
    public void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
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
    @Override
    public void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
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
    @Override
    public void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
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

    // ---- exp --------------------------------------------------------------------------------

    // Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n built in the exponent bits.
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    /** 1.5 * 2^23: adding it rounds to an integer, which then sits in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final int EXPONENT_BIAS = 127 - Float.floatToRawIntBits(ROUNDER);
    private static final float EXP_MIN = -87f, EXP_MAX = 88f;

    /** exp(x) to about 1 ulp; 0 below -87, exp(88) above 88, NaN stays NaN. */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_MIN).min(EXP_MAX);
        FloatVector t = xc.fma(LOG2E, ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector poly = r.fma(P0, P1).fma(r, FloatVector.broadcast(S, P2)).fma(r, FloatVector.broadcast(S, P3))
                .fma(r, FloatVector.broadcast(S, P4)).fma(r, FloatVector.broadcast(S, P5));
        FloatVector y = poly.fma(r.mul(r), r).add(1f);
        FloatVector twoToN = t.reinterpretAsInts().add(EXPONENT_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(twoToN).blend(0f, x.lt(EXP_MIN));
    }

    /** The same bits as a lane of {@link #exp}. */
    static float expScalar(float x) {
        float xc = Math.min(Math.max(x, EXP_MIN), EXP_MAX);
        float t = Math.fma(xc, LOG2E, ROUNDER);
        float n = t - ROUNDER;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float poly = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, P0, P1), r, P2), r, P3), r, P4), r, P5);
        float y = Math.fma(poly, r * r, r) + 1f;
        float twoToN = Float.intBitsToFloat((Float.floatToRawIntBits(t) + EXPONENT_BIAS) << 23);
        return x < EXP_MIN ? 0f : y * twoToN;
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static MemorySegment seg(Tensor t) {
        return CpuTensor.of(t).segment();
    }

    private static FloatVector load(MemorySegment s, long floatIndex) {
        return FloatVector.fromMemorySegment(S, s, floatIndex * 4, ORDER);
    }

    /** Lanes added first to last: reduceLanes(ADD) leaves the order open, so compiled and interpreted code may differ. */
    private static float sumLanes(FloatVector v) {
        float sum = 0;
        for (int i = 0; i < VL; i++) sum += v.lane(i);
        return sum;
    }

    private static int ceilDiv(int n, int d) {
        return (n + d - 1) / d;
    }

    private static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    @FunctionalInterface
    private interface LongRange {
        void run(long from, long to);
    }

    @FunctionalInterface
    private interface IntRange {
        void run(int from, int to);
    }

    private static int chunkCount(long n) {
        return Math.toIntExact((n + CHUNK - 1) / CHUNK);
    }

    /** [0, n) in chunks of CHUNK floats, in parallel. */
    private void chunks(long n, LongRange body) {
        threads.forEach(chunkCount(n), c -> body.run((long) c * CHUNK, Math.min(n, (long) (c + 1) * CHUNK)));
    }

    /** Columns [0, n) in blocks of COLUMNS, in parallel. */
    private void columnBlocks(int n, IntRange body) {
        threads.forEach((n + COLUMNS - 1) / COLUMNS, b -> body.run(b * COLUMNS, Math.min(n, (b + 1) * COLUMNS)));
    }
}
