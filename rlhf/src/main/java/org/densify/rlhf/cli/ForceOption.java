package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import picocli.CommandLine.Option;

/**
 * {@code --force}, shared by every command that writes an output: without it nothing that exists is
 * replaced. {@link #check} runs a command's output checks before any work and turns a refusal into a
 * usage error (exit status 2).
 */
final class ForceOption {
    @Option(names = "--force", description = "Replace outputs that exist already (without it, they are refused before any work).")
    boolean force;

    OutputPaths.Existing existing() {
        return OutputPaths.Existing.force(force);
    }

    /** Runs {@code checks} (calls of {@link OutputPaths}), a refusal becoming a usage error. */
    static void check(Runnable checks) {
        try {
            checks.run();
        } catch (OutputPaths.Refused e) {
            throw new Main.UsageException(e.getMessage());
        }
    }
}
