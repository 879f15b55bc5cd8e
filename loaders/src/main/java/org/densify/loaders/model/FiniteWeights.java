package org.densify.loaders.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Refuses weights that hold NaN or an infinity, as they are loaded: a model with one non-finite
 * weight scores NaN everywhere, and a NaN reward or loss printed as a number looks like a result.
 * The check is one vectorised pass over values the loader has just read (x * 0 is 0 for every finite
 * x and NaN otherwise), cheap next to reading them.
 */
final class FiniteWeights {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private FiniteWeights() {
    }

    /** Throws naming the tensor, the file and the first bad element when {@code floats} (native order) is not all finite. */
    static void check(MemorySegment floats, String tensor, Object file) throws ModelFormatException {
        long n = floats.byteSize() / Float.BYTES;
        long vectorEnd = n - n % SPECIES.length();
        FloatVector acc = FloatVector.zero(SPECIES);
        for (long i = 0; i < vectorEnd; i += SPECIES.length()) {
            acc = acc.add(FloatVector.fromMemorySegment(SPECIES, floats, i * Float.BYTES, ByteOrder.nativeOrder()).mul(0f));
        }
        float tail = 0f;
        for (long i = vectorEnd; i < n; i++) tail += floats.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i) * 0f;
        if (Float.isFinite(acc.reduceLanes(VectorOperators.ADD) + tail)) return;
        for (long i = 0; i < n; i++) {
            float v = floats.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            if (!Float.isFinite(v)) {
                throw new ModelFormatException(file + ": tensor '" + tensor + "' holds " + v + " at element " + i
                        + " (of " + n + "): the model's weights must be finite");
            }
        }
    }

    /** As {@link #check(MemorySegment, String, Object)} for values on the heap. */
    static void check(float[] floats, String tensor, Object file) throws ModelFormatException {
        check(MemorySegment.ofArray(floats), tensor, file);
    }
}
