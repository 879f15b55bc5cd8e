package org.densify.core.model;

import org.densify.core.Backend;
import org.densify.core.Tensor;

/**
 * The three matrix products of a dense layer {@code out = in W + bias}, named as llm.c names them
 * ({@code matmul_forward}, and {@code matmul_backward}'s input and weight halves), for the two ways
 * Hugging Face stores W. Every model call site goes through here, so that none spells out
 * {@link Backend#matmul}'s transpose and accumulate flags.
 *
 * <p>Shapes: in [N, inF], out [N, outF], bias [outF] or null; the weight is [outF, inF] for
 * {@link #LINEAR} and [inF, outF] for {@link #CONV1D}.
 */
public enum Dense {
    /** {@code torch.nn.Linear}: weight [outF, inF] (Llama's projections, every output head). */
    LINEAR,
    /** GPT-2's {@code Conv1D}: weight [inF, outF]. */
    CONV1D;

    /** {@code out = in W (+ bias)}: out [N, outF], in [N, inF]. */
    public void forward(Backend backend, Tensor out, Tensor in, Tensor weight, Tensor bias, int N, int inF, int outF) {
        backend.matmul(out, in, weight, bias, N, outF, inF, false, this == LINEAR, false);
    }

    /** {@code din = dout W^T}: din [N, inF], dout [N, outF] (din overwritten). */
    public void backwardInput(Backend backend, Tensor din, Tensor dout, Tensor weight, int N, int inF, int outF) {
        backend.matmul(din, dout, weight, null, N, inF, outF, false, this == CONV1D, false);
    }

    /** {@code din += dout W^T}: for an input read by several layers (Llama's gate and up projections). */
    public void addBackwardInput(Backend backend, Tensor din, Tensor dout, Tensor weight, int N, int inF, int outF) {
        backend.matmul(din, dout, weight, null, N, inF, outF, false, this == CONV1D, true);
    }

    /** {@code dweight += in^T dout} in the weight's own layout; dout [N, outF], in [N, inF]. */
    public void backwardWeight(Backend backend, Tensor dweight, Tensor dout, Tensor in, int N, int inF, int outF) {
        if (this == LINEAR) {
            backend.matmul(dweight, dout, in, null, outF, inF, N, true, false, true);
        } else {
            backend.matmul(dweight, in, dout, null, inF, outF, N, true, false, true);
        }
    }
}
