package org.densify.core.cpu;

import static org.densify.core.cpu.VectorExp.exp;
import static org.densify.core.cpu.VectorExp.expScalar;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import org.densify.core.Tensor;

/**
 * Elementwise ops of {@link VectorBackend}: add, accumulate, scale, sumOfSquares, the bias gradient,
 * GELU and SwiGLU; parallel over fixed-size chunks (column blocks for the bias gradient).
 */
final class VectorElementwise extends VectorOps {
    private static final float GELU_K = (float) Math.sqrt(2 / Math.PI);
    private static final float GELU_A = 0.044715f;

    VectorElementwise(CpuThreads threads) {
        super(threads);
    }

    // ---- elementwise --------------------------------------------------------------------------

    void add(Tensor out, Tensor a, Tensor b, long n) {
        MemorySegment o = seg(out), x = seg(a), y = seg(b);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) load(x, i).add(load(y, i)).intoMemorySegment(o, i * 4, ORDER);
            for (; i < to; i++) o.setAtIndex(F, i, x.getAtIndex(F, i) + y.getAtIndex(F, i));
        });
    }

    void accumulate(Tensor dst, Tensor src, long n) {
        add(dst, dst, src, n);
    }

    void scale(Tensor x, float factor, long n) {
        MemorySegment t = seg(x);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) load(t, i).mul(factor).intoMemorySegment(t, i * 4, ORDER);
            for (; i < to; i++) t.setAtIndex(F, i, t.getAtIndex(F, i) * factor);
        });
    }

    /** Chunks of CHUNK floats, each summed in float blocks of SUM_BLOCK moved into a double; chunks added in order. */
    double sumOfSquares(Tensor x, long n) {
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

    /** dbias [N] += column sums of dout [M, N]; parallel over column blocks, rows summed in order. */
    void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
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

    void geluForward(Tensor out, Tensor in, long n) {
        MemorySegment o = seg(out), x = seg(in);
        chunks(n, (from, to) -> {
            long i = from;
            for (; i <= to - VL; i += VL) gelu(load(x, i)).intoMemorySegment(o, i * 4, ORDER);
            for (; i < to; i++) o.setAtIndex(F, i, geluScalar(x.getAtIndex(F, i)));
        });
    }

    void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
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

    // ---- SwiGLU (the Llama family) ------------------------------------------------------------

    void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
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
    void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
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
}
