package org.densify.ffm.cublas;

/**
 * A cuBLAS call that returned a status other than {@code CUBLAS_STATUS_SUCCESS}, or a cuBLAS
 * library that could not be loaded. The message names the call and the status by name and number.
 */
public final class CublasException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int status;

    /** A failed call: {@code call} returned {@code status}. */
    public CublasException(String call, int status) {
        super(call + " failed: " + statusName(status) + " (" + status + ")" + hint(status));
        this.call = call;
        this.status = status;
    }

    /** A failure to load or bind the library (no status). */
    public CublasException(String message) {
        super(message);
        this.call = null;
        this.status = -1;
    }

    /** The cuBLAS function that failed, or null for a loading failure. */
    public String call() {
        return call;
    }

    /** The {@code cublasStatus_t} returned, or -1 for a loading failure. */
    public int status() {
        return status;
    }

    /** The {@code cublasStatus_t} enumerator's name (cublas_api.h), e.g. {@code CUBLAS_STATUS_INVALID_VALUE}. */
    public static String statusName(int status) {
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "unknown cublasStatus_t";
        };
    }

    private static String hint(int status) {
        return switch (status) {
            case 1 -> ": no CUDA context or driver (cuBLAS initialises on the current device's primary context)";
            case 3 -> ": device memory is exhausted";
            case 8 -> ": the GPU is too old for this cuBLAS";
            case 13 -> ": a kernel failed to launch or run (an earlier asynchronous error may be the cause)";
            default -> "";
        };
    }
}
