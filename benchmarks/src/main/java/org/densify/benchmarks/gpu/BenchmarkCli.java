package org.densify.benchmarks.gpu;

import java.util.function.Function;
import org.densify.core.Backend;
import org.densify.core.Backends;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * What the GPU benchmark mains share on their command line: the help and device options, the
 * checks of parsed values, and how a main reports a usage error or a device it cannot open.
 */
final class BenchmarkCli {
    private BenchmarkCli() {
    }

    /** {@code --help}, {@code --device}, {@code --tf32}: a picocli mixin of both mains. */
    static final class Common {
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Print this help and exit.")
        boolean help;

        @Option(names = "--device", defaultValue = "cuda", paramLabel = "cuda|cpu|auto", description = "The backend (default: ${DEFAULT-VALUE}).")
        String device;

        @Option(names = "--tf32", description = "Set -Ddensify.cuda.tf32=true before the backend starts (cuBLAS TF32 tensor-op math).")
        boolean tf32;

        /** The backend of {@code --device}, TF32 set first when asked; a device that cannot run exits 2 naming it. */
        Backend open(String program) {
            if (tf32) System.setProperty("densify.cuda.tf32", "true");
            try {
                return Backends.create(device);
            } catch (RuntimeException e) {
                System.err.println(program + ": device '" + device + "' is not available: " + e.getMessage());
                System.exit(2);
                throw e; // not reached
            }
        }
    }

    /** The checks of parsed options: a failed one is a usage error, as a malformed value is to picocli. */
    record Usage(CommandLine cli) {
        void require(boolean ok, String problem) {
            if (!ok) throw new ParameterException(cli, problem);
        }

        void positive(String option, long n) {
            require(n >= 1, option + " must be >= 1, got " + n);
        }
    }

    /**
     * The options {@code parse} makes of args, for a main: {@code --help} prints the usage and exits 0;
     * a usage error prints one line and exits 64 (EX_USAGE).
     */
    static <T> T parseOrExit(Function<String[], CommandLine> parse, String[] args) {
        try {
            CommandLine cli = parse.apply(args);
            if (cli.isUsageHelpRequested()) {
                cli.usage(System.out);
                System.exit(0);
            }
            return cli.getCommand();
        } catch (ParameterException e) {
            System.err.println(e.getCommandLine().getCommandName() + ": " + e.getMessage() + " (try --help)");
            System.exit(64);
            throw e; // not reached
        }
    }
}
