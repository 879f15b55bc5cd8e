package org.densify.loaders.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The Llama-family tensor names and shapes a {@link LlamaConfig} implies, in canonical form: the
 * body without Hugging Face's {@code model.} prefix ({@code embed_tokens.weight},
 * {@code layers.0.self_attn.q_proj.weight}, {@code norm.weight}), the heads as stored
 * ({@code lm_head.weight}, {@code score.weight}, TRL's {@code v_head.summary.*}).
 * {@code nn.Linear} weights are {@code [out, in]}.
 */
public final class LlamaTensors {
    public static final String PREFIX = "model.";
    public static final String LM_HEAD = "lm_head.weight";
    public static final String SCORE = "score.weight";
    public static final String VALUE_HEAD_WEIGHT = "v_head.summary.weight";
    public static final String VALUE_HEAD_BIAS = "v_head.summary.bias";

    private LlamaTensors() {
    }

    /** Every body tensor in Hugging Face's state-dict order with its shape. */
    public static Map<String, long[]> body(LlamaConfig c) {
        long d = c.hiddenSize(), f = c.intermediateSize(), q = c.queryWidth(), kv = c.keyValueWidth(), hd = c.headDim();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("embed_tokens.weight", new long[]{c.vocabSize(), d});
        for (int i = 0; i < c.numLayers(); i++) {
            String l = "layers." + i + ".";
            m.put(l + "self_attn.q_proj.weight", new long[]{q, d});
            if (c.hasQkvBias()) m.put(l + "self_attn.q_proj.bias", new long[]{q});
            m.put(l + "self_attn.k_proj.weight", new long[]{kv, d});
            if (c.hasQkvBias()) m.put(l + "self_attn.k_proj.bias", new long[]{kv});
            m.put(l + "self_attn.v_proj.weight", new long[]{kv, d});
            if (c.hasQkvBias()) m.put(l + "self_attn.v_proj.bias", new long[]{kv});
            m.put(l + "self_attn.o_proj.weight", new long[]{d, q});
            if (c.hasOutputBias()) m.put(l + "self_attn.o_proj.bias", new long[]{d});
            if (c.hasQueryKeyNorm()) {
                m.put(l + "self_attn.q_norm.weight", new long[]{hd});
                m.put(l + "self_attn.k_norm.weight", new long[]{hd});
            }
            m.put(l + "mlp.gate_proj.weight", new long[]{f, d});
            m.put(l + "mlp.up_proj.weight", new long[]{f, d});
            m.put(l + "mlp.down_proj.weight", new long[]{d, f});
            m.put(l + "input_layernorm.weight", new long[]{d});
            m.put(l + "post_attention_layernorm.weight", new long[]{d});
        }
        m.put("norm.weight", new long[]{d});
        return m;
    }

    /** The shape of a head tensor, or null for other names. */
    public static long[] headShape(String name, LlamaConfig c) {
        return switch (name) {
            case LM_HEAD -> new long[]{c.vocabSize(), c.hiddenSize()};
            case SCORE -> new long[]{c.numLabels(), c.hiddenSize()};
            case VALUE_HEAD_WEIGHT -> new long[]{1, c.hiddenSize()};
            case VALUE_HEAD_BIAS -> new long[]{1};
            default -> null;
        };
    }

    /** What a model of {@code kind} must hold: the body, an untied LM's lm_head, a classifier's score. */
    public static Map<String, long[]> required(LlamaConfig c, ModelKind kind) {
        Map<String, long[]> m = body(c);
        if (kind == ModelKind.LM && !c.tieWordEmbeddings()) m.put(LM_HEAD, headShape(LM_HEAD, c));
        if (kind == ModelKind.SEQUENCE_CLASSIFIER) m.put(SCORE, headShape(SCORE, c));
        return m;
    }

    /** Canonical form of a stored name: without the {@code model.} prefix. */
    public static String canonical(String stored) {
        return stored.startsWith(PREFIX) ? stored.substring(PREFIX.length()) : stored;
    }

    /** Rotary inverse-frequency buffers that older checkpoints store; never parameters. */
    static boolean isIgnored(String canonical) {
        return canonical.matches("layers\\.\\d+\\.self_attn\\.rotary_emb\\.inv_freq");
    }
}
