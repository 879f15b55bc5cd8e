package org.densify.core.cpu;

import static org.densify.core.cpu.VectorOps.S;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * exp for {@link VectorBackend} built from exactly-rounded basic ops, so the interpreter and
 * compiled code give the same bits (the Vector API's lanewise EXP may not), and {@link #expScalar}
 * gives the same bits as a lane for scalar tails.
 */
final class VectorExp {
    private VectorExp() {
    }

    // Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n built in the exponent bits.
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    /** 1.5 * 2^23: adding it rounds to an integer, which then sits in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final int EXPONENT_BIAS = 127 - Float.floatToRawIntBits(ROUNDER);
    private static final float EXP_MIN = -87f, EXP_MAX = 88f;

    /** exp(x) to about 1 ulp; 0 below -87, exp(88) above 88, NaN stays NaN. */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_MIN).min(EXP_MAX);
        FloatVector t = xc.fma(LOG2E, ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector poly = r.fma(P0, P1).fma(r, FloatVector.broadcast(S, P2)).fma(r, FloatVector.broadcast(S, P3))
                .fma(r, FloatVector.broadcast(S, P4)).fma(r, FloatVector.broadcast(S, P5));
        FloatVector y = poly.fma(r.mul(r), r).add(1f);
        FloatVector twoToN = t.reinterpretAsInts().add(EXPONENT_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(twoToN).blend(0f, x.lt(EXP_MIN));
    }

    /** The same bits as a lane of {@link #exp}. */
    static float expScalar(float x) {
        float xc = Math.min(Math.max(x, EXP_MIN), EXP_MAX);
        float t = Math.fma(xc, LOG2E, ROUNDER);
        float n = t - ROUNDER;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float poly = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, P0, P1), r, P2), r, P3), r, P4), r, P5);
        float y = Math.fma(poly, r * r, r) + 1f;
        float twoToN = Float.intBitsToFloat((Float.floatToRawIntBits(t) + EXPONENT_BIAS) << 23);
        return x < EXP_MIN ? 0f : y * twoToN;
    }
}
