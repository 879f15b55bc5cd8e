package org.densify.rlhf.run;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * Training progress on standard error: on a terminal one line redrawn in place with {@code \r}
 * every step (kept, with a newline, at each evaluation); elsewhere (a log file, a pipe) a plain
 * line at the first step, at each evaluation, every {@code every} steps and at the end.
 */
public final class ProgressBar {
    private final PrintWriter err;
    private final boolean terminal;
    private final int total, every;
    private int width;

    public ProgressBar(PrintWriter err, boolean terminal, int total, int every) {
        this.err = err;
        this.terminal = terminal;
        this.total = total;
        this.every = Math.max(1, every);
    }

    /** Whether standard error is probably an interactive terminal (the JDK tells only about the console as a whole). */
    public static boolean stderrIsTerminal() {
        var console = System.console();
        return console != null && console.isTerminal() && System.getenv("TERM") != null && !"dumb".equals(System.getenv("TERM"));
    }

    /**
     * @param evalLoss the held-out loss when this step evaluated, else NaN
     * @param lastEval the most recent held-out loss, or NaN
     */
    public void update(int step, double loss, double evalLoss, double lastEval, double tokensPerSecond, double etaSeconds) {
        boolean evaluated = !Double.isNaN(evalLoss);
        StringBuilder detail = new StringBuilder(String.format(Locale.ROOT, "loss %.4f", loss));
        if (!Double.isNaN(lastEval)) detail.append(String.format(Locale.ROOT, "  eval %.4f", lastEval));
        detail.append(String.format(Locale.ROOT, "  %,.0f tok/s", tokensPerSecond));
        show(step, detail.toString(), etaSeconds, evaluated);
    }

    /**
     * Shows step {@code step} of the total with any run's figures ({@code detail}) and the time left;
     * {@code keep} leaves the line on a terminal instead of redrawing it at the next step.
     */
    public void show(int step, String detail, double etaSeconds, boolean keep) {
        String line = String.format(Locale.ROOT, "step %" + digits(total) + "d/%d %s %s  ETA %s", step, total, bar(step), detail,
                duration(etaSeconds));
        if (terminal) {
            int pad = Math.max(0, width - line.length());
            width = line.length();
            err.print("\r" + line + " ".repeat(pad) + (keep || step == total ? "\n" : ""));
            if (keep || step == total) width = 0;
            err.flush();
        } else if (step == 1 || keep || step % every == 0 || step == total) {
            err.print(line + "\n");
            err.flush();
        }
    }

    private String bar(int step) {
        int cells = 20, full = (int) ((long) step * cells / total);
        return "[" + "#".repeat(full) + ".".repeat(cells - full) + "]";
    }

    private static int digits(int n) {
        return Integer.toString(n).length();
    }

    /** 75 -> "1m15s", 3700 -> "1h01m". */
    public static String duration(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        if (s < 60) return s + "s";
        if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60);
    }
}
