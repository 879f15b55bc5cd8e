package org.densify.core.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/**
 * The CPU engine's own fork-join pool (the common pool has parallelism 1 on a 2-core machine).
 * Size: system property {@code densify.threads}, else the number of available processors.
 *
 * <p>Work is split into independent tasks whose results never depend on which thread ran them or
 * on how many threads exist, so every result is bitwise the same for any thread count.
 */
public final class CpuThreads {
    private final ForkJoinPool pool;
    private final int threads;

    public CpuThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("densify-cpu-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    private static final CpuThreads DEFAULT = new CpuThreads(defaultThreadCount());

    /** The shared pool sized by {@code densify.threads} or the processor count. */
    public static CpuThreads shared() {
        return DEFAULT;
    }

    static int defaultThreadCount() {
        String prop = System.getProperty("densify.threads");
        if (prop == null || prop.isBlank()) return Runtime.getRuntime().availableProcessors();
        try {
            int n = Integer.parseInt(prop.trim());
            if (n >= 1) return n;
        } catch (NumberFormatException ignored) {
            // fall through to the error below
        }
        throw new IllegalArgumentException("system property densify.threads must be a positive integer, got '" + prop + "'");
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.accept(i)} for every {@code i < tasks}, in parallel. Each index must write
     * memory no other index writes.
     */
    public void forEach(int tasks, IntConsumer body) {
        if (tasks <= 0) return;
        if (pool == null || tasks == 1) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        int chunks = Math.min(tasks, threads * 4);
        var action = new RecursiveAction() {
            @Override
            protected void compute() {
                List<RecursiveAction> parts = new ArrayList<>(chunks);
                for (int c = 0; c < chunks; c++) {
                    int from = (int) ((long) tasks * c / chunks);
                    int to = (int) ((long) tasks * (c + 1) / chunks);
                    parts.add(new RecursiveAction() {
                        @Override
                        protected void compute() {
                            for (int i = from; i < to; i++) body.accept(i);
                        }
                    });
                }
                invokeAll(parts);
            }
        };
        if (ForkJoinTask.getPool() == pool) action.invoke();
        else pool.invoke(action);
    }
}
