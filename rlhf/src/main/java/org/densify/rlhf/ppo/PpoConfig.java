package org.densify.rlhf.ppo;

/**
 * PPO hyper-parameters. {@link #trlDefaults()} gives TRL 0.7.4's values with the paper's IMDb batch
 * (16) and lengths; see DESIGN.md section 2.
 *
 * @param batchSize      sequences per PPO step (rollout batch)
 * @param miniBatchSize  sequences per optimiser step; {@code batchSize} must be a multiple of it
 * @param ppoEpochs      passes over the rollout batch per PPO step
 * @param learningRate   Adam's learning rate (no weight decay, no gradient clipping)
 * @param initKlCoef     initial coefficient of the per-token KL penalty
 * @param adaptiveKl     adapt the coefficient towards {@code klTarget} over {@code klHorizon} samples
 * @param promptMin      prompt lengths in policy tokens are drawn from {@code range(promptMin, promptMax)}:
 *                       the upper end excluded, as TRL's {@code LengthSampler} draws
 * @param genMin         each completion's maximum of new tokens is drawn from {@code range(genMin, genMax)}
 *                       (upper end excluded), and {@code genMin} is also its minimum (Hugging Face's
 *                       {@code min_new_tokens}: end-of-text is banned until genMin new tokens exist)
 */
public record PpoConfig(int batchSize, int miniBatchSize, int ppoEpochs, double learningRate,
                        double initKlCoef, boolean adaptiveKl, double klTarget, double klHorizon,
                        double gamma, double lambda, double clipRange, double valueClipRange, double vfCoef,
                        double ratioThreshold, double adamBeta1, double adamBeta2, double adamEps,
                        int promptMin, int promptMax, int genMin, int genMax) {

    public PpoConfig {
        require(batchSize >= 1, "batch", "must be >= 1, got " + batchSize);
        require(miniBatchSize >= 1 && batchSize % miniBatchSize == 0, "minibatch", "must divide the batch (" + batchSize + "), got " + miniBatchSize);
        require(ppoEpochs >= 1, "ppo-epochs", "must be >= 1, got " + ppoEpochs);
        String lrProblem = org.densify.rlhf.run.TrainingChecks.learningRateProblem("--lr", learningRate);
        if (lrProblem != null) throw new IllegalArgumentException(lrProblem);
        require(initKlCoef >= 0, "kl-init", "must be >= 0, got " + initKlCoef);
        require(!adaptiveKl || klTarget > 0, "kl-target", "must be > 0, got " + klTarget);
        require(!adaptiveKl || klHorizon > 0, "kl-horizon", "must be > 0, got " + klHorizon);
        require(gamma >= 0 && gamma <= 1, "gamma", "must be in [0, 1], got " + gamma);
        require(lambda >= 0 && lambda <= 1, "lambda", "must be in [0, 1], got " + lambda);
        require(clipRange > 0 && valueClipRange > 0, "clip range", "must be > 0");
        require(promptMin >= 1 && promptMax > promptMin, "prompt-min/--prompt-max",
                "need 1 <= min < max (lengths are drawn from range(min, max), max excluded), got " + promptMin + ", " + promptMax);
        require(genMin >= 1 && genMax > genMin, "gen-min/--gen-max",
                "need 1 <= min < max (lengths are drawn from range(min, max), max excluded), got " + genMin + ", " + genMax);
    }

    private static void require(boolean ok, String option, String message) {
        if (!ok) throw new IllegalArgumentException("--" + option + " " + message);
    }

    /** TRL 0.7.4's PPOConfig defaults with the paper's IMDb setting: batch 16, prompts of 2-8 tokens, 8-16 new tokens. */
    public static PpoConfig trlDefaults() {
        return new PpoConfig(16, 1, 4, 1.41e-5, 0.2, true, 6, 10_000, 1, 0.95, 0.2, 0.2, 0.1, 10, 0.9, 0.999, 1e-8,
                2, 8, 8, 16);
    }

    public PpoConfig withBatch(int batch, int miniBatch) {
        return new PpoConfig(batch, miniBatch, ppoEpochs, learningRate, initKlCoef, adaptiveKl, klTarget, klHorizon, gamma, lambda,
                clipRange, valueClipRange, vfCoef, ratioThreshold, adamBeta1, adamBeta2, adamEps, promptMin, promptMax, genMin, genMax);
    }

    public PpoConfig withEpochs(int epochs) {
        return new PpoConfig(batchSize, miniBatchSize, epochs, learningRate, initKlCoef, adaptiveKl, klTarget, klHorizon, gamma, lambda,
                clipRange, valueClipRange, vfCoef, ratioThreshold, adamBeta1, adamBeta2, adamEps, promptMin, promptMax, genMin, genMax);
    }

    public PpoConfig withLearningRate(double lr) {
        return new PpoConfig(batchSize, miniBatchSize, ppoEpochs, lr, initKlCoef, adaptiveKl, klTarget, klHorizon, gamma, lambda,
                clipRange, valueClipRange, vfCoef, ratioThreshold, adamBeta1, adamBeta2, adamEps, promptMin, promptMax, genMin, genMax);
    }

    public PpoConfig withKl(double init, boolean adaptive, double target, double horizon) {
        return new PpoConfig(batchSize, miniBatchSize, ppoEpochs, learningRate, init, adaptive, target, horizon, gamma, lambda,
                clipRange, valueClipRange, vfCoef, ratioThreshold, adamBeta1, adamBeta2, adamEps, promptMin, promptMax, genMin, genMax);
    }

    public PpoConfig withLengths(int promptMin, int promptMax, int genMin, int genMax) {
        return new PpoConfig(batchSize, miniBatchSize, ppoEpochs, learningRate, initKlCoef, adaptiveKl, klTarget, klHorizon, gamma, lambda,
                clipRange, valueClipRange, vfCoef, ratioThreshold, adamBeta1, adamBeta2, adamEps, promptMin, promptMax, genMin, genMax);
    }

    public KlController klController() {
        return adaptiveKl ? KlController.adaptive(initKlCoef, klTarget, klHorizon) : KlController.fixed(initKlCoef);
    }
}
