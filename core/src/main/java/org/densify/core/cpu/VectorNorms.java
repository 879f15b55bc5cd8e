package org.densify.core.cpu;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import org.densify.core.Tensor;

/**
 * Layer norm (GPT-2) and RMS norm (the Llama family) of {@link VectorBackend}: rows in parallel,
 * weight and bias gradients over column blocks with rows summed in order.
 */
final class VectorNorms extends VectorOps {
    VectorNorms(CpuThreads threads) {
        super(threads);
    }

    // ---- layer norm ---------------------------------------------------------------------------

    /** out, in [N, C]; weight, bias [C]; mean, rstd [N] or null. Parallel over rows. */
    void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
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
    void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
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

    // ---- RMS norm (the Llama family) ----------------------------------------------------------

    /** out, in [N, C]; weight [C]; rstd [N] or null. Parallel over rows. */
    void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
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
    void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
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
}
