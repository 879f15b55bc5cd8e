package org.densify.kernels;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The {@code extern "C"} names of every kernel the backend launches, with the {@code .cu} file
 * (and so the PTX resource) that holds each. A device resolves them all when it starts, so a
 * kernel missing from the PTX is an error at start-up, not halfway through a training step.
 */
final class Kernels {
    private Kernels() {
    }

    /** The PTX files, one per {@code src/main/cuda/*.cu}. */
    static final List<String> FILES = List.of("adamw", "attention", "bias", "elementwise", "embedding", "gelu", "layernorm", "loss",
            "rmsnorm", "rope", "swiglu");

    private static final List<String> names = new ArrayList<>();

    static final String ADD = name("add_f32");
    static final String ACCUMULATE = name("accumulate_f32");
    static final String SCALE = name("scale_f32");
    static final String SUM_OF_SQUARES_PARTIAL = name("sum_of_squares_partial");
    static final String SUM_OF_SQUARES_FINAL = name("sum_of_squares_final");
    static final String BIAS_ROWS = name("bias_rows");
    static final String COLUMN_SUMS_PARTIAL = name("column_sums_partial");
    static final String COLUMN_SUMS_FINISH = name("column_sums_finish");
    static final String EMBEDDING_FORWARD = name("embedding_forward");
    static final String EMBEDDING_BACKWARD = name("embedding_backward");
    static final String LAYERNORM_FORWARD = name("layernorm_forward");
    static final String LAYERNORM_BACKWARD = name("layernorm_backward");
    static final String LAYERNORM_PARAMS_PARTIAL = name("layernorm_params_partial");
    static final String GELU_FORWARD = name("gelu_forward");
    static final String GELU_BACKWARD = name("gelu_backward");
    static final String ATTENTION_FORWARD = name("attention_forward");
    static final String ATTENTION_LAST_ROW_MEAN = name("attention_last_row_mean");
    static final String ATTENTION_BACKWARD_DQ = name("attention_backward_dq");
    static final String ATTENTION_BACKWARD_DKV = name("attention_backward_dkv");
    static final String KV_STORE = name("kv_store");
    static final String ROWS_STORE = name("rows_store");
    static final String RMSNORM_FORWARD = name("rmsnorm_forward");
    static final String RMSNORM_BACKWARD = name("rmsnorm_backward");
    static final String RMSNORM_WEIGHT_PARTIAL = name("rmsnorm_weight_partial");
    static final String ROPE = name("rope");
    static final String SWIGLU_FORWARD = name("swiglu_forward");
    static final String SWIGLU_BACKWARD = name("swiglu_backward");
    static final String CROSS_ENTROPY = name("cross_entropy");
    static final String TOKEN_LOG_PROBS = name("token_log_probs");
    static final String TOKEN_LOG_PROBS_BACKWARD = name("token_log_probs_backward");
    static final String ADAMW = name("adamw");

    /** Every kernel name above, in declaration order. */
    static final List<String> ALL = Collections.unmodifiableList(names);

    private static String name(String kernel) {
        names.add(kernel);
        return kernel;
    }
}
