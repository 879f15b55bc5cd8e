package org.densify.core.cpu;

/** What the op families of {@link ScalarBackend} share. */
final class ScalarOps {
    private ScalarOps() {
    }

    /** t[i] += value, summed in double and rounded once. */
    static void addAt(CpuTensor t, long i, double value) {
        t.set(i, (float) (t.get(i) + value));
    }
}
