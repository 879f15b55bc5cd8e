package org.densify.loaders.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The GPT-2 tensor names and shapes implied by a {@link Gpt2Config}, in canonical form (without the
 * {@code transformer.} prefix). Hugging Face's {@code Conv1D} stores weights as {@code [in, out]}.
 */
public final class Gpt2Tensors {
    public static final String PREFIX = "transformer.";
    public static final String LM_HEAD = "lm_head.weight";
    public static final String SCORE = "score.weight";
    public static final String VALUE_HEAD_WEIGHT = "v_head.summary.weight";
    public static final String VALUE_HEAD_BIAS = "v_head.summary.bias";

    /** Causal-mask buffers that older files store; never parameters. */
    private static final Pattern BUFFER = Pattern.compile("h\\.\\d+\\.attn\\.(bias|masked_bias)");

    private Gpt2Tensors() {
    }

    /** Every body tensor, in Hugging Face's state-dict order, with its expected shape. */
    public static Map<String, long[]> body(Gpt2Config c) {
        long d = c.nEmbd(), f = c.innerDim();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("wte.weight", new long[]{c.vocabSize(), d});
        m.put("wpe.weight", new long[]{c.nPositions(), d});
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            m.put(h + "ln_1.weight", new long[]{d});
            m.put(h + "ln_1.bias", new long[]{d});
            m.put(h + "attn.c_attn.weight", new long[]{d, 3 * d});
            m.put(h + "attn.c_attn.bias", new long[]{3 * d});
            m.put(h + "attn.c_proj.weight", new long[]{d, d});
            m.put(h + "attn.c_proj.bias", new long[]{d});
            m.put(h + "ln_2.weight", new long[]{d});
            m.put(h + "ln_2.bias", new long[]{d});
            m.put(h + "mlp.c_fc.weight", new long[]{d, f});
            m.put(h + "mlp.c_fc.bias", new long[]{f});
            m.put(h + "mlp.c_proj.weight", new long[]{f, d});
            m.put(h + "mlp.c_proj.bias", new long[]{d});
        }
        m.put("ln_f.weight", new long[]{d});
        m.put("ln_f.bias", new long[]{d});
        return m;
    }

    /**
     * The tensors a model of {@code kind} must hold, with their shapes: the whole body, plus
     * {@code lm_head.weight} for an LM whose head is not tied to {@code wte}, plus
     * {@code score.weight} for a classifier. Other heads are optional. Shared by reading and writing.
     */
    public static Map<String, long[]> required(Gpt2Config c, ModelKind kind) {
        Map<String, long[]> m = body(c);
        if (kind == ModelKind.LM && !c.tieWordEmbeddings()) m.put(LM_HEAD, headShape(LM_HEAD, c));
        if (kind == ModelKind.SEQUENCE_CLASSIFIER) m.put(SCORE, headShape(SCORE, c));
        return m;
    }

    /**
     * The shape of a head tensor ({@code lm_head.weight [V, d]}, {@code score.weight [num_labels, d]},
     * {@code v_head.summary.weight [1, d]}, {@code v_head.summary.bias [1]}), or null for other names.
     */
    public static long[] headShape(String name, Gpt2Config c) {
        return switch (name) {
            case LM_HEAD -> new long[]{c.vocabSize(), c.nEmbd()};
            case SCORE -> new long[]{c.numLabels(), c.nEmbd()};
            case VALUE_HEAD_WEIGHT -> new long[]{1, c.nEmbd()};
            case VALUE_HEAD_BIAS -> new long[]{1};
            default -> null;
        };
    }

    /** Whether a canonical name is a stored buffer or extra head that loading skips. */
    static boolean isIgnored(String canonical, Gpt2Config c) {
        return BUFFER.matcher(canonical).matches()
                || (canonical.startsWith("multiple_choice_head.") && c.architectures().contains("GPT2DoubleHeadsModel"));
    }

    /** The canonical form of a stored name: without the {@code transformer.} prefix. */
    public static String canonical(String stored) {
        return stored.startsWith(PREFIX) ? stored.substring(PREFIX.length()) : stored;
    }
}
