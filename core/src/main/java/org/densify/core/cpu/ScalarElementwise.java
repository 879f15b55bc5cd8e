package org.densify.core.cpu;

import static org.densify.core.cpu.ScalarOps.addAt;

import org.densify.core.Tensor;

/**
 * Elementwise ops of {@link ScalarBackend}: add, accumulate, scale, sumOfSquares, the bias gradient,
 * GELU and SwiGLU.
 */
final class ScalarElementwise {
    private ScalarElementwise() {
    }

    private static final double GELU_K = Math.sqrt(2 / Math.PI);
    private static final double GELU_A = 0.044715;

    // ---- elementwise --------------------------------------------------------------------------

    static void add(Tensor out, Tensor a, Tensor b, long n) {
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(a), y = CpuTensor.of(b);
        for (long i = 0; i < n; i++) o.set(i, x.get(i) + y.get(i));
    }

    static void accumulate(Tensor dst, Tensor src, long n) {
        CpuTensor d = CpuTensor.of(dst), s = CpuTensor.of(src);
        for (long i = 0; i < n; i++) d.set(i, d.get(i) + s.get(i));
    }

    static void scale(Tensor x, float factor, long n) {
        CpuTensor t = CpuTensor.of(x);
        for (long i = 0; i < n; i++) t.set(i, t.get(i) * factor);
    }

    static double sumOfSquares(Tensor x, long n) {
        CpuTensor t = CpuTensor.of(x);
        double sum = 0;
        for (long i = 0; i < n; i++) {
            double v = t.get(i);
            sum += v * v;
        }
        return sum;
    }

    /** dbias [N] += column sums of dout [M, N]. */
    static void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
        CpuTensor db = CpuTensor.of(dbias), d = CpuTensor.of(dout);
        for (int j = 0; j < N; j++) {
            double sum = 0;
            for (int i = 0; i < M; i++) sum += d.get((long) i * N + j);
            addAt(db, j, sum);
        }
    }

    // ---- activation ---------------------------------------------------------------------------

    static void geluForward(Tensor out, Tensor in, long n) {
        CpuTensor o = CpuTensor.of(out), x = CpuTensor.of(in);
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            o.set(i, (float) (0.5 * v * (1 + Math.tanh(GELU_K * (v + GELU_A * v * v * v)))));
        }
    }

    static void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
        CpuTensor dx = CpuTensor.of(din), x = CpuTensor.of(in), dy = CpuTensor.of(dout);
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            double th = Math.tanh(GELU_K * (v + GELU_A * v * v * v));
            double sech2 = 1 - th * th;
            double grad = 0.5 * (1 + th) + 0.5 * v * sech2 * GELU_K * (1 + 3 * GELU_A * v * v);
            addAt(dx, i, grad * dy.get(i));
        }
    }

    // ---- SwiGLU (the Llama family) ------------------------------------------------------------

    static void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
        CpuTensor o = CpuTensor.of(out), g = CpuTensor.of(gate), u = CpuTensor.of(up);
        for (long i = 0; i < n; i++) {
            double x = g.get(i);
            o.set(i, (float) (x / (1 + Math.exp(-x)) * u.get(i)));
        }
    }

    static void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
        CpuTensor dg = CpuTensor.of(dgate), du = CpuTensor.of(dup), dy = CpuTensor.of(dout);
        CpuTensor g = CpuTensor.of(gate), u = CpuTensor.of(up);
        for (long i = 0; i < n; i++) {
            double x = g.get(i), sig = 1 / (1 + Math.exp(-x)), d = dy.get(i);
            addAt(dg, i, d * u.get(i) * sig * (1 + x * (1 - sig)));
            addAt(du, i, d * x * sig);
        }
    }
}
