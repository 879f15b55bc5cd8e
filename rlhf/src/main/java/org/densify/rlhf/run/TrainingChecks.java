package org.densify.rlhf.run;

import org.densify.core.model.LanguageModel;
import org.densify.core.model.ParameterLayout;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * The checks that keep a diverged run from passing as a result: a learning rate must be a positive
 * number the engine's float arithmetic can hold; parameters must be finite before they are written
 * (a checkpoint or a final model); and a loss far above chance is reported once as divergence.
 */
public final class TrainingChecks {
    private TrainingChecks() {
    }

    /**
     * The problem with a learning-rate option, or null. The optimiser computes in float: a value
     * above {@link Float#MAX_VALUE} becomes infinity there, and the first step turns every weight into
     * NaN or infinity.
     */
    public static String learningRateProblem(String option, double lr) {
        String problem = learningRateProblem(lr);
        return problem == null ? null : option + " " + problem;
    }

    /** The problem with a learning rate, without the setting's name ("must be a positive number, got 0.0"), or null. */
    public static String learningRateProblem(double lr) {
        if (!(lr > 0) || Double.isInfinite(lr)) return "must be a positive number, got " + lr;
        if (lr > Float.MAX_VALUE) return lr + " is beyond the float range (at most " + Float.MAX_VALUE + "): the first step would make every weight infinite";
        return null;
    }

    /**
     * Throws when a parameter of {@code model} holds NaN or infinity, naming the tensor and the first
     * such element, so that such a model is never written. {@code what} says what was to be written.
     */
    public static void requireFiniteParameters(LanguageModel model, String what) {
        String bad = firstNonFinite(model);
        if (bad != null) throw new NonFinite(what + " not written: " + bad + "; the training diverged (try a lower --lr)");
    }

    /** Throws when {@code values} (the tensor {@code name}) hold NaN or infinity; see {@link #requireFiniteParameters}. */
    public static void requireFinite(float[] values, String name, String what) {
        String bad = firstNonFinite(values, name);
        if (bad != null) throw new NonFinite(what + " not written: " + bad + "; the training diverged (try a lower --lr)");
    }

    /** "tensor NAME holds NaN (element i of n)" for the first parameter that is not finite, or null. */
    public static String firstNonFinite(LanguageModel model) {
        for (ParameterLayout.Entry e : model.layout().entries()) {
            float[] values = new float[Math.toIntExact(e.length())];
            model.backend().read(model.parameters(), e.offset(), values);
            String bad = firstNonFinite(values, e.name());
            if (bad != null) return bad;
        }
        return null;
    }

    private static String firstNonFinite(float[] values, String name) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) return "tensor " + name + " holds " + values[i] + " (element " + i + " of " + values.length + ")";
        }
        return null;
    }

    /** A tensor to be written holds NaN or infinity. */
    public static final class NonFinite extends IllegalStateException {
        NonFinite(String message) {
            super(message);
        }
    }

    /**
     * Warns once when the training loss climbs above what guessing gives. A cross-entropy over
     * {@code classes} outcomes is ln(classes) for a uniform guess, which is also about where a freshly
     * initialised model starts; a loss more than {@value #MARGIN_NATS} nat above it, after the start,
     * means the updates are making the model worse than knowing nothing: the learning rate is too high.
     */
    public static final class DivergenceWatch {
        /** Room above ln(classes) for the noise of one batch and a random start. */
        static final double MARGIN_NATS = 1.0;
        private final double threshold;
        private final PrintWriter err;
        private boolean warned;

        private final int classes;
        private final String outcomes;

        /** @param outcomes what the classes are, for the message ("tokens", "labels") */
        public DivergenceWatch(int classes, String outcomes, PrintWriter err) {
            this.classes = classes;
            this.outcomes = outcomes;
            this.threshold = Math.log(classes) + MARGIN_NATS;
            this.err = err;
        }

        public double threshold() {
            return threshold;
        }

        /** Looks at one step's loss; returns whether it warned now. */
        public boolean check(int step, double loss) {
            if (warned || !(loss > threshold)) return false;
            warned = true;
            err.printf(Locale.ROOT, "%ndensify: warning: the training loss %.4g at step %d is above %.4g = ln(%d) + %.0f, worse than a uniform guess among "
                    + "the %d %s (about where training starts): the run is diverging; try a lower --lr%n", loss, step, threshold, classes, MARGIN_NATS,
                    classes, outcomes);
            err.flush();
            return true;
        }
    }
}
