package org.densify.kernels;

import org.densify.core.Tensor;

/** A tensor in device memory: a run of floats at a raw device address; a slice is the same memory at an offset. */
public final class CudaTensor extends Tensor {
    final CudaBackend owner;
    /** Device address of float 0. */
    final long address;
    /** The tensor from {@link CudaBackend#allocate} this one is (a slice of): it owns the memory. */
    final CudaTensor root;
    /** Set on the root by {@link CudaBackend#free}: every slice of it is dead too. */
    boolean freed;

    /** A new allocation. */
    CudaTensor(CudaBackend owner, long address, long length) {
        super(length);
        this.owner = owner;
        this.address = address;
        this.root = this;
    }

    private CudaTensor(CudaTensor root, long address, long length) {
        super(length);
        this.owner = root.owner;
        this.address = address;
        this.root = root;
    }

    @Override
    public CudaTensor slice(long offset, long length) {
        checkSlice(offset, length);
        return new CudaTensor(root, address + offset * Float.BYTES, length);
    }

    /** Float 0 as a kernel argument. */
    Device.Address ptr() {
        return new Device.Address(address);
    }

    /** The device address of float {@code i}. */
    long at(long i) {
        return address + i * Float.BYTES;
    }

    @Override
    public String toString() {
        return "CudaTensor[" + length() + " floats at 0x" + Long.toHexString(address) + "]";
    }
}
