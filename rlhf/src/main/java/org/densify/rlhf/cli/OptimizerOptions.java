package org.densify.rlhf.cli;

import picocli.CommandLine.Option;

/**
 * {@code --lr}, {@code --weight-decay} and {@code --grad-clip}, shared by the commands that train with
 * AdamW ({@code pretrain}, {@code train-rm}). Their defaults differ by job: each command's {@link
 * SettingsDefaults} gives them from its settings type.
 */
final class OptimizerOptions {
    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weight-decay", paramLabel = "F", description = "AdamW weight decay on matrices and embeddings (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--grad-clip", paramLabel = "F", description = "Clip the gradient norm to F; 0 = off (default: ${DEFAULT-VALUE}).")
    double gradClip;
}
