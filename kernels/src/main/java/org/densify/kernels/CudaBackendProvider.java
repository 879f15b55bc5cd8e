package org.densify.kernels;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.densify.core.Backend;
import org.densify.core.BackendProvider;
import org.densify.ffm.cublas.Cublas;

/**
 * Finds the CUDA backend at run time ({@code --device cuda}, or {@code auto} when it can run).
 * The probe runs once per JVM: kernels packaged, JCuda's driver library loadable (it needs
 * {@code libcuda.so.1}), a device visible, cuBLAS loadable. Nothing here can crash the JVM: a
 * missing driver is an {@link UnsatisfiedLinkError} (then {@link NoClassDefFoundError} on every
 * later touch of JCuda), caught and turned into the reason.
 */
public final class CudaBackendProvider implements BackendProvider {

    private static final class Probe {
        static final String REASON = probe();
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String unavailableReason() {
        return Probe.REASON;
    }

    @Override
    public Backend create() {
        String why = unavailableReason();
        if (why != null) throw new IllegalStateException("the CUDA backend cannot run here: " + why);
        return new CudaBackend();
    }

    private static String probe() {
        String kernels = Ptx.missing();
        if (kernels != null) return kernels;
        try {
            int result = JCudaDriver.cuInit(0);
            if (result == CUresult.CUDA_ERROR_NO_DEVICE) return "no CUDA device (the driver is installed but reports no GPU)";
            if (result == CUresult.CUDA_ERROR_STUB_LIBRARY) {
                return "no CUDA driver (libcuda.so.1 is the CUDA toolkit's stub library, not a driver)";
            }
            if (result != CUresult.CUDA_SUCCESS) return "the CUDA driver failed to start: cuInit gave " + CUresult.stringFor(result);
            int[] count = new int[1];
            result = JCudaDriver.cuDeviceGetCount(count);
            if (result != CUresult.CUDA_SUCCESS) return "the CUDA driver failed: cuDeviceGetCount gave " + CUresult.stringFor(result);
            int ordinal = Integer.getInteger("densify.cuda.device", 0);
            if (count[0] == 0) return "no CUDA device";
            if (ordinal < 0 || ordinal >= count[0]) {
                return "no CUDA device " + ordinal + " (-Ddensify.cuda.device): this machine has " + count[0];
            }
        } catch (LinkageError e) {
            return describeLinkError(e);
        } catch (Throwable e) {
            return "the CUDA driver could not be probed: " + e;
        }
        try (Cublas cublas = Cublas.load()) {
            cublas.source(); // loaded: nothing more to learn here
        } catch (Throwable e) {
            String message = String.valueOf(e.getMessage());
            int newline = message.indexOf('\n');
            return "cuBLAS not found (" + (newline < 0 ? message : message.substring(0, newline)) + "; see -D" + Cublas.PROPERTY + ")";
        }
        return null;
    }

    /** A failure to load JCuda's native library, in words. */
    static String describeLinkError(LinkageError e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t.getMessage()).append(' ');
        if (all.indexOf("libcuda.so") >= 0) return "no CUDA driver (libcuda.so.1 not found)";
        if (all.indexOf("Could not initialize class jcuda") >= 0) {
            return "no CUDA driver (JCuda's driver library failed to load earlier in this JVM)";
        }
        String first = String.valueOf(e.getMessage());
        int newline = first.indexOf('\n');
        return "JCuda's driver library could not be loaded: " + (newline < 0 ? first : first.substring(0, newline));
    }
}
