package org.densify.kernels;

import org.densify.core.BackendArguments;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.Supplier;
import org.densify.core.Backend;
import org.densify.core.Tensor;
import org.densify.kernels.Device.Address;

/**
 * {@link Backend} on an NVIDIA GPU: our kernels ({@code src/main/cuda}, PTX packaged in the jar)
 * for everything but GEMMs, cuBLAS for matmul, one stream. Tensors are {@link CudaTensor}s in
 * device memory; a model's parameter, gradient and activation blocks are one allocation each and
 * move host to device in one copy. Every kernel is deterministic (no atomics, fixed summation
 * orders), so a run repeats bit for bit on the same GPU. Ops are queued asynchronously; {@link
 * #read} and {@link #sumOfSquares} wait for them.
 *
 * <p>fp32 by default; TF32 tensor-core GEMMs with {@code -Ddensify.cuda.tf32=true} or the
 * constructor flag. The device is 0 unless {@code -Ddensify.cuda.device=N}. Not thread-safe (like
 * every backend): one caller at a time, any thread.
 */
public final class CudaBackend implements Backend {
    /** Threads per block of the row and reduction kernels; BLOCK in common.cuh. */
    static final int BLOCK = 256;
    /** ROWS_PER_CHUNK in common.cuh. */
    static final int ROWS_PER_CHUNK = 128;
    /** Attention tile (TILE in attention.cu) and its block of WARPS * 32 threads. */
    static final int TILE = 32, ATTENTION_THREADS = 256;
    private static final int LOSS_THREADS = BLOCK;
    private static final int MAX_GRID = 65535 * 16;

    private final Device device;
    private final Arena hostArena = Arena.ofShared();
    private MemorySegment hostStaging;
    private long uploads, uploadsBytes;      // per-op host inputs (ids, targets)
    private long layouts, layoutsBytes;      // attention work lists, reused while the batch shape repeats
    private long scratch, scratchBytes;      // kernel partial results
    private int[] layoutKey;
    private long[] layoutAddresses;
    private Plan layoutPlan;
    private boolean closed;

    /** Device {@code -Ddensify.cuda.device} (0), TF32 GEMMs when {@code -Ddensify.cuda.tf32=true}. */
    public CudaBackend() {
        this(Integer.getInteger("densify.cuda.device", 0), Boolean.getBoolean("densify.cuda.tf32"));
    }

    public CudaBackend(int deviceOrdinal, boolean tf32) {
        this(openDevice(deviceOrdinal, tf32));
    }

    CudaBackend(Device device) {
        this.device = device;
    }

    private static Device openDevice(int ordinal, boolean tf32) {
        String missing = Ptx.missing();
        if (missing != null) throw new IllegalStateException("the CUDA backend cannot start: " + missing);
        try {
            return new JCudaDevice(ordinal, tf32, Ptx.all());
        } catch (LinkageError e) {
            throw new IllegalStateException("the CUDA backend cannot start: " + CudaBackendProvider.describeLinkError(e), e);
        }
    }

    /** Every kernel entry point the backend launches (each must be in the packaged PTX). */
    public static List<String> kernelNames() {
        return Kernels.ALL;
    }

    @Override
    public String name() {
        return "cuda";
    }

    /** The GPU in words. */
    public String deviceDescription() {
        return device.description();
    }

    /** {free, total} bytes of device memory, as the driver reports them. */
    public long[] memoryInfo() {
        return device.memoryInfo();
    }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public CudaTensor allocate(long length) {
        open();
        BackendArguments.nonNegative(length, "tensor length");
        long bytes = Math.max(length, 1) * Float.BYTES;
        long address = device.allocate(bytes);
        device.zero(address, bytes);
        return new CudaTensor(this, address, length);
    }

    @Override
    public void free(Tensor tensor) {
        CudaTensor t = of(tensor);
        if (t.root != t) throw new IllegalArgumentException("free() takes a tensor from allocate(), not a slice");
        t.freed = true;
        device.free(t.address);
    }

    @Override
    public void write(Tensor dst, long dstOffset, float[] src) {
        write(dst, dstOffset, MemorySegment.ofArray(src));
    }

    @Override
    public void write(Tensor dst, long dstOffset, MemorySegment src) {
        CudaTensor d = of(dst);
        long n = src.byteSize() / Float.BYTES;
        d.slice(dstOffset, n); // bounds check
        device.copyToDevice(d.at(dstOffset), src.asSlice(0, n * Float.BYTES));
    }

    @Override
    public void read(Tensor src, long srcOffset, float[] dst) {
        CudaTensor s = of(src);
        s.slice(srcOffset, dst.length);
        device.copyToHost(MemorySegment.ofArray(dst), s.at(srcOffset));
    }

    @Override
    public void zero(Tensor t) {
        CudaTensor x = of(t);
        device.zero(x.address, x.length() * Float.BYTES);
    }

    @Override
    public void copy(Tensor dst, Tensor src, long n) {
        CudaTensor d = of(dst), s = of(src);
        BackendArguments.nonNegative(n, "count");
        BackendArguments.fits(d, n, "dst");
        BackendArguments.fits(s, n, "src");
        device.copyOnDevice(d.address, s.address, n * Float.BYTES);
    }

    @Override
    public void synchronize() {
        open();
        device.synchronize();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            for (long buffer : new long[] {uploads, layouts, scratch}) if (buffer != 0) device.free(buffer);
        } finally {
            device.close();
            hostArena.close();
        }
    }

    // ---- elementwise --------------------------------------------------------------------------

    @Override
    public void add(Tensor out, Tensor a, Tensor b, long n) {
        elementwise(Kernels.ADD, n, fitted(out, n, "out"), fitted(a, n, "a"), fitted(b, n, "b"), n);
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, long n) {
        elementwise(Kernels.ACCUMULATE, n, fitted(dst, n, "dst"), fitted(src, n, "src"), n);
    }

    @Override
    public void scale(Tensor x, float factor, long n) {
        elementwise(Kernels.SCALE, n, fitted(x, n, "x"), factor, n);
    }

    @Override
    public double sumOfSquares(Tensor x, long n) {
        Address in = fitted(x, n, "x");
        // the number of partial sums is a function of n alone: the same order of additions on any GPU
        int blocks = Math.clamp((n + 16L * BLOCK - 1) / (16L * BLOCK), 1, 1024);
        long partials = scratch((blocks + 1L) * Double.BYTES);
        long result = partials + (long) blocks * Double.BYTES;
        device.launch(Kernels.SUM_OF_SQUARES_PARTIAL, blocks, 1, 1, BLOCK, 1, 1, 0, in, n, new Address(partials));
        device.launch(Kernels.SUM_OF_SQUARES_FINAL, 1, 1, 1, BLOCK, 1, 1, 0, new Address(partials), blocks, new Address(result));
        MemorySegment out = hostStaging(Double.BYTES);
        device.copyToHost(out, result);
        return out.get(ValueLayout.JAVA_DOUBLE, 0);
    }

    private void elementwise(String kernel, long n, Object... args) {
        BackendArguments.nonNegative(n, "count");
        if (n == 0) return;
        device.launch(kernel, grid(n), 1, 1, BLOCK, 1, 1, 0, args);
    }

    // ---- embedding ----------------------------------------------------------------------------

    @Override
    public void embeddingForward(Tensor out, int[] tokens, int[] positions, Tensor wte, Tensor wpe, int C) {
        BackendArguments.ids(tokens, positions, wte.length() / C, wpe.length() / C);
        int N = tokens.length;
        Address o = fitted(out, (long) N * C, "out"), te = of(wte).ptr(), pe = of(wpe).ptr();
        if (N == 0 || C == 0) return;
        long[] at = upload(tokens, positions);
        device.launch(Kernels.EMBEDDING_FORWARD, grid((long) N * C), 1, 1, BLOCK, 1, 1, 0,
                o, new Address(at[0]), new Address(at[1]), te, pe, N, C);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, int[] tokens, int[] positions, int C) {
        BackendArguments.ids(tokens, positions, dwte == null ? Long.MAX_VALUE : dwte.length() / C,
                dwpe == null ? Long.MAX_VALUE : dwpe.length() / C);
        Address d = fitted(dout, (long) tokens.length * C, "dout");
        if (tokens.length == 0 || C == 0) return;
        if (dwte != null) embeddingRows(of(dwte), d, tokens, C);
        if (dwpe != null) embeddingRows(of(dwpe), d, positions, C);
    }

    /** table[ids[t]] += dout[t], through the rows grouped by id (CSR) so each table row has one owner. */
    private void embeddingRows(CudaTensor table, Address dout, int[] ids, int C) {
        int max = 0;
        for (int id : ids) max = Math.max(max, id);
        int[] count = new int[max + 2];
        for (int id : ids) count[id + 1]++;
        for (int i = 1; i < count.length; i++) count[i] += count[i - 1];
        int[] rows = new int[ids.length], next = Arrays.copyOf(count, count.length);
        for (int t = 0; t < ids.length; t++) rows[next[ids[t]]++] = t; // ascending rows within an id
        int unique = 0;
        for (int id = 0; id <= max; id++) if (count[id + 1] > count[id]) unique++;
        int[] uniqueIds = new int[unique], rowStart = new int[unique + 1];
        int u = 0;
        for (int id = 0; id <= max; id++) {
            if (count[id + 1] > count[id]) {
                uniqueIds[u] = id;
                rowStart[u++] = count[id];
            }
        }
        rowStart[unique] = ids.length;
        long[] at = upload(uniqueIds, rowStart, rows);
        device.launch(Kernels.EMBEDDING_BACKWARD, unique, ceilDiv(C, BLOCK), 1, BLOCK, 1, 1, 0,
                table.ptr(), dout, new Address(at[0]), new Address(at[1]), new Address(at[2]), C);
    }

    // ---- layer norm ---------------------------------------------------------------------------

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, int N, int C, float eps) {
        long NC = (long) N * C;
        Object[] args = {fitted(out, NC, "out"), optional(mean, N, "mean"), optional(rstd, N, "rstd"), fitted(in, NC, "in"),
                fitted(weight, C, "weight"), fitted(bias, C, "bias"), N, C, eps};
        if (N == 0) return;
        device.launch(Kernels.LAYERNORM_FORWARD, ceilDiv(N, BLOCK / 32), 1, 1, BLOCK, 1, 1, 0, args);
    }

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        long NC = (long) N * C;
        Address dx = fitted(din, NC, "din"), dy = fitted(dout, NC, "dout"), x = fitted(in, NC, "in");
        Address w = fitted(weight, C, "weight"), mu = fitted(mean, N, "mean"), rs = fitted(rstd, N, "rstd");
        Address dw = optional(dweight, C, "dweight"), db = optional(dbias, C, "dbias");
        if (N == 0 || C == 0) return;
        device.launch(Kernels.LAYERNORM_BACKWARD, ceilDiv(N, BLOCK / 32), 1, 1, BLOCK, 1, 1, 0, dx, dy, x, w, mu, rs, N, C);
        if (dweight == null && dbias == null) return;
        int chunks = ceilDiv(N, ROWS_PER_CHUNK);
        long partials = scratch(2L * chunks * C * Float.BYTES);
        device.launch(Kernels.LAYERNORM_PARAMS_PARTIAL, ceilDiv(C, 32), chunks, 1, 32, 8, 1, 0, dy, x, mu, rs, N, C, new Address(partials));
        if (dweight != null) finishColumnSums(dw, partials, chunks, C);
        if (dbias != null) finishColumnSums(db, partials + (long) chunks * C * Float.BYTES, chunks, C);
    }

    private void finishColumnSums(Address dst, long partials, int chunks, int N) {
        device.launch(Kernels.COLUMN_SUMS_FINISH, grid(N), 1, 1, BLOCK, 1, 1, 0, dst, new Address(partials), chunks, N);
    }

    // ---- matrix multiply ----------------------------------------------------------------------

    @Override
    public void matmul(Tensor c, Tensor a, Tensor b, Tensor bias, int M, int N, int K, boolean transA, boolean transB,
                       boolean accumulate) {
        Address out = fitted(c, (long) M * N, "c"), x = fitted(a, (long) M * K, "a"), y = fitted(b, (long) K * N, "b");
        Address bs = optional(bias, N, "bias");
        if (M == 0 || N == 0) return;
        if (bias != null) { // c = (accumulate ? c : 0) + bias, then the GEMM adds on top
            device.launch(Kernels.BIAS_ROWS, grid((long) M * N), 1, 1, BLOCK, 1, 1, 0, out, bs, M, N, accumulate ? 1 : 0);
        } else if (K == 0 && !accumulate) {
            device.zero(out.value(), (long) M * N * Float.BYTES);
        }
        if (K == 0) return;
        // Row-major C [M, N] is column-major C^T [N, M] = op(B)^T op(A)^T: B first, A second.
        device.sgemm(transB, transA, N, M, K, 1f, y.value(), Math.max(1, transB ? K : N), x.value(), Math.max(1, transA ? M : K),
                bias != null || accumulate ? 1f : 0f, out.value(), N);
    }

    @Override
    public void biasBackward(Tensor dbias, Tensor dout, int M, int N) {
        Address db = fitted(dbias, N, "dbias"), d = fitted(dout, (long) M * N, "dout");
        if (M == 0 || N == 0) return;
        int chunks = ceilDiv(M, ROWS_PER_CHUNK);
        long partials = scratch((long) chunks * N * Float.BYTES);
        device.launch(Kernels.COLUMN_SUMS_PARTIAL, ceilDiv(N, 32), chunks, 1, 32, 8, 1, 0, d, M, N, new Address(partials));
        finishColumnSums(db, partials, chunks, N);
    }

    // ---- activation ---------------------------------------------------------------------------

    @Override
    public void geluForward(Tensor out, Tensor in, long n) {
        elementwise(Kernels.GELU_FORWARD, n, fitted(out, n, "out"), fitted(in, n, "in"), n);
    }

    @Override
    public void geluBackward(Tensor din, Tensor in, Tensor dout, long n) {
        elementwise(Kernels.GELU_BACKWARD, n, fitted(din, n, "din"), fitted(in, n, "in"), fitted(dout, n, "dout"), n);
    }

    // ---- attention ----------------------------------------------------------------------------

    /**
     * The work list of one attention call: items [count, 2] = {sequence, first row of a TILE-row
     * tile}, longest work first; seqInfo [S, 5] (see attention.cu); attOffset [S]; lastRows
     * [captured, 3] = {srcAt, dstAt, length} for attention_last_row_mean; headStride = floats per
     * head of the last-row scratch; maxLastRow = the longest captured row.
     */
    private record Plan(int[] items, int[] seqInfo, long[] attOffset, int[] lastRows, long headStride, int maxLastRow) {
        int itemCount() {
            return items.length / 2;
        }

        int lastRowCount() {
            return lastRows.length / 3;
        }
    }

    /** Sequences of the full forward: query rows = key rows = the sequence's own rows. */
    private static Plan raggedPlan(int[] seqLengths, int NH) {
        int S = seqLengths.length;
        int[] seqInfo = new int[5 * S];
        long[] attOffset = new long[S];
        List<int[]> items = new ArrayList<>();
        List<int[]> last = new ArrayList<>();
        int start = 0, maxT = 0;
        long att = 0;
        for (int s = 0; s < S; s++) {
            int T = seqLengths[s];
            seqInfo[5 * s] = start;
            seqInfo[5 * s + 1] = T;
            seqInfo[5 * s + 2] = start;
            seqInfo[5 * s + 3] = 0;
            seqInfo[5 * s + 4] = T > 0 ? start : -1;
            attOffset[s] = att;
            for (int r0 = 0; r0 < T; r0 += TILE) items.add(new int[] {s, r0, r0});
            if (T > 0) last.add(new int[] {start, start, T});
            maxT = Math.max(maxT, T);
            start += T;
            att += (long) NH * T * T;
        }
        return new Plan(flatten(items), seqInfo, attOffset, flatten3(last), start, maxT);
    }

    /** Decoding: sequence s has count[s] new query rows after past[s] cached keys at cache rows s * capacity. */
    private static Plan cachedPlan(int[] past, int[] count, int capacity) {
        int S = past.length;
        int[] seqInfo = new int[5 * S];
        List<int[]> items = new ArrayList<>();
        List<int[]> last = new ArrayList<>();
        int row = 0, lastAt = 0, maxLen = 0;
        for (int s = 0; s < S; s++) {
            int total = past[s] + count[s];
            seqInfo[5 * s] = row;
            seqInfo[5 * s + 1] = count[s];
            seqInfo[5 * s + 2] = s * capacity;
            seqInfo[5 * s + 3] = past[s];
            seqInfo[5 * s + 4] = count[s] > 0 ? lastAt : -1;
            for (int r0 = 0; r0 < count[s]; r0 += TILE) items.add(new int[] {s, r0, past[s] + r0});
            if (count[s] > 0) {
                last.add(new int[] {lastAt, s * capacity, total});
                lastAt += total;
                maxLen = Math.max(maxLen, total);
            }
            row += count[s];
        }
        return new Plan(flatten(items), seqInfo, new long[] {0}, flatten3(last), lastAt, maxLen);
    }

    /** Items {s, r0, work} sorted by work (keys before the tile) descending, flattened to {s, r0} pairs. */
    private static int[] flatten(List<int[]> items) {
        items.sort(Comparator.comparingInt((int[] i) -> -i[2]));
        int[] out = new int[2 * items.size()];
        for (int i = 0; i < items.size(); i++) {
            out[2 * i] = items.get(i)[0];
            out[2 * i + 1] = items.get(i)[1];
        }
        return out;
    }

    private static int[] flatten3(List<int[]> rows) {
        int[] out = new int[3 * rows.size()];
        for (int i = 0; i < rows.size(); i++) System.arraycopy(rows.get(i), 0, out, 3 * i, 3);
        return out;
    }

    /** Floats of dynamic shared memory of the forward / dq kernels and of the dkv kernel. */
    static int forwardShared(int hs) {
        return 2 * TILE * (hs | 1) + 2 * TILE * hs + TILE * (TILE + 1);
    }

    static int dkvShared(int hs) {
        return 2 * TILE * (hs | 1) + 3 * TILE * hs + TILE * (TILE + 1) + TILE;
    }

    @Override
    public void attentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor qkv, int[] seqLengths, int NH, int C) {
        BackendArguments.heads(NH, C);
        int N = BackendArguments.totalLength(seqLengths);
        long attSize = 0;
        for (int T : seqLengths) attSize += (long) T * T;
        Address o = fitted(out, (long) N * C, "out"), x = fitted(qkv, 3L * N * C, "qkv");
        Address maps = optional(att, NH * attSize, "att"), last = optional(lastRow, N, "lastRow");
        if (N == 0) return;
        int[] key = concat(new int[] {0, NH}, seqLengths);
        Plan plan = plan(key, () -> raggedPlan(seqLengths, NH));
        long[] at = layoutAddresses;
        int hs = C / NH;
        long heads = lastRow == null ? 0 : scratch((long) NH * plan.headStride() * Float.BYTES);
        device.launch(Kernels.ATTENTION_FORWARD, plan.itemCount(), NH, 1, ATTENTION_THREADS, 1, 1, forwardShared(hs) * Float.BYTES,
                o, C, x, 3 * C, offset(x, C), offset(x, 2L * C), 3 * C, 1,
                maps, new Address(at[2]), new Address(heads), plan.headStride(), new Address(at[0]), new Address(at[1]), hs,
                (float) (1 / Math.sqrt(hs)));
        if (lastRow != null) lastRowMean(plan, last, heads, at[3], NH);
    }

    private void lastRowMean(Plan plan, Address dst, long heads, long rowInfo, int NH) {
        if (plan.lastRowCount() == 0) return;
        device.launch(Kernels.ATTENTION_LAST_ROW_MEAN, plan.lastRowCount(), ceilDiv(plan.maxLastRow(), BLOCK), 1, BLOCK, 1, 1, 0,
                dst, new Address(heads), new Address(rowInfo), NH, plan.headStride());
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor att, int[] seqLengths, int NH, int C) {
        BackendArguments.heads(NH, C);
        int N = BackendArguments.totalLength(seqLengths);
        long attSize = 0;
        for (int T : seqLengths) attSize += (long) T * T;
        Address dx = fitted(dqkv, 3L * N * C, "dqkv"), dy = fitted(dout, (long) N * C, "dout"), x = fitted(qkv, 3L * N * C, "qkv");
        Address maps = fitted(att, NH * attSize, "att");
        if (N == 0) return;
        Plan plan = plan(concat(new int[] {0, NH}, seqLengths), () -> raggedPlan(seqLengths, NH));
        long[] at = layoutAddresses;
        int hs = C / NH;
        float scale = (float) (1 / Math.sqrt(hs));
        Address d = new Address(scratch((long) NH * N * Float.BYTES));
        Address items = new Address(at[0]), seqInfo = new Address(at[1]), attOffset = new Address(at[2]);
        Address k = offset(x, C), v = offset(x, 2L * C);
        device.launch(Kernels.ATTENTION_BACKWARD_DQ, plan.itemCount(), NH, 1, ATTENTION_THREADS, 1, 1, forwardShared(hs) * Float.BYTES,
                dx, 3 * C, dy, C, k, v, 3 * C, 1, maps, attOffset, d, N, items, seqInfo, hs, scale);
        device.launch(Kernels.ATTENTION_BACKWARD_DKV, plan.itemCount(), NH, 1, ATTENTION_THREADS, 1, 1, dkvShared(hs) * Float.BYTES,
                offset(dx, C), offset(dx, 2L * C), x, 3 * C, dy, C, v, 3 * C, 1, maps, attOffset, d, N, items, seqInfo, hs, scale);
    }

    /** The address {@code floats} floats after {@code a} (a column offset into packed rows). */
    private static Address offset(Address a, long floats) {
        return new Address(a.value() + floats * Float.BYTES);
    }

    @Override
    public void attentionCached(Tensor out, Tensor q, int qStride, Tensor kCache, Tensor vCache, int cacheCapacity, int[] past,
                                int[] count, int NH, int C, Tensor lastRow) {
        BackendArguments.heads(NH, C);
        BackendArguments.cache(past, count, cacheCapacity, qStride, C);
        int N = BackendArguments.totalLength(count), S = past.length;
        long cacheFloats = (long) S * cacheCapacity * C;
        Address o = fitted(out, (long) N * C, "out"), x = fitted(q, N == 0 ? 0 : (long) (N - 1) * qStride + C, "q");
        Address k = fitted(kCache, cacheFloats, "kCache"), v = fitted(vCache, cacheFloats, "vCache");
        Address last = optional(lastRow, (long) S * cacheCapacity, "lastRow");
        if (N == 0) return;
        int[] key = concat(concat(new int[] {1, cacheCapacity}, past), count);
        Plan plan = plan(key, () -> cachedPlan(past, count, cacheCapacity));
        long[] at = layoutAddresses;
        int hs = C / NH;
        long heads = lastRow == null ? 0 : scratch((long) NH * plan.headStride() * Float.BYTES);
        device.launch(Kernels.ATTENTION_FORWARD, plan.itemCount(), NH, 1, ATTENTION_THREADS, 1, 1, forwardShared(hs) * Float.BYTES,
                o, C, x, qStride, k, v, C, 1, Address.NULL, new Address(at[2]), new Address(heads), plan.headStride(),
                new Address(at[0]), new Address(at[1]), hs, (float) (1 / Math.sqrt(hs)));
        if (lastRow != null) lastRowMean(plan, last, heads, at[3], NH);
    }

    // ---- Llama family ---------------------------------------------------------------------------

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor in, Tensor weight, int N, int C, float eps) {
        long NC = (long) N * C;
        Object[] args = {fitted(out, NC, "out"), optional(rstd, N, "rstd"), fitted(in, NC, "in"), fitted(weight, C, "weight"), N, C, eps};
        if (N == 0) return;
        device.launch(Kernels.RMSNORM_FORWARD, ceilDiv(N, BLOCK / 32), 1, 1, BLOCK, 1, 1, 0, args);
    }

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd, int N, int C) {
        long NC = (long) N * C;
        Address dx = fitted(din, NC, "din"), dy = fitted(dout, NC, "dout"), x = fitted(in, NC, "in");
        Address w = fitted(weight, C, "weight"), rs = fitted(rstd, N, "rstd"), dw = optional(dweight, C, "dweight");
        if (N == 0 || C == 0) return;
        device.launch(Kernels.RMSNORM_BACKWARD, ceilDiv(N, BLOCK / 32), 1, 1, BLOCK, 1, 1, 0, dx, dy, x, w, rs, N, C);
        if (dweight == null) return;
        int chunks = ceilDiv(N, ROWS_PER_CHUNK);
        long partials = scratch((long) chunks * C * Float.BYTES);
        device.launch(Kernels.RMSNORM_WEIGHT_PARTIAL, ceilDiv(C, 32), chunks, 1, 32, 8, 1, 0, dy, x, rs, N, C, new Address(partials));
        finishColumnSums(dw, partials, chunks, C);
    }

    @Override
    public void ropeForward(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(out, in, positions, invFreq, N, heads, hd, 1f, 0);
    }

    @Override
    public void ropeBackward(Tensor din, Tensor dout, int[] positions, Tensor invFreq, int N, int heads, int hd) {
        rope(din, dout, positions, invFreq, N, heads, hd, -1f, 1);
    }

    private void rope(Tensor out, Tensor in, int[] positions, Tensor invFreq, int N, int heads, int hd, float sign, int accumulate) {
        if (hd % 2 != 0) throw new IllegalArgumentException("rotary head size " + hd + " is odd");
        if (positions.length < N) throw new IllegalArgumentException(positions.length + " positions for " + N + " rows");
        long n = (long) N * heads * hd;
        Address o = fitted(out, n, "out"), x = fitted(in, n, "in"), f = fitted(invFreq, hd / 2, "invFreq");
        if (n == 0) return;
        long[] at = upload(java.util.Arrays.copyOf(positions, N));
        device.launch(Kernels.ROPE, grid(n / 2), 1, 1, BLOCK, 1, 1, 0, o, x, new Address(at[0]), f, N, heads, hd, sign, accumulate);
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up, long n) {
        elementwise(Kernels.SWIGLU_FORWARD, n, fitted(out, n, "out"), fitted(gate, n, "gate"), fitted(up, n, "up"), n);
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up, long n) {
        elementwise(Kernels.SWIGLU_BACKWARD, n, fitted(dgate, n, "dgate"), fitted(dup, n, "dup"), fitted(dout, n, "dout"),
                fitted(gate, n, "gate"), fitted(up, n, "up"), n);
    }

    @Override
    public void storeRows(Tensor cache, Tensor rows, int[] past, int[] count, int cacheCapacity, int width) {
        BackendArguments.cache(past, count, cacheCapacity, width, width);
        int N = BackendArguments.totalLength(count), S = past.length;
        Address c = fitted(cache, (long) S * cacheCapacity * width, "cache"), x = fitted(rows, (long) N * width, "rows");
        if (N == 0 || width == 0) return;
        if ((long) S * cacheCapacity > Integer.MAX_VALUE) throw new IllegalArgumentException("a cache of " + S + " x " + cacheCapacity + " rows is too large");
        int[] rowDst = new int[N];
        int r = 0;
        for (int s = 0; s < S; s++) for (int i = 0; i < count[s]; i++) rowDst[r++] = s * cacheCapacity + past[s] + i;
        long[] at = upload(rowDst);
        device.launch(Kernels.ROWS_STORE, grid((long) N * width), 1, 1, BLOCK, 1, 1, 0, c, x, new Address(at[0]), N, width);
    }

    // The GPT-2 attention kernels with separate q, k, v buffers: blocks of the forward and dq run per
    // query head and read key/value head h / (H / KV); blocks of dk/dv run per key/value head and
    // sum over its group of query heads themselves, so no two blocks write the same dk/dv row.

    @Override
    public void groupedAttentionForward(Tensor out, Tensor att, Tensor lastRow, Tensor q, Tensor k, Tensor v,
                                        int[] seqLengths, int H, int KV, int hd) {
        BackendArguments.groupedHeads(H, KV, hd);
        int N = BackendArguments.totalLength(seqLengths), qWidth = H * hd, kvWidth = KV * hd;
        long attSize = 0;
        for (int T : seqLengths) attSize += (long) T * T;
        Address o = fitted(out, (long) N * qWidth, "out"), qs = fitted(q, (long) N * qWidth, "q");
        Address ks = fitted(k, (long) N * kvWidth, "k"), vs = fitted(v, (long) N * kvWidth, "v");
        Address maps = optional(att, H * attSize, "att"), last = optional(lastRow, N, "lastRow");
        if (N == 0) return;
        Plan plan = plan(concat(new int[] {0, H}, seqLengths), () -> raggedPlan(seqLengths, H));
        long[] at = layoutAddresses;
        long heads = lastRow == null ? 0 : scratch((long) H * plan.headStride() * Float.BYTES);
        device.launch(Kernels.ATTENTION_FORWARD, plan.itemCount(), H, 1, ATTENTION_THREADS, 1, 1, forwardShared(hd) * Float.BYTES,
                o, qWidth, qs, qWidth, ks, vs, kvWidth, H / KV, maps, new Address(at[2]), new Address(heads), plan.headStride(),
                new Address(at[0]), new Address(at[1]), hd, (float) (1 / Math.sqrt(hd)));
        if (lastRow != null) lastRowMean(plan, last, heads, at[3], H);
    }

    @Override
    public void groupedAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor att,
                                         int[] seqLengths, int H, int KV, int hd) {
        BackendArguments.groupedHeads(H, KV, hd);
        int N = BackendArguments.totalLength(seqLengths), qWidth = H * hd, kvWidth = KV * hd;
        long attSize = 0;
        for (int T : seqLengths) attSize += (long) T * T;
        long qFloats = (long) N * qWidth, kvFloats = (long) N * kvWidth;
        Address dqs = fitted(dq, qFloats, "dq"), dks = fitted(dk, kvFloats, "dk"), dvs = fitted(dv, kvFloats, "dv");
        Address dy = fitted(dout, qFloats, "dout"), qs = fitted(q, qFloats, "q"), ks = fitted(k, kvFloats, "k");
        Address vs = fitted(v, kvFloats, "v"), maps = fitted(att, H * attSize, "att");
        if (N == 0) return;
        Plan plan = plan(concat(new int[] {0, H}, seqLengths), () -> raggedPlan(seqLengths, H));
        long[] at = layoutAddresses;
        float scale = (float) (1 / Math.sqrt(hd));
        int group = H / KV;
        Address d = new Address(scratch((long) H * N * Float.BYTES));
        Address items = new Address(at[0]), seqInfo = new Address(at[1]), attOffset = new Address(at[2]);
        device.launch(Kernels.ATTENTION_BACKWARD_DQ, plan.itemCount(), H, 1, ATTENTION_THREADS, 1, 1, forwardShared(hd) * Float.BYTES,
                dqs, qWidth, dy, qWidth, ks, vs, kvWidth, group, maps, attOffset, d, N, items, seqInfo, hd, scale);
        device.launch(Kernels.ATTENTION_BACKWARD_DKV, plan.itemCount(), KV, 1, ATTENTION_THREADS, 1, 1, dkvShared(hd) * Float.BYTES,
                dks, dvs, qs, qWidth, dy, qWidth, vs, kvWidth, group, maps, attOffset, d, N, items, seqInfo, hd, scale);
    }

    @Override
    public void groupedAttentionCached(Tensor out, Tensor q, Tensor kCache, Tensor vCache, int cacheCapacity,
                                       int[] past, int[] count, int H, int KV, int hd, Tensor lastRow) {
        BackendArguments.groupedHeads(H, KV, hd);
        int qWidth = H * hd, kvWidth = KV * hd;
        BackendArguments.cache(past, count, cacheCapacity, qWidth, qWidth);
        int N = BackendArguments.totalLength(count), S = past.length;
        long cacheFloats = (long) S * cacheCapacity * kvWidth;
        Address o = fitted(out, (long) N * qWidth, "out"), qs = fitted(q, (long) N * qWidth, "q");
        Address ks = fitted(kCache, cacheFloats, "kCache"), vs = fitted(vCache, cacheFloats, "vCache");
        Address last = optional(lastRow, (long) S * cacheCapacity, "lastRow");
        if (N == 0) return;
        Plan plan = plan(concat(concat(new int[] {1, cacheCapacity}, past), count), () -> cachedPlan(past, count, cacheCapacity));
        long[] at = layoutAddresses;
        long heads = lastRow == null ? 0 : scratch((long) H * plan.headStride() * Float.BYTES);
        device.launch(Kernels.ATTENTION_FORWARD, plan.itemCount(), H, 1, ATTENTION_THREADS, 1, 1, forwardShared(hd) * Float.BYTES,
                o, qWidth, qs, qWidth, ks, vs, kvWidth, H / KV, Address.NULL, new Address(at[2]), new Address(heads),
                plan.headStride(), new Address(at[0]), new Address(at[1]), hd, (float) (1 / Math.sqrt(hd)));
        if (lastRow != null) lastRowMean(plan, last, heads, at[3], H);
    }

    @Override
    public void storeKeysValues(Tensor kCache, Tensor vCache, Tensor qkv, int[] past, int[] count, int cacheCapacity, int C) {
        BackendArguments.cache(past, count, cacheCapacity, 3 * C, C);
        int N = BackendArguments.totalLength(count), S = past.length;
        long cacheFloats = (long) S * cacheCapacity * C;
        Address k = fitted(kCache, cacheFloats, "kCache"), v = fitted(vCache, cacheFloats, "vCache"), x = fitted(qkv, (long) N * 3 * C, "qkv");
        if (N == 0 || C == 0) return;
        if ((long) S * cacheCapacity > Integer.MAX_VALUE) throw new IllegalArgumentException("a cache of " + S + " x " + cacheCapacity + " rows is too large");
        int[] rowDst = new int[N];
        int r = 0;
        for (int s = 0; s < S; s++) for (int i = 0; i < count[s]; i++) rowDst[r++] = s * cacheCapacity + past[s] + i;
        long[] at = upload(rowDst);
        device.launch(Kernels.KV_STORE, grid((long) N * C), 1, 1, BLOCK, 1, 1, 0, k, v, x, new Address(at[0]), N, C);
    }

    /**
     * The plan for {@code key} with its arrays on the device ({@link #layoutAddresses}: items,
     * seqInfo, attOffset, lastRows): uploaded once and reused while the key repeats, as it does
     * for every layer of a pass and for the backward after it.
     */
    private Plan plan(int[] key, Supplier<Plan> make) {
        if (layoutKey == null || !Arrays.equals(layoutKey, key)) {
            Plan p = make.get();
            layoutKey = null; // stays null if the upload fails
            layoutAddresses = stage(true, p.items(), p.seqInfo(), p.attOffset(), p.lastRows());
            layoutPlan = p;
            layoutKey = key;
        }
        return layoutPlan;
    }

    // ---- loss ---------------------------------------------------------------------------------

    @Override
    public void crossEntropy(Tensor losses, Tensor dlogits, Tensor logits, int[] targets, float gradScale, int N, int V) {
        BackendArguments.targets(targets, N, V);
        long NV = (long) N * V;
        Address l = optional(losses, N, "losses"), d = optional(dlogits, NV, "dlogits"), x = fitted(logits, NV, "logits");
        if (N == 0) return;
        long[] at = upload(Arrays.copyOf(targets, N));
        device.launch(Kernels.CROSS_ENTROPY, N, 1, 1, LOSS_THREADS, 1, 1, 0, l, d, x, new Address(at[0]), gradScale, N, V);
    }

    @Override
    public void tokenLogProbs(Tensor logProbs, Tensor entropies, Tensor logits, int[] targets, int N, int V) {
        BackendArguments.targets(targets, N, V);
        Address lp = optional(logProbs, N, "logProbs"), ent = optional(entropies, N, "entropies");
        Address x = fitted(logits, (long) N * V, "logits");
        if (N == 0) return;
        long[] at = upload(Arrays.copyOf(targets, N));
        device.launch(Kernels.TOKEN_LOG_PROBS, N, 1, 1, LOSS_THREADS, 1, 1, 0, lp, ent, x, new Address(at[0]), N, V);
    }

    @Override
    public void tokenLogProbsBackward(Tensor dlogits, Tensor logits, int[] targets, float[] dLogProbs, int N, int V) {
        BackendArguments.targets(targets, N, V);
        if (dLogProbs.length < N) throw new IllegalArgumentException("dLogProbs has " + dLogProbs.length + " entries for " + N + " rows");
        long NV = (long) N * V;
        Address d = fitted(dlogits, NV, "dlogits"), x = fitted(logits, NV, "logits");
        if (N == 0) return;
        long[] at = upload(Arrays.copyOf(targets, N), Arrays.copyOf(dLogProbs, N));
        device.launch(Kernels.TOKEN_LOG_PROBS_BACKWARD, N, 1, 1, LOSS_THREADS, 1, 1, 0, d, x, new Address(at[0]), new Address(at[1]), N, V);
    }

    // ---- optimiser ----------------------------------------------------------------------------

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, long n, float lr, float beta1, float beta2, float eps,
                      float weightDecay, int step, float gradScale) {
        float correction1 = (float) (1 - Math.pow(beta1, step)), correction2 = (float) (1 - Math.pow(beta2, step));
        elementwise(Kernels.ADAMW, n, fitted(params, n, "params"), fitted(grads, n, "grads"), fitted(m, n, "m"), fitted(v, n, "v"), n,
                lr, beta1, beta2, eps, weightDecay, correction1, correction2, gradScale);
    }

    // ---- helpers ------------------------------------------------------------------------------

    private void open() {
        if (closed) throw new IllegalStateException("this CUDA backend is closed");
    }

    private CudaTensor of(Tensor t) {
        open();
        if (t == null) throw new NullPointerException("tensor is null");
        if (!(t instanceof CudaTensor c)) {
            throw new IllegalArgumentException("the CUDA backend was given a " + t.getClass().getSimpleName()
                    + "; tensors belong to the backend that allocated them");
        }
        if (c.owner != this) throw new IllegalArgumentException("a CUDA tensor of another CudaBackend instance was passed");
        if (c.root.freed) throw new IllegalStateException("a CUDA tensor was used after free()");
        return c;
    }

    /** The address of {@code t}, after checking it holds {@code floats} floats. */
    private Address fitted(Tensor t, long floats, String what) {
        CudaTensor c = of(t);
        BackendArguments.fits(c, floats, what);
        return c.ptr();
    }

    private Address optional(Tensor t, long floats, String what) {
        return t == null ? Address.NULL : fitted(t, floats, what);
    }

    private static int grid(long n) {
        return Math.clamp((n + BLOCK - 1) / BLOCK, 1, MAX_GRID);
    }

    private static int ceilDiv(int a, int b) {
        return Math.max(1, (a + b - 1) / b);
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** {@code bytes} of device scratch, valid until the next call that asks for scratch. */
    private long scratch(long bytes) {
        if (bytes > scratchBytes) {
            if (scratch != 0) device.free(scratch);
            scratch = 0;
            long size = Math.max(bytes, 1L << 20);
            scratch = device.allocate(size);
            scratchBytes = size;
        }
        return scratch;
    }

    /** Host inputs (int[], long[] or float[]) on the device, valid until the next upload; their addresses in order. */
    private long[] upload(Object... arrays) {
        return stage(false, arrays);
    }

    private long[] stage(boolean layout, Object... arrays) {
        long[] offsets = new long[arrays.length];
        long size = 0;
        for (int i = 0; i < arrays.length; i++) {
            offsets[i] = size;
            long bytes = switch (arrays[i]) {
                case int[] a -> 4L * a.length;
                case float[] a -> 4L * a.length;
                case long[] a -> 8L * a.length;
                default -> throw new IllegalArgumentException(arrays[i].getClass().toString());
            };
            size = (size + bytes + 15) & ~15L;
        }
        MemorySegment host = hostStaging(Math.max(size, 16));
        for (int i = 0; i < arrays.length; i++) {
            MemorySegment from = switch (arrays[i]) {
                case int[] a -> MemorySegment.ofArray(a);
                case float[] a -> MemorySegment.ofArray(a);
                case long[] a -> MemorySegment.ofArray(a);
                default -> throw new IllegalArgumentException(arrays[i].getClass().toString());
            };
            host.asSlice(offsets[i], from.byteSize()).copyFrom(from);
        }
        long base;
        if (layout) {
            if (size > layoutsBytes) {
                if (layouts != 0) device.free(layouts);
                layouts = 0;
                layoutsBytes = Math.max(size, 64 << 10);
                layouts = device.allocate(layoutsBytes);
            }
            base = layouts;
        } else {
            if (size > uploadsBytes) {
                if (uploads != 0) device.free(uploads);
                uploads = 0;
                uploadsBytes = Math.max(size, 64 << 10);
                uploads = device.allocate(uploadsBytes);
            }
            base = uploads;
        }
        // a synchronous copy from pageable memory: queued work that still reads this buffer finishes first
        device.copyToDevice(base, host.asSlice(0, size));
        long[] addresses = new long[arrays.length];
        for (int i = 0; i < arrays.length; i++) addresses[i] = base + offsets[i];
        return addresses;
    }

    private MemorySegment hostStaging(long bytes) {
        if (hostStaging == null || hostStaging.byteSize() < bytes) hostStaging = hostArena.allocate(Math.max(bytes, 64 << 10), 64);
        return hostStaging.asSlice(0, bytes);
    }
}
