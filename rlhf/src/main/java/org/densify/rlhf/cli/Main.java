package org.densify.rlhf.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintWriter;

/**
 * The {@code densify} command line. Every subcommand gets {@code --help}; a usage error prints one
 * line and exits with status 2; any other failure prints one line and exits with status 1, with the
 * stack trace only under {@code --debug}.
 */
@Command(name = "densify",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Pure-Java transformer engine for RLHF with dense, attention-based credit.",
        subcommands = {
                CommandLine.HelpCommand.class,
                TokenizeCommand.class,
                InspectCommand.class,
                TrainTokenizerCommand.class,
                DumpCommand.class,
                GenerateCommand.class,
                PretrainCommand.class,
                TrainRmCommand.class,
                EvalRmCommand.class,
                ScoreCommand.class,
                PpoCommand.class,
                DemoCommand.class,
                ExperimentCommand.class,
        })
public final class Main implements Runnable {

    /** Exit status for a command-line usage error. */
    public static final int EXIT_USAGE = 2;
    /** Exit status for a failure while running a valid command. */
    public static final int EXIT_FAILURE = 1;
    /**
     * Exit status when the reader of standard output went away (a closed pipe, {@code | head -1}):
     * 128 + SIGPIPE, what a shell reports for {@code cat} or {@code yes} in the same place, so a
     * script under {@code set -o pipefail} knows the output was cut short, as it would for them.
     */
    public static final int EXIT_BROKEN_PIPE = 141;

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print full stack traces on errors.")
    boolean debug;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    public static void main(String[] args) {
        PrintWriter out = CheckedOutput.over(new FileOutputStream(FileDescriptor.out));
        System.exit(execute(args, out, new PrintWriter(System.err, true)));
    }

    /** Runs the CLI with the given streams and returns the exit status (used by tests). */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        Main main = new Main();
        CommandLine cli = new CommandLine(main);
        CreditOptions.describeMethods(cli);
        cli.setOut(out);
        cli.setErr(err);
        cli.setParameterExceptionHandler((ex, ignored) -> {
            PrintWriter e = ex.getCommandLine().getErr();
            e.println("densify: " + ex.getMessage() + " (try '"
                    + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            e.flush();
            return EXIT_USAGE;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter e = commandLine.getErr();
            if (ex instanceof CheckedOutput.OutputFailed failed && failed.brokenPipe()) return EXIT_BROKEN_PIPE;
            if (isDebug(parseResult)) {
                ex.printStackTrace(e);
            } else {
                e.println("densify: error: " + describe(ex));
            }
            e.flush();
            return ex instanceof UsageException ? EXIT_USAGE : EXIT_FAILURE;
        });
        int status;
        try {
            status = cli.execute(args);
            out.flush();
        } catch (CheckedOutput.OutputFailed failed) {
            // Help and usage text are written outside the handlers above, and the last flush too.
            if (failed.brokenPipe()) return EXIT_BROKEN_PIPE;
            err.println("densify: error: " + failed.getMessage());
            status = EXIT_FAILURE;
        } catch (OutOfMemoryError oom) {
            // The command's allocations are unreachable once its frames are gone: there is room to report.
            err.println("densify: error: " + outOfMemory(oom));
            status = EXIT_FAILURE;
        }
        err.flush();
        return status;
    }

    /** One line for an OutOfMemoryError the memory estimates did not foresee. */
    static String outOfMemory(OutOfMemoryError oom) {
        return "out of memory (" + describe(oom) + "); the JVM's maximum heap is " + MemoryBudget.gib(Runtime.getRuntime().maxMemory())
                + ": use smaller sizes, or give the JVM more with DENSIFY_JAVA_OPTS=-Xmx<size>";
    }

    private static boolean isDebug(CommandLine.ParseResult parseResult) {
        for (CommandLine.ParseResult r = parseResult; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--debug")) return true;
        }
        return false;
    }

    /** One line: the message, or the exception's type where it has none. */
    static String describe(Throwable ex) {
        String message = ex instanceof java.io.IOException io ? org.densify.loaders.io.InputFiles.describe(io) : ex.getMessage();
        if (message == null || message.isBlank()) message = ex.getClass().getSimpleName();
        return message.replace('\n', ' ');
    }

    /**
     * Seeds are integers >= 0 in every command and in experiment configs (whose run folders are
     * named {@code seed-N}): one rule, so a seed that works in one place works in all.
     */
    static void requireSeed(long seed) {
        if (seed < 0) throw new UsageException("--seed must be an integer >= 0, got " + seed);
    }

    /** Thrown by a command for a usage problem found only after parsing (bad combination of options). */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) {
            super(message);
        }
    }

    /** The project version, filtered into {@code version.properties} at build time. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws java.io.IOException {
            java.util.Properties p = new java.util.Properties();
            try (var in = Main.class.getResourceAsStream("version.properties")) {
                if (in == null) throw new java.io.IOException("version.properties is missing from the jar");
                p.load(in);
            }
            return new String[]{"densify " + p.getProperty("version"), "Java " + Runtime.version()};
        }
    }
}
