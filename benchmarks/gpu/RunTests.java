import static org.junit.platform.engine.discovery.ClassNameFilter.excludeClassNamePatterns;
import static org.junit.platform.engine.discovery.ClassNameFilter.includeClassNamePatterns;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClasspathRoots;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;

/**
 * A minimal JUnit Platform console for machines without Maven (benchmarks/gpu/check.sh): runs the
 * test classes matching {@code --pattern} (default {@code .*Test}) and not {@code --exclude} found in the given jars or
 * folders, prints one line per class, every failure with its cause and every distinct skip reason,
 * then a summary line; exits 1 on a failure or when no test ran at all (nothing must pass silently).
 *
 * <pre>java -cp RUNNER:TESTJARS:LIBS RunTests [--pattern REGEX] [--exclude REGEX] [--summary FILE] TEST_JAR_OR_DIR...</pre>
 */
public final class RunTests {
    public static void main(String[] args) throws IOException {
        String pattern = ".*Test", exclude = "$^";
        Path summaryFile = null;
        Set<Path> roots = new LinkedHashSet<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--pattern" -> pattern = args[++i];
                case "--exclude" -> exclude = args[++i];
                case "--summary" -> summaryFile = Path.of(args[++i]);
                default -> {
                    Path p = Path.of(args[i]);
                    if (Files.exists(p)) roots.add(p);
                    else System.out.println("RunTests: no " + p + " (skipped)");
                }
            }
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClasspathRoots(roots))
                .filters(includeClassNamePatterns(pattern), excludeClassNamePatterns(exclude))
                .build();
        Listener listener = new Listener();
        Launcher launcher = org.junit.platform.launcher.core.LauncherFactory.create();
        launcher.execute(request, listener);
        String summary = String.format("tests: %d passed, %d failed, %d skipped (%d classes)",
                listener.passed, listener.failed, listener.skipped, listener.classes.size());
        System.out.println(summary);
        if (summaryFile != null) Files.writeString(summaryFile, summary + "\n");
        System.exit(listener.failed > 0 || listener.passed + listener.failed + listener.skipped == 0 ? 1 : 0);
    }

    private static final class Listener implements TestExecutionListener {
        int passed, failed, skipped;
        /** Per class: [passed, failed, skipped]. */
        final Map<String, int[]> classes = new LinkedHashMap<>();
        final Set<String> skipReasons = new LinkedHashSet<>();

        private static String className(TestIdentifier id) {
            String uid = id.getUniqueId();
            int at = uid.indexOf("[class:");
            if (at < 0) return "?";
            return uid.substring(at + 7, uid.indexOf(']', at));
        }

        private int[] counts(TestIdentifier id) {
            return classes.computeIfAbsent(className(id), k -> new int[3]);
        }

        private static boolean isClass(TestIdentifier id) {
            return id.getSource().filter(s -> s instanceof ClassSource).isPresent();
        }

        @Override
        public void executionSkipped(TestIdentifier id, String reason) {
            // a skipped class (e.g. @Disabled) reports once, for all of its tests
            skipped++;
            counts(id)[2]++;
            if (skipReasons.add(reason)) System.out.println("  SKIP " + className(id) + (isClass(id) ? "" : "." + id.getDisplayName()) + ": " + reason);
        }

        @Override
        public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            boolean container = id.isContainer();
            if (container && !isClass(id)) {
                if (result.getStatus() == TestExecutionResult.Status.FAILED) {
                    failed++;
                    System.out.println("  FAIL " + id.getDisplayName() + ": " + cause(result));
                }
                return;
            }
            String name = className(id) + (container ? "" : "." + id.getDisplayName());
            switch (result.getStatus()) {
                case SUCCESSFUL -> {
                    if (!container) {
                        passed++;
                        counts(id)[0]++;
                    }
                }
                case ABORTED -> { // an assumption failed, in a test or in the class's @BeforeAll
                    skipped++;
                    counts(id)[2]++;
                    String reason = cause(result);
                    if (skipReasons.add(reason)) System.out.println("  SKIP " + name + ": " + reason);
                }
                case FAILED -> {
                    failed++;
                    counts(id)[1]++;
                    System.out.println("  FAIL " + name + ": " + cause(result));
                    result.getThrowable().ifPresent(t -> {
                        StackTraceElement[] trace = t.getStackTrace();
                        for (int i = 0; i < Math.min(8, trace.length); i++) System.out.println("         at " + trace[i]);
                    });
                }
            }
            if (container) {
                int[] c = counts(id);
                System.out.printf("  %-58s %3d passed, %d failed, %d skipped%n", className(id), c[0], c[1], c[2]);
            }
        }

        private static String cause(TestExecutionResult result) {
            return result.getThrowable().map(t -> t.getClass().getSimpleName() + ": " + t.getMessage()).orElse("(no cause)");
        }
    }
}
