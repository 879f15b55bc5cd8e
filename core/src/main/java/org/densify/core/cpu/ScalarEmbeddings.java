package org.densify.core.cpu;

import static org.densify.core.cpu.ScalarOps.addAt;

import org.densify.core.BackendArguments;
import org.densify.core.Tensor;

/**
 * Position-aware ops of {@link ScalarBackend}: the token and position embedding tables (GPT-2)
 * and rotary position embedding (the Llama family).
 */
final class ScalarEmbeddings {
    private ScalarEmbeddings() {
    }

    // ---- embedding ----------------------------------------------------------------------------

    /** out [N, C], wte [V, C], wpe [maxT, C]; N = tokens.length. */
    static void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
        BackendArguments.ids(tokens, positions, wte.length() / C, wpe.length() / C);
        CpuTensor o = CpuTensor.of(out), te = CpuTensor.of(wte), pe = CpuTensor.of(wpe);
        for (int t = 0; t < tokens.length; t++) {
            for (int c = 0; c < C; c++) {
                o.set((long) t * C + c, te.get((long) tokens[t] * C + c) + pe.get((long) positions[t] * C + c));
            }
        }
    }

    static void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
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

    // ---- rotary position embedding (the Llama family) -----------------------------------------

    /** out, in [N, heads * hd]; invFreq [hd / 2]. */
    static void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(CpuTensor.of(out), CpuTensor.of(in), positions, CpuTensor.of(invFreq), N, heads, hd, 1, false);
    }

    /** din += R(-angle) dout; din, dout [N, heads * hd]. */
    static void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
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
}
