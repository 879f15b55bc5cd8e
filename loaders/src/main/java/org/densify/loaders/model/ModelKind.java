package org.densify.loaders.model;

/** What sits on top of the GPT-2 body, from {@code config.json}'s {@code architectures}. */
public enum ModelKind {
    /** {@code GPT2Model}: the body alone; tensor names carry no {@code transformer.} prefix. */
    BASE("GPT2Model"),
    /** {@code GPT2LMHeadModel} (and {@code GPT2DoubleHeadsModel}, whose extra head is ignored): LM head tied to {@code wte} unless {@code lm_head.weight} is stored. */
    LM("GPT2LMHeadModel"),
    /** {@code GPT2ForSequenceClassification}: {@code score.weight [num_labels, d]}, no bias, read at the last non-padding token. */
    SEQUENCE_CLASSIFIER("GPT2ForSequenceClassification");

    private final String architecture;

    ModelKind(String architecture) {
        this.architecture = architecture;
    }

    /** The Hugging Face class name written to {@code architectures} for this kind. */
    public String architecture() {
        return architecture;
    }

    /** Hugging Face saves every kind except the bare body with a {@code transformer.} prefix. */
    public boolean prefixesBody() {
        return this != BASE;
    }

    /** The kind of a Hugging Face architecture name, or null when this engine does not run it. */
    static ModelKind ofArchitecture(String name) {
        return switch (name) {
            case "GPT2Model" -> BASE;
            case "GPT2LMHeadModel", "GPT2DoubleHeadsModel" -> LM;
            case "GPT2ForSequenceClassification" -> SEQUENCE_CLASSIFIER;
            default -> null;
        };
    }
}
