package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code --resume} and {@code --force}, shared by the commands that write a run folder a later call
 * can continue ({@code pretrain}, {@code ppo}): the one continues the run in the folder, the other
 * replaces it, so they are refused together.
 */
final class ResumableRunOptions {
    @Option(names = "--resume", description = "Continue the run in --out from its latest checkpoint (the options must be the same).")
    boolean resume;

    @Mixin
    ForceOption force;

    /** What a fresh run may do with the outputs that exist; {@code --resume} with {@code --force} is a usage error. */
    OutputPaths.Existing existing() {
        if (resume && force.force) throw new Main.UsageException("--resume continues the run in --out and --force replaces it: pass one of them");
        return force.existing();
    }
}
