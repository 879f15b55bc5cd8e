package org.densify.benchmarks.torch;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.pytorch.jni.LibUtils;

/**
 * Starts libtorch (the 2.7.1 CPU build from Maven Central, through DJL's JNI) for the PyTorch peer,
 * offline and at a fixed thread count.
 *
 * <p>DJL looks for libtorch in {@code PYTORCH_LIBRARY_PATH} first, then in the
 * {@code pytorch-native-cpu} jar on the class path, which it extracts once into its cache
 * ({@code ~/.djl.ai/pytorch}, or {@code DJL_CACHE_DIR}); it downloads only when neither holds a
 * build, so {@link #start} refuses to go on unless the bundled jar is on the class path and sets
 * {@code ai.djl.offline}. A {@code PYTORCH_VERSION} that differs from the bundled one would make
 * DJL download, so it is refused too.
 */
public final class TorchRuntime {
    /** The libtorch build the peer must run; the bundled jar's {@code native/lib/pytorch.properties} says which it is. */
    public static final String LIBTORCH_VERSION = "2.7.1";

    private static boolean started;

    private TorchRuntime() {}

    /**
     * Loads libtorch at {@code threads} intra-op threads and 1 inter-op thread (the process-wide
     * settings, fixed at the first call) and returns a new manager on the CPU; the caller closes it.
     */
    public static synchronized NDManager start(int threads) {
        if (!started) {
            if (TorchRuntime.class.getResource("/native/lib/pytorch.properties") == null && System.getenv("PYTORCH_LIBRARY_PATH") == null) {
                throw new IllegalStateException("libtorch is not on the class path: add ai.djl.pytorch:pytorch-native-cpu:"
                        + LIBTORCH_VERSION + ":linux-x86_64 (DJL would otherwise download it)");
            }
            String override = System.getenv("PYTORCH_VERSION");
            if (override != null && !override.isEmpty() && !override.startsWith(LIBTORCH_VERSION)) {
                throw new IllegalStateException("PYTORCH_VERSION=" + override + " would make DJL download another libtorch; unset it");
            }
            System.setProperty("ai.djl.offline", "true");
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
            Engine.getEngine("PyTorch");
            String version = LibUtils.getVersion();
            if (!version.startsWith(LIBTORCH_VERSION)) {
                throw new IllegalStateException("DJL loaded libtorch " + version + " from " + LibUtils.getLibtorchPath()
                        + "; the peer is defined as libtorch " + LIBTORCH_VERSION);
            }
            started = true;
        }
        JniUtils.setNumThreads(threads);
        if (JniUtils.getNumThreads() != threads) {
            throw new IllegalStateException("libtorch runs " + JniUtils.getNumThreads() + " threads, asked for " + threads);
        }
        return NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    /** The libtorch version DJL loaded, e.g. {@code 2.7.1-20250812}, and where from. */
    public static String describe() {
        return "libtorch " + LibUtils.getVersion() + " (" + LibUtils.getLibtorchPath() + "), " + JniUtils.getNumThreads()
                + " intra-op threads, " + JniUtils.getNumInteropThreads() + " inter-op";
    }
}
