package org.densify.rlhf.ppo;

import java.util.Optional;
import java.util.function.Function;
import org.densify.rlhf.run.TrainingChecks;

/**
 * PPO hyper-parameters. {@link #trlDefaults()} gives TRL 0.7.4's values with the paper's IMDb batch
 * (16) and lengths, and is the one place those defaults are written: the {@code ppo} command's options,
 * the GPU benchmark's and an experiment file's {@code ppo} object start from it, and {@link #toBuilder()}
 * changes some of them. See docs/design.md section 2.
 *
 * @param batchSize      sequences per PPO step (rollout batch)
 * @param miniBatchSize  sequences per optimiser step; {@code batchSize} must be a multiple of it
 * @param ppoEpochs      passes over the rollout batch per PPO step
 * @param learningRate   Adam's learning rate (no weight decay, no gradient clipping)
 * @param initKlCoef     initial coefficient of the per-token KL penalty
 * @param adaptiveKl     adapt the coefficient towards {@code klTarget} over {@code klHorizon} samples
 * @param klTarget       the KL the adaptive controller steers towards
 * @param klHorizon      the adaptive controller's horizon, in samples
 * @param gamma          GAE's discount
 * @param lambda         GAE's lambda
 * @param clipRange      PPO's policy-ratio clip
 * @param valueClipRange the value head's clip around the rollout's values
 * @param vfCoef         the value loss's weight
 * @param ratioThreshold a minibatch whose mean policy ratio exceeds this is skipped (TRL's {@code ratio_threshold})
 * @param adamBeta1      Adam's beta1
 * @param adamBeta2      Adam's beta2
 * @param adamEps        Adam's epsilon
 * @param promptMin      prompt lengths in policy tokens are drawn from {@code range(promptMin, promptMax)}:
 *                       the upper end excluded, as TRL's {@code LengthSampler} draws
 * @param promptMax      see {@code promptMin}
 * @param genMin         each completion's maximum of new tokens is drawn from {@code range(genMin, genMax)}
 *                       (upper end excluded), and {@code genMin} is also its minimum (Hugging Face's
 *                       {@code min_new_tokens}: end-of-text is banned until genMin new tokens exist)
 * @param genMax         see {@code genMin}
 */
public record PpoConfig(int batchSize, int miniBatchSize, int ppoEpochs, double learningRate,
                        double initKlCoef, boolean adaptiveKl, double klTarget, double klHorizon,
                        double gamma, double lambda, double clipRange, double valueClipRange, double vfCoef,
                        double ratioThreshold, double adamBeta1, double adamBeta2, double adamEps,
                        int promptMin, int promptMax, int genMin, int genMax) {

    /**
     * The settings that can be set or refused, each with its name in an experiment file's {@code ppo}
     * object, its command-line option (null for the algorithm's constants, which neither sets) and
     * where its value is.
     */
    public enum Setting {
        BATCH("batch", "--batch", PpoConfig::batchSize),
        MINIBATCH("minibatch", "--minibatch", PpoConfig::miniBatchSize),
        PPO_EPOCHS("ppo_epochs", "--ppo-epochs", PpoConfig::ppoEpochs),
        LR("lr", "--lr", PpoConfig::learningRate),
        KL_INIT("kl_init", "--kl-init", PpoConfig::initKlCoef),
        KL_TARGET("kl_target", "--kl-target", PpoConfig::klTarget),
        KL_HORIZON("kl_horizon", "--kl-horizon", PpoConfig::klHorizon),
        GAMMA("gamma", null, PpoConfig::gamma),
        LAMBDA("lambda", null, PpoConfig::lambda),
        CLIP_RANGE("clip_range", null, PpoConfig::clipRange),
        PROMPT_MIN("prompt_min", "--prompt-min", PpoConfig::promptMin),
        PROMPT_MAX("prompt_max", "--prompt-max", PpoConfig::promptMax),
        GEN_MIN("gen_min", "--gen-min", PpoConfig::genMin),
        GEN_MAX("gen_max", "--gen-max", PpoConfig::genMax);

        private final String key;
        private final String option;
        private final Function<PpoConfig, Number> value;

        Setting(String key, String option, Function<PpoConfig, Number> value) {
            this.key = key;
            this.option = option;
            this.value = value;
        }

        /** Its value in {@code c}. */
        public Number in(PpoConfig c) {
            return value.apply(c);
        }

        /** The setting a command-line option sets, if any. */
        public static Optional<Setting> ofOption(String option) {
            for (Setting s : values()) if (option.equals(s.option)) return Optional.of(s);
            return Optional.empty();
        }

        /** Its name in an experiment file's {@code ppo} object (and in {@code run.json}'s problems). */
        public String key() {
            return key;
        }

        /** Its command-line option, or null when no command sets it. */
        public String option() {
            return option;
        }
    }

    /**
     * A refused value. Its problem names the settings it mentions by a placeholder ({@code {GEN_MIN}}), so
     * that each reader names them its own way: the command line by their options ({@link #getMessage()}:
     * "--gen-max must be > --gen-min (8): ..."), an experiment file by their fields ({@link #problem()}
     * after "field 'ppo.gen_max'": "must be > gen_min (8): ...").
     */
    public static final class InvalidSetting extends IllegalArgumentException {
        private final Setting setting;
        private final String template;

        InvalidSetting(Setting setting, String template) {
            super(optionName(setting) + " " + fill(template, InvalidSetting::optionName));
            this.setting = setting;
            this.template = template;
        }

        public Setting setting() {
            return setting;
        }

        /** What is wrong, without the setting's own name, other settings named by their keys (as in an experiment file). */
        public String problem() {
            return fill(template, Setting::key);
        }

        private static String optionName(Setting s) {
            return s.option() != null ? s.option() : "PPO setting " + s.key();
        }

        private static String fill(String template, Function<Setting, String> name) {
            String text = template;
            for (Setting s : Setting.values()) text = text.replace("{" + s.name() + "}", name.apply(s));
            return text;
        }
    }

    public PpoConfig {
        require(batchSize >= 1, Setting.BATCH, "must be >= 1, got " + batchSize);
        require(miniBatchSize >= 1, Setting.MINIBATCH, "must be >= 1, got " + miniBatchSize);
        require(batchSize % miniBatchSize == 0, Setting.MINIBATCH, "must divide {BATCH} (" + batchSize + "), got " + miniBatchSize);
        require(ppoEpochs >= 1, Setting.PPO_EPOCHS, "must be >= 1, got " + ppoEpochs);
        String lrProblem = TrainingChecks.learningRateProblem(learningRate);
        require(lrProblem == null, Setting.LR, lrProblem);
        require(initKlCoef >= 0 && !Double.isInfinite(initKlCoef), Setting.KL_INIT, "must be >= 0, got " + initKlCoef);
        require(!adaptiveKl || (klTarget > 0 && !Double.isInfinite(klTarget)), Setting.KL_TARGET, "must be > 0, got " + klTarget);
        require(!adaptiveKl || (klHorizon > 0 && !Double.isInfinite(klHorizon)), Setting.KL_HORIZON, "must be > 0, got " + klHorizon);
        require(gamma >= 0 && gamma <= 1, Setting.GAMMA, "must be in [0, 1], got " + gamma);
        require(lambda >= 0 && lambda <= 1, Setting.LAMBDA, "must be in [0, 1], got " + lambda);
        require(clipRange > 0 && valueClipRange > 0, Setting.CLIP_RANGE, "must be > 0");
        require(promptMin >= 1, Setting.PROMPT_MIN, "must be >= 1, got " + promptMin);
        require(promptMax > promptMin, Setting.PROMPT_MAX,
                "must be > {PROMPT_MIN} (" + promptMin + "): lengths are drawn from range({PROMPT_MIN}, {PROMPT_MAX}), got " + promptMax);
        require(genMin >= 1, Setting.GEN_MIN, "must be >= 1, got " + genMin);
        require(genMax > genMin, Setting.GEN_MAX, "must be > {GEN_MIN} (" + genMin + "): lengths are drawn from range({GEN_MIN}, {GEN_MAX}), got " + genMax);
    }

    private static void require(boolean ok, Setting setting, String problem) {
        if (!ok) throw new InvalidSetting(setting, problem);
    }

    /** TRL 0.7.4's PPOConfig defaults with the paper's IMDb setting: batch 16, prompts of 2-8 tokens, 8-16 new tokens. */
    public static PpoConfig trlDefaults() {
        return new PpoConfig(16, 1, 4, 1.41e-5, 0.2, true, 6, 10_000, 1, 0.95, 0.2, 0.2, 0.1, 10, 0.9, 0.999, 1e-8,
                2, 8, 8, 16);
    }

    /** A builder that starts from these settings: the one way to change some of them. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    public KlController klController() {
        return adaptiveKl ? KlController.adaptive(initKlCoef, klTarget, klHorizon) : KlController.fixed(initKlCoef);
    }

    /** Settings changed one by one from a starting {@link PpoConfig}; {@link #build()} checks them together. */
    public static final class Builder {
        private int batchSize, miniBatchSize, ppoEpochs, promptMin, promptMax, genMin, genMax;
        private double learningRate, initKlCoef, klTarget, klHorizon;
        private boolean adaptiveKl;
        private final PpoConfig start;

        private Builder(PpoConfig c) {
            start = c;
            batchSize = c.batchSize;
            miniBatchSize = c.miniBatchSize;
            ppoEpochs = c.ppoEpochs;
            learningRate = c.learningRate;
            initKlCoef = c.initKlCoef;
            adaptiveKl = c.adaptiveKl;
            klTarget = c.klTarget;
            klHorizon = c.klHorizon;
            promptMin = c.promptMin;
            promptMax = c.promptMax;
            genMin = c.genMin;
            genMax = c.genMax;
        }

        public Builder batch(int batch, int miniBatch) {
            batchSize = batch;
            miniBatchSize = miniBatch;
            return this;
        }

        public Builder epochs(int epochs) {
            ppoEpochs = epochs;
            return this;
        }

        public Builder learningRate(double lr) {
            learningRate = lr;
            return this;
        }

        /** The KL penalty: its initial coefficient and, when {@code adaptive}, the controller's target and horizon. */
        public Builder kl(double init, KlControl control, double target, double horizon) {
            initKlCoef = init;
            adaptiveKl = control == KlControl.ADAPTIVE;
            klTarget = target;
            klHorizon = horizon;
            return this;
        }

        public Builder promptLengths(int min, int max) {
            promptMin = min;
            promptMax = max;
            return this;
        }

        public Builder genLengths(int min, int max) {
            genMin = min;
            genMax = max;
            return this;
        }

        /** The settings, checked; the algorithm's constants (GAE, clipping, Adam) are the starting config's. */
        public PpoConfig build() {
            return new PpoConfig(batchSize, miniBatchSize, ppoEpochs, learningRate, initKlCoef, adaptiveKl, klTarget, klHorizon, start.gamma,
                    start.lambda, start.clipRange, start.valueClipRange, start.vfCoef, start.ratioThreshold, start.adamBeta1, start.adamBeta2,
                    start.adamEps, promptMin, promptMax, genMin, genMax);
        }
    }

    /** Whether the KL coefficient follows the adaptive controller or stays at its initial value. */
    public enum KlControl {
        ADAPTIVE,
        FIXED;

        public static KlControl adaptiveWhen(boolean adaptive) {
            return adaptive ? ADAPTIVE : FIXED;
        }
    }
}
