package org.densify.rlhf.cli;

import picocli.CommandLine.Command;

/** Placeholder until written. */
@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Not yet written.")
final class InspectCommand implements java.util.concurrent.Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("not yet written");
    }
}
