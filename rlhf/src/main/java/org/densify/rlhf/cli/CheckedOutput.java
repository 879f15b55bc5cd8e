package org.densify.rlhf.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;

/**
 * The one writer every command's standard output goes through. {@code System.out} and a plain
 * {@link PrintWriter} swallow write errors, so a command writing to a full disk or a closed pipe
 * would carry on and exit 0 having written nothing. This writer turns every failed write or flush
 * into an {@link OutputFailed}, which {@link PrintWriter} does not catch, so it ends the command
 * and {@link Main} reports it: one line and status 1 for a write error, nothing and status
 * {@link Main#EXIT_BROKEN_PIPE} when the reader has gone away.
 */
final class CheckedOutput extends Writer {
    private final Writer target;

    private CheckedOutput(OutputStream out) {
        this.target = new OutputStreamWriter(out, StandardCharsets.UTF_8);
    }

    /** A print writer over {@code out} that flushes on every println and fails loudly. */
    static PrintWriter over(OutputStream out) {
        return new PrintWriter(new CheckedOutput(out), true);
    }

    @Override
    public void write(char[] cbuf, int off, int len) {
        try {
            target.write(cbuf, off, len);
        } catch (IOException e) {
            throw new OutputFailed(e);
        }
    }

    @Override
    public void write(String str, int off, int len) {
        try {
            target.write(str, off, len);
        } catch (IOException e) {
            throw new OutputFailed(e);
        }
    }

    @Override
    public void flush() {
        try {
            target.flush();
        } catch (IOException e) {
            throw new OutputFailed(e);
        }
    }

    @Override
    public void close() {
        try {
            target.close();
        } catch (IOException e) {
            throw new OutputFailed(e);
        }
    }

    /** A write to standard output failed; {@link #brokenPipe()} when the reading end was closed. */
    static final class OutputFailed extends RuntimeException {
        OutputFailed(IOException cause) {
            super("cannot write to standard output: " + Main.describe(cause), cause);
        }

        /**
         * True when the reader closed the pipe (EPIPE). The JVM ignores SIGPIPE, so the only sign is
         * the error text the operating system gives for EPIPE.
         */
        boolean brokenPipe() {
            String m = getCause().getMessage();
            return m != null && m.contains("Broken pipe");
        }
    }
}
