package org.densify.kernels;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuGetErrorString;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.densify.ffm.cublas.Cublas;

/**
 * A GPU through JCuda's driver API: the device's primary context (which the CUDA runtime, and so
 * cuBLAS, shares), the packaged PTX as modules, the legacy default stream for everything, and
 * cuBLAS (bound with FFM in {@code native}) for GEMMs. Every driver call's result is checked and a
 * failure becomes a {@link CudaException} naming the call. With {@code -Ddensify.cuda.sync=true}
 * every launch is followed by a synchronize, so an asynchronous kernel fault names its kernel.
 */
final class JCudaDevice implements Device {
    private static final int DEFAULT_SHARED_LIMIT = 48 * 1024;
    /** Host-side bounce buffer for array-backed segments (JCuda copies only from native addresses here). */
    private static final long STAGING_BYTES = 8L << 20;

    private final int ordinal;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final List<CUmodule> modules = new ArrayList<>();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, Integer> sharedLimits = new HashMap<>();
    private final Map<Long, DevicePointer> allocations = new HashMap<>();
    private final ThreadLocal<Boolean> contextBound = new ThreadLocal<>();
    private final boolean syncEachLaunch = Boolean.getBoolean("densify.cuda.sync");
    private final int sharedOptIn;
    private final String description;
    private final Arena hostArena = Arena.ofShared();
    private MemorySegment staging;
    private Cublas cublas;
    private long cublasHandle;
    private boolean closed;

    /** Starts device {@code ordinal}: context, every kernel of {@code ptx} (file name to text), cuBLAS. */
    JCudaDevice(int ordinal, boolean tf32, Map<String, String> ptx) {
        this.ordinal = ordinal;
        // Results are checked here, call by call, so a failure can name its call (JCuda's own
        // exceptions carry only the error code); the kernel lookup below relies on plain codes.
        JCudaDriver.setExceptionsEnabled(false);
        check(cuInit(0), "cuInit");
        int[] count = new int[1];
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count[0]) {
            throw new CudaException("CUDA device " + ordinal + " does not exist: this machine has " + count[0], -1);
        }
        check(cuDeviceGet(device, ordinal), "cuDeviceGet");
        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, device), "cuDeviceGetName");
        int[] value = new int[1];
        check(cuDriverGetVersion(value), "cuDriverGetVersion");
        int driver = value[0];
        int major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        sharedOptIn = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        description = cString(name) + " (device " + ordinal + ", compute " + major + "." + minor + ", CUDA driver "
                + driver / 1000 + "." + driver % 1000 / 10 + ")";
        if (major < 8) {
            throw new CudaException(description + ": the kernels are built for compute capability 8.0 and later", -1);
        }
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        try {
            bind();
            for (Map.Entry<String, String> e : ptx.entrySet()) {
                CUmodule module = new CUmodule();
                byte[] text = (e.getValue() + '\0').getBytes(StandardCharsets.US_ASCII);
                check(cuModuleLoadData(module, text), "cuModuleLoadData(" + e.getKey() + ".ptx)");
                modules.add(module);
            }
            for (String kernel : Kernels.ALL) {
                CUfunction f = null;
                for (CUmodule m : modules) {
                    CUfunction candidate = new CUfunction();
                    if (cuModuleGetFunction(candidate, m, kernel) == CUresult.CUDA_SUCCESS) {
                        f = candidate;
                        break;
                    }
                }
                if (f == null) throw new CudaException("kernel " + kernel + " is in none of the packaged PTX files " + ptx.keySet(), -1);
                functions.put(kernel, f);
            }
            cublas = Cublas.load();
            cublasHandle = cublas.createHandle();
            cublas.setStream(cublasHandle, 0); // the legacy default stream, as every launch and copy here
            cublas.setTf32(cublasHandle, tf32);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private int attribute(int which) {
        int[] value = new int[1];
        check(cuDeviceGetAttribute(value, which, device), "cuDeviceGetAttribute(" + CUdevice_attribute.stringFor(which) + ")");
        return value[0];
    }

    /** Makes the context current on the calling thread (driver state is per thread). */
    private void bind() {
        if (contextBound.get() == null) {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            contextBound.set(Boolean.TRUE);
        }
    }

    private void open() {
        if (closed) throw new IllegalStateException("the CUDA backend on device " + ordinal + " is closed");
        bind();
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public long allocate(long bytes) {
        open();
        DevicePointer p = new DevicePointer();
        int result = cuMemAlloc(p, Math.max(bytes, 1));
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            long[] info = memoryInfo();
            throw new OutOfMemoryError("cuMemAlloc: cannot allocate " + bytes + " bytes (" + mib(bytes) + ") of device memory on "
                    + description + ": " + mib(info[0]) + " free of " + mib(info[1]));
        }
        check(result, "cuMemAlloc(" + bytes + " bytes)");
        allocations.put(p.address(), p);
        return p.address();
    }

    @Override
    public void free(long address) {
        open();
        DevicePointer p = allocations.remove(address);
        if (p == null) throw new IllegalArgumentException("device address 0x" + Long.toHexString(address) + " was not allocated here");
        check(cuCtxSynchronize(), "cuCtxSynchronize (before cuMemFree)");
        check(cuMemFree(p), "cuMemFree");
    }

    @Override
    public void copyToDevice(long dst, MemorySegment src) {
        open();
        long bytes = src.byteSize();
        if (src.isNative()) {
            if (bytes > 0) check(cuMemcpyHtoD(new DevicePointer(dst), new HostPointer(src.address()), bytes), "cuMemcpyHtoD(" + bytes + " bytes)");
            return;
        }
        for (long at = 0; at < bytes; at += STAGING_BYTES) {
            long n = Math.min(STAGING_BYTES, bytes - at);
            MemorySegment stage = staging().asSlice(0, n);
            stage.copyFrom(src.asSlice(at, n));
            check(cuMemcpyHtoD(new DevicePointer(dst + at), new HostPointer(stage.address()), n), "cuMemcpyHtoD(" + n + " bytes)");
        }
    }

    @Override
    public void copyToHost(MemorySegment dst, long src) {
        open();
        long bytes = dst.byteSize();
        if (dst.isNative()) {
            if (bytes > 0) check(cuMemcpyDtoH(new HostPointer(dst.address()), new DevicePointer(src), bytes), "cuMemcpyDtoH(" + bytes + " bytes)");
            return;
        }
        for (long at = 0; at < bytes; at += STAGING_BYTES) {
            long n = Math.min(STAGING_BYTES, bytes - at);
            MemorySegment stage = staging().asSlice(0, n);
            check(cuMemcpyDtoH(new HostPointer(stage.address()), new DevicePointer(src + at), n), "cuMemcpyDtoH(" + n + " bytes)");
            dst.asSlice(at, n).copyFrom(stage);
        }
    }

    private MemorySegment staging() {
        if (staging == null) staging = hostArena.allocate(STAGING_BYTES, 64);
        return staging;
    }

    @Override
    public void copyOnDevice(long dst, long src, long bytes) {
        open();
        if (bytes > 0) check(cuMemcpyDtoD(new DevicePointer(dst), new DevicePointer(src), bytes), "cuMemcpyDtoD(" + bytes + " bytes)");
    }

    @Override
    public void zero(long dst, long bytes) {
        open();
        if (bytes > 0) check(cuMemsetD8(new DevicePointer(dst), (byte) 0, bytes), "cuMemsetD8(" + bytes + " bytes)");
    }

    @Override
    public void launch(String kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                       Object... args) {
        open();
        CUfunction f = functions.get(kernel);
        if (f == null) throw new IllegalArgumentException("unknown kernel " + kernel);
        if (sharedBytes > DEFAULT_SHARED_LIMIT && sharedLimits.getOrDefault(kernel, DEFAULT_SHARED_LIMIT) < sharedBytes) {
            if (sharedBytes > sharedOptIn) {
                throw new IllegalArgumentException(kernel + " needs " + sharedBytes + " bytes of shared memory per block; "
                        + description + " allows " + sharedOptIn);
            }
            check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes),
                    "cuFuncSetAttribute(" + kernel + ", max dynamic shared memory " + sharedBytes + ")");
            sharedLimits.put(kernel, sharedBytes);
        }
        jcuda.Pointer[] params = new jcuda.Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case Address a -> jcuda.Pointer.to(new long[] {a.value()});
                case Integer v -> jcuda.Pointer.to(new int[] {v});
                case Long v -> jcuda.Pointer.to(new long[] {v});
                case Float v -> jcuda.Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("kernel argument " + i + " of " + kernel + " is a " + args[i].getClass());
            };
        }
        check(cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, null, jcuda.Pointer.to(params), null),
                "cuLaunchKernel(" + kernel + ", grid " + gridX + "x" + gridY + "x" + gridZ + ", block " + blockX + "x" + blockY + "x" + blockZ
                        + ", " + sharedBytes + " bytes shared)");
        if (syncEachLaunch) check(cuCtxSynchronize(), "kernel " + kernel + " (synchronize after launch)");
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b, int ldb, float beta,
                      long c, int ldc) {
        open();
        cublas.sgemm(cublasHandle, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (syncEachLaunch) check(cuCtxSynchronize(), "cublasSgemm (synchronize after the call)");
    }

    @Override
    public void synchronize() {
        open();
        check(cuCtxSynchronize(), "cuCtxSynchronize");
    }

    @Override
    public long[] memoryInfo() {
        open();
        long[] free = new long[1], total = new long[1];
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        // Best effort from here on: report the first failure after releasing everything.
        RuntimeException first = null;
        try {
            bind();
            check(cuCtxSynchronize(), "cuCtxSynchronize");
        } catch (RuntimeException e) {
            first = e;
        }
        if (cublas != null) {
            try {
                if (cublasHandle != 0) cublas.destroyHandle(cublasHandle);
                cublas.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        for (DevicePointer p : allocations.values()) cuMemFree(p);
        allocations.clear();
        for (CUmodule m : modules) cuModuleUnload(m);
        modules.clear();
        cuDevicePrimaryCtxRelease(device);
        hostArena.close();
        if (first != null) throw first;
    }

    // ---- helpers -----------------------------------------------------------------------------

    static void check(int result, String call) {
        if (result == CUresult.CUDA_SUCCESS) return;
        String[] text = new String[1];
        String detail = cuGetErrorString(result, text) == CUresult.CUDA_SUCCESS && text[0] != null ? text[0] : "no description";
        String hint = switch (result) {
            case CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, CUresult.CUDA_ERROR_LAUNCH_FAILED ->
                    "; a kernel queued before this call faulted (the context is now unusable): rerun with -Ddensify.cuda.sync=true to see which";
            case CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION ->
                    "; the driver is older than the nvcc that built the PTX: update the driver or build with an older toolkit";
            default -> "";
        };
        throw new CudaException(call + " failed: " + CUresult.stringFor(result) + " (" + detail + ")" + hint, result);
    }

    static String mib(long bytes) {
        return String.format("%.1f MiB", bytes / (1024.0 * 1024.0));
    }

    private static String cString(byte[] bytes) {
        int n = 0;
        while (n < bytes.length && bytes[n] != 0) n++;
        return new String(bytes, 0, n, StandardCharsets.US_ASCII);
    }

    /** A device pointer whose raw address Java can read (JCuda keeps it in a protected field). */
    private static final class DevicePointer extends CUdeviceptr {
        private static final CUdeviceptr NULL = new CUdeviceptr();

        DevicePointer() {
        }

        /** The raw address {@code address}: JCuda passes native pointer + byte offset, here 0 + address. */
        DevicePointer(long address) {
            super(NULL, address);
        }

        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    /** A host pointer to native memory (a {@link MemorySegment}'s address). */
    private static final class HostPointer extends jcuda.Pointer {
        HostPointer(long address) {
            super(address);
        }
    }
}
