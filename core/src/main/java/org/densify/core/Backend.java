package org.densify.core;

import java.lang.foreign.MemorySegment;

/**
 * The operations of a forward and backward pass of GPT-2 and of the Llama family, owned by one device. {@link
 * org.densify.core.cpu.ScalarBackend} is the plain-loop reference; every faster backend is tested
 * against it op by op.
 *
 * <p>Conventions, the same for every backend:
 * <ul>
 *   <li>Matrices are row-major and dense. Shapes are given as {@code [rows, cols]} in the docs.
 *   <li>A ragged batch is a set of sequences laid end to end: {@code N = sum(seqLengths)} token
 *       rows, no padding. Attention never crosses a sequence boundary.
 *   <li>Forward ops overwrite their outputs. Backward ops <b>accumulate</b> ({@code +=}) into every
 *       gradient they produce, activations and parameters alike, so the caller zeroes gradient
 *       buffers before a backward pass (llm.c's convention: residual branches then add up by
 *       themselves).
 *   <li>Results are bitwise deterministic for the same inputs whatever the thread count.
 *   <li>Integer inputs (token ids, positions, targets) are host arrays; a device backend copies
 *       them itself.
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** Short name for logs and the CLI: "scalar", "cpu", "cuda". */
    String name();

    // ---- memory -------------------------------------------------------------------------------

    /** A new zero-filled tensor of {@code length} floats owned by this backend. */
    Tensor allocate(long length);

    /** Frees a tensor from {@link #allocate} (not a slice). Using it afterwards is an error. */
    void free(Tensor tensor);

    /** Copies {@code src.length} floats from the host into {@code dst} starting at float {@code dstOffset}. */
    void write(Tensor dst, long dstOffset, float[] src);

    /** Copies floats from a host segment (native byte order, {@code byteSize / 4} floats) into {@code dst}. */
    void write(Tensor dst, long dstOffset, MemorySegment src);

    /** Copies {@code dst.length} floats of {@code src} starting at float {@code srcOffset} to the host. */
    void read(Tensor src, long srcOffset, float[] dst);

    /** Sets every float of {@code t} to 0. */
    void zero(Tensor t);

    /** {@code dst[i] = src[i]}, {@code i < n}. */
    void copy(Tensor dst, Tensor src, long n);

    /** Waits until all queued work is done (a no-op on the CPU). */
    default void synchronize() {}

    @Override
    void close();

    // ---- elementwise --------------------------------------------------------------------------

    /** {@code out = a + b} over {@code n} floats (the residual add). {@code out} may alias {@code a}. */
    void add(Tensor out, Tensor a, Tensor b, long n);

    /** {@code dst += src} over {@code n} floats. */
    void accumulate(Tensor dst, Tensor src, long n);

    /** {@code x *= factor} over {@code n} floats. */
    void scale(Tensor x, float factor, long n);

    /** Sum of squares of {@code n} floats, accumulated in double in a fixed order. */
    double sumOfSquares(Tensor x, long n);

    // ---- embedding ----------------------------------------------------------------------------

    /**
     * {@code out[t, :] = wte[tokens[t], :] + wpe[positions[t], :]}.
     * out [N, C], wte [V, C], wpe [maxT, C], tokens and positions of length N.
     */
    void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C);

    /** {@code dwte[tokens[t]] += dout[t]; dwpe[positions[t]] += dout[t]}. Either gradient may be null. */
    void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C);

    // ---- layer norm ---------------------------------------------------------------------------

    /**
     * Row-wise layer norm with biased variance: {@code out = (in - mean) * rstd * weight + bias}.
     * out, in [N, C]; weight, bias [C]; mean, rstd [N] are saved for the backward (may be null when
     * no backward follows).
     */
    void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias,
                          int N, int C, float eps);

    /** Accumulates din [N, C] (required), dweight [C], dbias [C] from dout [N, C]. */
    void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                           Tensor mean, Tensor rstd, int N, int C);

    // ---- matrix multiply ----------------------------------------------------------------------

    /**
     * {@code c = (accumulate ? c : 0) + op(a) op(b) (+ bias)}, with op(a) [M, K] and op(b) [K, N]:
     * a is stored [M, K], or [K, M] when {@code transA}; b is stored [K, N], or [N, K] when
     * {@code transB}; c [M, N]; bias [N] added to every row, or null.
     */
    void matmul(Tensor c, Tensor a, Tensor b, Tensor bias, int M, int N, int K,
                boolean transA, boolean transB, boolean accumulate);

    /** {@code dbias[j] += sum_i dout[i, j]}, dout [M, N], dbias [N]. */
    void biasBackward(Tensor dbias, Tensor dout, int M, int N);

    // ---- activation ---------------------------------------------------------------------------

    /** {@code out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))} (GPT-2's gelu_new) over n floats. */
    void geluForward(Tensor out, Tensor in, long n);

    /** {@code din += gelu'(in) * dout} over n floats. */
    void geluBackward(Tensor din, Tensor in, Tensor dout, long n);

    // ---- attention ----------------------------------------------------------------------------

    /**
     * Causal multi-head self-attention over a ragged batch.
     *
     * <p>qkv [N, 3C]: each row holds q (C floats), then k, then v; head h owns columns
     * {@code [h * hs, (h + 1) * hs)} of each, {@code hs = C / NH}. out [N, C]: per head
     * {@code softmax(q k^T / sqrt(hs) + causal mask) v}, heads side by side.
     *
     * @param att     null, or the probabilities of every sequence back to back: sequence s holds
     *                [NH, T_s, T_s] (row = query, entries above the diagonal written as 0), starting
     *                at {@code NH * sum_{r<s} T_r^2}. Needed by the backward; also what "capture all
     *                maps" reads.
     * @param lastRow null, or [N]: for each sequence s, the attention probabilities of its last query
     *                row averaged over heads, written at the sequence's own token offsets
     *                ({@code lastRow[start_s + j] = mean_h P_h[T_s - 1, j]}). Attention Based Credit reads this.
     */
    void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C);

    /** Accumulates dqkv [N, 3C] from dout [N, C], given the forward's qkv and att (both as written by the forward). */
    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C);

    /**
     * Attention for new tokens against a key/value cache (generation).
     *
     * <p>Sequence s has {@code past[s]} cached positions and {@code count[s]} new tokens; its new
     * rows sit back to back in q and out (N = sum(count) rows). q rows have stride
     * {@code qStride} floats (3C when read from a qkv buffer), out [N, C]. Keys and values of
     * sequence s, position p are at {@code kCache/vCache[(s * cacheCapacity + p) * C]} and must
     * already hold positions {@code < past[s] + count[s]}. New token i of s attends to positions
     * {@code <= past[s] + i}.
     *
     * @param lastRow null, or [numSeq, cacheCapacity]: for each sequence, the head-averaged
     *                probabilities of its last new row over positions {@code 0 .. past+count-1}
     *                (the rest of the row, and the rows of sequences with no new token, are left as is).
     */
    void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity,
                         int[] past, int[] count, int NH, int C, Tensor lastRow);

    /**
     * Stores the keys and values of new rows in a KV cache (the layout of {@link #attentionCached}):
     * new row i of sequence s (rows of each sequence back to back in qkv [N, 3C], {@code count[s]}
     * of them) is copied to position {@code past[s] + i}: {@code kCache[(s * cacheCapacity + past[s] + i) * C + c]
     * = qkv[row, C + c]} and {@code vCache[...] = qkv[row, 2C + c]}. One call per layer, not one per row.
     */
    void storeKeysValues(Tensor kCache, Tensor vCache, Tensor qkv, int[] past, int[] count, int cacheCapacity, int C);

    // ---- Llama family -------------------------------------------------------------------------
    //
    // Llama, Qwen2 and Qwen3 (docs/design.md section 10). Query, key and value live in three buffers:
    // q [N, H * hd], k and v [N, KV * hd]; query head h reads key/value head h / (H / KV).

    /**
     * Root-mean-square norm, row by row: {@code out = in * rstd * weight}, {@code rstd = 1 / sqrt(mean(in^2) + eps)}.
     * out, in [N, C] (out may alias in); weight [C]; rstd [N] saved for the backward, or null.
     */
    void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps);

    /** Accumulates din [N, C] (required, not aliasing dout) and dweight [C] (or null) from dout [N, C]. */
    void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C);

    /**
     * Rotary position embedding as Hugging Face applies it ({@code rotate_half}): for every row t,
     * head and {@code i < hd / 2}, with {@code a = positions[t] * invFreq[i]} (angle taken in double),
     * {@code out[i] = x[i] cos a - x[i + hd/2] sin a}, {@code out[i + hd/2] = x[i + hd/2] cos a + x[i] sin a}.
     * out, in [N, heads * hd] (out may alias in); invFreq [hd / 2]; positions of length N.
     */
    void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd);

    /** Accumulates din [N, heads * hd] (not aliasing dout) with the transposed rotation of dout. */
    void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd);

    /** {@code out = silu(gate) * up} over n floats, {@code silu(x) = x / (1 + e^-x)}. */
    void swigluForward(Tensor out, Tensor gate, Tensor up, long n);

    /** Accumulates {@code dgate += dout * up * silu'(gate)} and {@code dup += dout * silu(gate)} over n floats. */
    void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n);

    /**
     * Grouped-query causal attention over a ragged batch: q [N, H * hd], k, v [N, KV * hd]
     * (H a multiple of KV), out [N, H * hd]; per query head {@code softmax(q k^T / sqrt(hd) + mask) v}.
     *
     * @param att     null, or the probabilities per sequence [H, T_s, T_s] back to back (layout of
     *                {@link #attentionForward}); needed by the backward
     * @param lastRow null, or [N]: each sequence's last query row averaged over the H query heads,
     *                at the sequence's own token offsets
     */
    void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
                                 int[] seqLengths, int H, int KV, int hd);

    /** Accumulates dq [N, H * hd], dk and dv [N, KV * hd] from dout [N, H * hd], given the forward's inputs and att. */
    void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
                                  int[] seqLengths, int H, int KV, int hd);

    /**
     * {@link #attentionCached} with grouped queries: q, out [N, H * hd] (new rows, sequences back to
     * back); kCache, vCache [numSeq, cacheCapacity, KV * hd]; lastRow null or [numSeq, cacheCapacity],
     * averaged over the H query heads.
     */
    void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
                                int[] past, int[] count, int H, int KV, int hd, Tensor lastRow);

    /**
     * Copies new rows into a cache: new row i of sequence s (rows [N, width], sequences back to back,
     * {@code count[s]} each) goes to {@code cache[(s * cacheCapacity + past[s] + i) * width ..]}.
     */
    void storeRows(Tensor cache, Tensor rows, int[] past, int[] count, int cacheCapacity, int width);

    // ---- loss ---------------------------------------------------------------------------------

    /**
     * Softmax cross-entropy over the vocabulary, row by row, logits [N, V].
     * {@code losses[i] = logsumexp(logits[i]) - logits[i, targets[i]]}, and 0 where {@code targets[i] < 0}
     * ({@code losses} may be null when only the gradient is wanted).
     * When {@code dlogits} is non-null (it may be the logits tensor itself) it is <b>overwritten</b> with
     * {@code (softmax(logits[i]) - onehot(targets[i])) * gradScale}, or 0 for rows without a target.
     */
    void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V);

    /**
     * The log-probability of chosen tokens and the entropy of each row's distribution, logits [N, V]
     * (policy-gradient losses): {@code logProbs[i] = logits[i, targets[i]] - logsumexp(logits[i])},
     * {@code entropies[i] = -sum_j p_ij log p_ij} with {@code p_i = softmax(logits[i])}; both 0 where
     * {@code targets[i] < 0}. Either output may be null.
     */
    void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V);

    /**
     * The gradient of {@code sum_i dLogProbs[i] * logProbs[i]} (see {@link #tokenLogProbs}) with respect
     * to the logits: {@code dlogits} [N, V] (may be the logits tensor itself) is <b>overwritten</b> with
     * {@code dLogProbs[i] * (onehot(targets[i]) - softmax(logits[i]))}, or 0 for rows without a target.
     */
    void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V);

    // ---- optimiser ----------------------------------------------------------------------------

    /**
     * One AdamW step over n parameters, as torch.optim.AdamW: with {@code g = grads * gradScale},
     * {@code p -= lr * weightDecay * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)}. step counts from 1.
     */
    void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2,
               float eps, float weightDecay, int step, float gradScale);
}
