package org.densify.core.cpu;

import org.densify.core.BackendArguments;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import org.densify.core.Tensor;

/**
 * Position-aware ops of {@link VectorBackend}: the token and position embedding tables (GPT-2)
 * and rotary position embedding (the Llama family).
 */
final class VectorEmbeddings extends VectorOps {
    VectorEmbeddings(CpuThreads threads) {
        super(threads);
    }

    // ---- embedding ----------------------------------------------------------------------------

    /** out [N, C] = wte [V, C] rows + wpe [maxT, C] rows, parallel over rows. */
    void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
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
    void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
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

    // ---- rotary position embedding (the Llama family) -----------------------------------------

    /** out, in [N, heads * hd]; invFreq [hd / 2]. Parallel over rows; the angles of a row are shared by its heads. */
    void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(seg(out), seg(in), positions, seg(invFreq), N, heads, hd, 1f, false);
    }

    void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
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
}
