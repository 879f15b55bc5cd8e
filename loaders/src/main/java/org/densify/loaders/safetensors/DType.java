package org.densify.loaders.safetensors;

import java.util.HashMap;
import java.util.Map;

/**
 * The element types of the safetensors format, named as in its header ({@code "F32"}, ...).
 *
 * <p>The declaration order is the reference library's (huggingface/safetensors 0.6, "increasing
 * alignment"); {@link SafetensorsWriter} sorts tensors by this order <em>descending</em>, then by
 * name, exactly as the reference does, so that with an 8-aligned data start every tensor begins at
 * a multiple of its element size. Sub-byte types (F4, F6_*) are known, so files holding them open
 * and validate, but they cannot be converted to Java numbers here.
 */
public enum DType {
    BOOL(8), F4(4), F6_E2M3(6), F6_E3M2(6), U8(8), I8(8), F8_E5M2(8), F8_E4M3(8), F8_E8M0(8),
    I16(16), U16(16), F16(16), BF16(16), I32(32), U32(32), F32(32), C64(64), F64(64), I64(64), U64(64);

    private static final Map<String, DType> BY_NAME = new HashMap<>();

    static {
        for (DType t : values()) BY_NAME.put(t.name(), t);
    }

    private final int bits;

    DType(int bits) {
        this.bits = bits;
    }

    /** Width of one element in bits (4 and 6 for the packed MX types). */
    public int bits() {
        return bits;
    }

    /** Width of one element in bytes; {@link UnsupportedOperationException} for sub-byte types. */
    public int byteSize() {
        if (bits % 8 != 0) throw new UnsupportedOperationException(this + " elements are " + bits + " bits wide");
        return bits / 8;
    }

    /** True for F16, BF16, F32, F64 and the F8 kinds: the types {@code readFloats} converts from floats. */
    public boolean isFloatingPoint() {
        return switch (this) {
            case F16, BF16, F32, F64, F8_E5M2, F8_E4M3, F8_E8M0 -> true;
            default -> false;
        };
    }

    /** True for BOOL and the signed/unsigned integer types. */
    public boolean isInteger() {
        return switch (this) {
            case BOOL, U8, I8, I16, U16, I32, U32, I64, U64 -> true;
            default -> false;
        };
    }

    /** The dtype with this header name (case-sensitive, as the reference is), or null. */
    public static DType fromName(String name) {
        return BY_NAME.get(name);
    }
}
