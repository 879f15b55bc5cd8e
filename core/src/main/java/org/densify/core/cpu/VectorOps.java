package org.densify.core.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.densify.core.Tensor;

/**
 * What the op families of {@link VectorBackend} share: the threads and the two ways elementwise
 * work is split between them (fixed-size chunks, column blocks), and the lane helpers.
 */
abstract class VectorOps {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();
    static final ByteOrder ORDER = ByteOrder.nativeOrder();
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    /** Elementwise ops and sumOfSquares split n floats into chunks of this size (a multiple of VL). */
    static final int CHUNK = 1 << 14;
    /** Column-parallel reductions (dbias, dweight, embedding grads) give each task this many columns. */
    static final int COLUMNS = 64;
    /** Long float sums (cross-entropy denominators, sumOfSquares) move into a double every this many floats. */
    static final int SUM_BLOCK = 256;

    final CpuThreads threads;

    VectorOps(CpuThreads threads) {
        this.threads = threads;
    }

    static MemorySegment seg(Tensor t) {
        return CpuTensor.of(t).segment();
    }

    static FloatVector load(MemorySegment s, long floatIndex) {
        return FloatVector.fromMemorySegment(S, s, floatIndex * 4, ORDER);
    }

    /** Lanes added first to last: reduceLanes(ADD) leaves the order open, so compiled and interpreted code may differ. */
    static float sumLanes(FloatVector v) {
        float sum = 0;
        for (int i = 0; i < VL; i++) sum += v.lane(i);
        return sum;
    }

    static int ceilDiv(int n, int d) {
        return (n + d - 1) / d;
    }

    static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    @FunctionalInterface
    interface LongRange {
        void run(long from, long to);
    }

    @FunctionalInterface
    interface IntRange {
        void run(int from, int to);
    }

    static int chunkCount(long n) {
        return Math.toIntExact((n + CHUNK - 1) / CHUNK);
    }

    /** [0, n) in chunks of CHUNK floats, in parallel. */
    void chunks(long n, LongRange body) {
        threads.forEach(chunkCount(n), c -> body.run((long) c * CHUNK, Math.min(n, (long) (c + 1) * CHUNK)));
    }

    /** Columns [0, n) in blocks of COLUMNS, in parallel. */
    void columnBlocks(int n, IntRange body) {
        threads.forEach((n + COLUMNS - 1) / COLUMNS, b -> body.run(b * COLUMNS, Math.min(n, (b + 1) * COLUMNS)));
    }
}
