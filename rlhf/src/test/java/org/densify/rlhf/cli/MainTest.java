package org.densify.rlhf.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.*;

class MainTest {

    /** Exit status and both streams of one CLI run. */
    record Run(int status, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int status = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(status, out.toString(), err.toString());
    }

    @Test
    void helpListsEveryCommand() {
        Run r = run("--help");
        assertEquals(0, r.status());
        for (String name : new CommandLine(new Main()).getSubcommands().keySet()) {
            assertTrue(r.out().contains(name), "help does not list " + name);
        }
    }

    @Test
    void everyCommandHasHelp() {
        for (var entry : new CommandLine(new Main()).getSubcommands().entrySet()) {
            if (entry.getKey().equals("help")) continue;
            Run r = run(entry.getKey(), "--help");
            assertEquals(0, r.status(), entry.getKey() + " --help failed: " + r.err());
            assertTrue(r.out().contains("Usage: densify " + entry.getKey()), r.out());
        }
    }

    @Test
    void usageErrorsExitWithTwoAndOneLine() {
        for (String[] args : new String[][]{{"--bogus"}, {}, {"no-such-command"}, {"tokenize", "--no-such-option"}}) {
            Run r = run(args);
            assertEquals(Main.EXIT_USAGE, r.status(), String.join(" ", args));
            assertEquals(1, r.err().strip().lines().count(), "expected one line, got: " + r.err());
            assertTrue(r.err().startsWith("densify: "), r.err());
        }
    }

    @Test
    void failuresExitWithOneAndOneLineUnlessDebug() {
        Run r = run("inspect", "/no/such/file.safetensors");
        assertEquals(Main.EXIT_FAILURE, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("/no/such/file.safetensors"), r.err());

        Run debug = run("--debug", "inspect", "/no/such/file.safetensors");
        assertEquals(Main.EXIT_FAILURE, debug.status());
        assertTrue(debug.err().contains("\tat "), "--debug should print the stack trace: " + debug.err());
    }

    @Test
    void versionIsPrinted() {
        Run r = run("--version");
        assertEquals(0, r.status());
        // The build filters the Maven project version in: "densify 0.1.0-SNAPSHOT", never a placeholder.
        assertTrue(r.out().matches("(?s)densify \\d+\\.\\d+\\.\\d+\\S*\\RJava \\d+.*"), r.out());
    }
}
