package org.densify.core.cpu;

import java.lang.foreign.MemorySegment;
import org.densify.core.Tensor;

/**
 * The fast CPU backend: Vector API loops with scalar tails, parallel over independent rows, column
 * blocks, fixed-size chunks or (sequence, head) pairs of {@link CpuThreads}. This class dispatches
 * each op to its family: {@link VectorElementwise}, {@link VectorEmbeddings}, {@link VectorNorms},
 * {@link Gemm} (matmul), {@link VectorAttention}, {@link VectorLoss} and {@link VectorAdamW}.
 *
 * <p>Determinism: every sum runs in an order fixed by the data's shape alone (tasks split rows,
 * columns, fixed-size chunks or heads, never a reduction by the thread count), and the code avoids
 * the two Vector API operations whose result may differ between the interpreter and compiled code:
 * {@code reduceLanes(ADD)} (its order is unspecified; {@link VectorOps#sumLanes} fixes it) and the
 * transcendental lanewise ops (EXP, TANH; {@link VectorExp#exp} is a polynomial of exactly-rounded
 * basic ops, and {@link VectorExp#expScalar} computes the same bits for scalar tails).
 */
public final class VectorBackend extends CpuMemory {
    private final Gemm gemm;
    private final VectorElementwise elementwise;
    private final VectorEmbeddings embeddings;
    private final VectorNorms norms;
    private final VectorAttention attention;
    private final VectorLoss loss;
    private final VectorAdamW adamW;

    public VectorBackend() {
        this(CpuThreads.shared());
    }

    public VectorBackend(CpuThreads threads) {
        this.gemm = new Gemm(threads);
        this.elementwise = new VectorElementwise(threads);
        this.embeddings = new VectorEmbeddings(threads);
        this.norms = new VectorNorms(threads);
        this.attention = new VectorAttention(threads);
        this.loss = new VectorLoss(threads);
        this.adamW = new VectorAdamW(threads);
    }

    @Override
    public String name() {
        return "cpu";
    }

    // ---- elementwise --------------------------------------------------------------------------

    @Override
    public void add(Tensor out, Tensor a, Tensor b, long n) {
        elementwise.add(out, a, b, n);
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, long n) {
        elementwise.accumulate(dst, src, n);
    }

    @Override
    public void scale(Tensor x, float factor, long n) {
        elementwise.scale(x, factor, n);
    }

    @Override
    public double sumOfSquares(Tensor x, long n) {
        return elementwise.sumOfSquares(x, n);
    }

    // ---- embedding ----------------------------------------------------------------------------

    @Override
    public void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
        embeddings.embeddingForward(out, tokens, positions, wte, wpe, C);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
        embeddings.embeddingBackward(dwte, dwpe, dout, tokens, positions, C);
    }

    // ---- layer norm ---------------------------------------------------------------------------

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
                                 int N, int C, float eps) {
        norms.layerNormForward(out, mean, rstd, in, weight, bias, N, C, eps);
    }

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        norms.layerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd, N, C);
    }

    // ---- matrix multiply ----------------------------------------------------------------------

    @Override
    public void matmul(Tensor c, Tensor a, Tensor b, Tensor bias, int M, int N, int K,
                       boolean transA, boolean transB, boolean accumulate) {
        gemm.multiply(seg(c), seg(a), seg(b), bias == null ? null : seg(bias), M, N, K, transA, transB, accumulate);
    }

    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
        elementwise.biasBackward(dbias, dout, M, N);
    }

    // ---- activation ---------------------------------------------------------------------------

    @Override
    public void geluForward(Tensor out, Tensor in, long n) {
        elementwise.geluForward(out, in, n);
    }

    @Override
    public void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
        elementwise.geluBackward(din, in, dout, n);
    }

    // ---- attention ----------------------------------------------------------------------------

    @Override
    public void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
        attention.attentionForward(out, att, lastRow, qkv, seqLengths, NH, C);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
        attention.attentionBackward(dqkv, dout, qkv, att, seqLengths, NH, C);
    }

    @Override
    public void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
                                int[] past, int[] count, int NH, int C, Tensor lastRow) {
        attention.attentionCached(out, q, qStride, kCache, vCache, cacheCapacity, past, count, NH, C, lastRow);
    }

    // ---- loss ---------------------------------------------------------------------------------

    @Override
    public void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        loss.crossEntropy(losses, dlogits, logits, targets, gradScale, N, V);
    }

    @Override
    public void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        loss.tokenLogProbs(logProbs, entropies, logits, targets, N, V);
    }

    @Override
    public void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        loss.tokenLogProbsBackward(dlogits, logits, targets, dLogProbs, N, V);
    }

    // ---- optimiser ----------------------------------------------------------------------------

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step, float gradScale) {
        adamW.adamW(params, grads, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale);
    }

    // ---- Llama family -------------------------------------------------------------------------

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
        norms.rmsNormForward(out, rstd, in, weight, N, C, eps);
    }

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
        norms.rmsNormBackward(din, dweight, dout, in, weight, rstd, N, C);
    }

    @Override
    public void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        embeddings.ropeForward(out, in, positions, invFreq, N, heads, hd);
    }

    @Override
    public void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        embeddings.ropeBackward(din, dout, positions, invFreq, N, heads, hd);
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
        elementwise.swigluForward(out, gate, up, n);
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
        elementwise.swigluBackward(dgate, dup, dout, gate, up, n);
    }

    @Override
    public void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
                                        int[] seqLengths, int H, int KV, int hd) {
        attention.groupedAttentionForward(out, att, lastRow, q, k, v, seqLengths, H, KV, hd);
    }

    @Override
    public void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
                                         int[] seqLengths, int H, int KV, int hd) {
        attention.groupedAttentionBackward(dq, dk, dv, dout, q, k, v, att, seqLengths, H, KV, hd);
    }

    @Override
    public void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
                                       int[] past, int[] count, int H, int KV, int hd, Tensor lastRow) {
        attention.groupedAttentionCached(out, q, kCache, vCache, cacheCapacity, past, count, H, KV, hd, lastRow);
    }

    private static MemorySegment seg(Tensor t) {
        return CpuTensor.of(t).segment();
    }
}
