package org.densify.rlhf.cli;

import picocli.CommandLine.Command;

/** Placeholder until written. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Not yet written.")
final class TokenizeCommand implements java.util.concurrent.Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("not yet written");
    }
}
