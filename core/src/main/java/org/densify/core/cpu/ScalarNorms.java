package org.densify.core.cpu;

import static org.densify.core.cpu.ScalarOps.addAt;

import org.densify.core.Tensor;

/**
 * Layer norm (GPT-2) and RMS norm (the Llama family) of {@link ScalarBackend}.
 */
final class ScalarNorms {
    private ScalarNorms() {
    }

    // ---- layer norm ---------------------------------------------------------------------------

    /** out, in [N, C]; weight, bias [C]; mean, rstd [N] or null. */
    static void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
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
    static void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
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

    // ---- RMS norm (the Llama family) ----------------------------------------------------------

    /** out, in [N, C]; weight [C]; rstd [N] or null. */
    static void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
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
    static void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
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
}
