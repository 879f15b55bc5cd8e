package org.densify.core.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The CPU engine's own workers for parallel loops (the common fork-join pool has parallelism 1 on a
 * 2-core machine). Size: system property {@code densify.threads}, else the number of available
 * processors; the calling thread is one of them.
 *
 * <p>Why not a {@code ForkJoinPool}: a model step is thousands of loops of a few milliseconds, and
 * a parked fork-join worker takes 1–5 ms to wake on a small VM, so most of a loop ran on one
 * thread. Here the caller works too, and workers spin briefly for the next loop before parking,
 * as BLAS libraries do.
 *
 * <p>Work is split into independent tasks whose results never depend on which thread ran them or
 * on how many threads exist, so every result is bitwise the same for any thread count.
 */
public final class CpuThreads {
    /** How long an idle worker polls for the next loop before parking. */
    private static final long SPIN_NANOS = 200_000;

    private final int threads;
    private final Thread[] workers;
    private final AtomicReference<Job> current = new AtomicReference<>();
    private final Object submitLock = new Object();
    /** The thread running a loop now; a loop it starts from inside runs inline. */
    private volatile Thread activeCaller;

    public CpuThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = Thread.ofPlatform().daemon().name("densify-cpu-" + (i + 1)).unstarted(this::workerLoop);
            workers[i].start();
        }
    }

    private static final CpuThreads DEFAULT = new CpuThreads(defaultThreadCount());

    /** The shared workers sized by {@code densify.threads} or the processor count. */
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
     * memory no other index writes. A call from inside a running loop runs inline.
     */
    public void forEach(int tasks, IntConsumer body) {
        if (tasks <= 0) return;
        Thread me = Thread.currentThread();
        if (workers.length == 0 || tasks == 1 || me == activeCaller || isWorker(me)) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        synchronized (submitLock) {
            Job job = new Job(body, tasks, Math.min(tasks, threads * 4), me);
            activeCaller = me;
            current.set(job);
            for (Thread w : workers) LockSupport.unpark(w);
            try {
                job.work();
                job.awaitDone();
            } finally {
                current.compareAndSet(job, null);
                activeCaller = null;
            }
            if (job.failure.get() != null) {
                Throwable t = job.failure.get();
                if (t instanceof RuntimeException r) throw r;
                if (t instanceof Error e) throw e;
                throw new IllegalStateException(t);
            }
        }
    }

    private boolean isWorker(Thread t) {
        for (Thread w : workers) if (w == t) return true;
        return false;
    }

    private void workerLoop() {
        Job seen = null;
        while (true) {
            Job job = current.get();
            if (job != null && job != seen) {
                seen = job;
                job.work();
                continue;
            }
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while ((job = current.get()) == null || job == seen) {
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.park(this);
            }
        }
    }

    /** One parallel loop: chunks claimed by the caller and the workers until none are left. */
    private static final class Job {
        final IntConsumer body;
        final int tasks, chunks;
        final Thread caller;
        final AtomicInteger nextChunk = new AtomicInteger();
        final AtomicInteger remaining;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(IntConsumer body, int tasks, int chunks, Thread caller) {
            this.body = body;
            this.tasks = tasks;
            this.chunks = chunks;
            this.caller = caller;
            this.remaining = new AtomicInteger(chunks);
        }

        void work() {
            int c;
            while ((c = nextChunk.getAndIncrement()) < chunks) {
                int from = (int) ((long) tasks * c / chunks);
                int to = (int) ((long) tasks * (c + 1) / chunks);
                try {
                    if (failure.get() == null) {
                        for (int i = from; i < to; i++) body.accept(i);
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    if (remaining.decrementAndGet() == 0) LockSupport.unpark(caller);
                }
            }
        }

        void awaitDone() {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (remaining.get() > 0) {
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 100_000);
            }
        }
    }
}
