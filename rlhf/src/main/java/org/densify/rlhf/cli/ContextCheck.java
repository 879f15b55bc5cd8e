package org.densify.rlhf.cli;

/**
 * The one check that what a command is asked to read or write fits a model's context. Every
 * command treats a miss as a usage error (status 2): the lengths come from the command line (the
 * prompt, the completion, --max-new-tokens, --prompt-max and --gen-max), and the fix is a different
 * command line, not a different model or machine.
 */
final class ContextCheck {
    private ContextCheck() {
    }

    /** Refuses {@code tokens} (described by {@code what}) over {@code nPositions} of {@code whose} model. */
    static void fits(String what, long tokens, String whose, int nPositions) {
        if (tokens > nPositions) {
            throw new Main.UsageException(what + " is " + tokens + " tokens, more than " + whose + " n_positions " + nPositions);
        }
    }
}
