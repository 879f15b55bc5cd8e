package org.densify.core.cpu;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * The reference backend: single-threaded loops that follow the formulas of {@link Backend} line by
 * line, with every sum (means, variances, dot products, softmax denominators) taken in double.
 * Slow on purpose; every other backend is tested against it. Indexing follows llm.c: a row-major
 * {@code [R, C]} matrix holds element {@code (r, c)} at {@code r * C + c}. This class dispatches each
 * op to its family: {@link ScalarElementwise}, {@link ScalarEmbeddings}, {@link ScalarNorms},
 * {@link ScalarAttention}, {@link ScalarLoss} and {@link ScalarAdamW}; matmul is here.
 */
public final class ScalarBackend extends CpuMemory {
    @Override
    public String name() {
        return "scalar";
    }

    // ---- elementwise --------------------------------------------------------------------------

    @Override
    public void add(Tensor out, Tensor a, Tensor b, long n) {
        ScalarElementwise.add(out, a, b, n);
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, long n) {
        ScalarElementwise.accumulate(dst, src, n);
    }

    @Override
    public void scale(Tensor x, float factor, long n) {
        ScalarElementwise.scale(x, factor, n);
    }

    @Override
    public double sumOfSquares(Tensor x, long n) {
        return ScalarElementwise.sumOfSquares(x, n);
    }

    // ---- embedding ----------------------------------------------------------------------------

    @Override
    public void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
        ScalarEmbeddings.embeddingForward(out, tokens, positions, wte, wpe, C);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
        ScalarEmbeddings.embeddingBackward(dwte, dwpe, dout, tokens, positions, C);
    }

    // ---- layer norm ---------------------------------------------------------------------------

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
                                 int N, int C, float eps) {
        ScalarNorms.layerNormForward(out, mean, rstd, in, weight, bias, N, C, eps);
    }

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        ScalarNorms.layerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd, N, C);
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

    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
        ScalarElementwise.biasBackward(dbias, dout, M, N);
    }

    // ---- activation ---------------------------------------------------------------------------

    @Override
    public void geluForward(Tensor out, Tensor in, long n) {
        ScalarElementwise.geluForward(out, in, n);
    }

    @Override
    public void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
        ScalarElementwise.geluBackward(din, in, dout, n);
    }

    // ---- attention ----------------------------------------------------------------------------

    @Override
    public void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
        ScalarAttention.attentionForward(out, att, lastRow, qkv, seqLengths, NH, C);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
        ScalarAttention.attentionBackward(dqkv, dout, qkv, att, seqLengths, NH, C);
    }

    @Override
    public void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
                                int[] past, int[] count, int NH, int C, Tensor lastRow) {
        ScalarAttention.attentionCached(out, q, qStride, kCache, vCache, cacheCapacity, past, count, NH, C, lastRow);
    }

    // ---- loss ---------------------------------------------------------------------------------

    @Override
    public void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        ScalarLoss.crossEntropy(losses, dlogits, logits, targets, gradScale, N, V);
    }

    @Override
    public void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        ScalarLoss.tokenLogProbs(logProbs, entropies, logits, targets, N, V);
    }

    @Override
    public void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        ScalarLoss.tokenLogProbsBackward(dlogits, logits, targets, dLogProbs, N, V);
    }

    // ---- optimiser ----------------------------------------------------------------------------

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int step, float gradScale) {
        ScalarAdamW.adamW(params, grads, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale);
    }

    // ---- Llama family -------------------------------------------------------------------------

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
        ScalarNorms.rmsNormForward(out, rstd, in, weight, N, C, eps);
    }

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
        ScalarNorms.rmsNormBackward(din, dweight, dout, in, weight, rstd, N, C);
    }

    @Override
    public void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        ScalarEmbeddings.ropeForward(out, in, positions, invFreq, N, heads, hd);
    }

    @Override
    public void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        ScalarEmbeddings.ropeBackward(din, dout, positions, invFreq, N, heads, hd);
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
        ScalarElementwise.swigluForward(out, gate, up, n);
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
        ScalarElementwise.swigluBackward(dgate, dup, dout, gate, up, n);
    }

    @Override
    public void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
                                        int[] seqLengths, int H, int KV, int hd) {
        ScalarAttention.groupedAttentionForward(out, att, lastRow, q, k, v, seqLengths, H, KV, hd);
    }

    @Override
    public void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
                                         int[] seqLengths, int H, int KV, int hd) {
        ScalarAttention.groupedAttentionBackward(dq, dk, dv, dout, q, k, v, att, seqLengths, H, KV, hd);
    }

    @Override
    public void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
                                       int[] past, int[] count, int H, int KV, int hd, Tensor lastRow) {
        ScalarAttention.groupedAttentionCached(out, q, kCache, vCache, cacheCapacity, past, count, H, KV, hd, lastRow);
    }
}
