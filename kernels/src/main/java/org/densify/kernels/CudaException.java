package org.densify.kernels;

/** A CUDA driver call that failed: the message names the call, the error and what it usually means. */
public final class CudaException extends RuntimeException {
    private final int code;

    public CudaException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** The driver's CUresult, or -1 when the failure did not come from the driver. */
    public int code() {
        return code;
    }
}
