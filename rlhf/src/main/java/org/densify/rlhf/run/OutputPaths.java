package org.densify.rlhf.run;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * The checks every command makes on its output paths before it does any work: the path must be
 * writable where it is (no regular file where a folder is needed), and nothing already there is
 * replaced unless the user passed {@code --force}. Each refusal is one {@link Refused} message of
 * the same shape: {@code OPTION PATH: REASON}, and for an existing output
 * {@code ...; pass --force to replace it, or choose another OPTION}.
 */
public final class OutputPaths {
    private OutputPaths() {
    }

    /** Whether outputs that exist may be replaced ({@code --force}). */
    public enum Existing {
        REFUSE, REPLACE;

        public static Existing force(boolean force) {
            return force ? REPLACE : REFUSE;
        }
    }

    /** An output path that cannot or may not be written; a usage error. */
    public static final class Refused extends IllegalArgumentException {
        public Refused(String message) {
            super(message);
        }
    }

    /** A file output: its folder can be made, it is not a folder, and it does not exist unless replaced. */
    public static void checkFile(String option, Path file, Existing existing) {
        checkAncestors(option, file);
        if (Files.isDirectory(file)) throw new Refused(option + " " + file + ": is a folder, expected a file");
        if (Files.exists(file) && existing == Existing.REFUSE) throw exists(option, file, "exists already");
    }

    /** A folder that is written whole: it may exist only empty (lock files aside) unless replaced. */
    public static void checkWholeFolder(String option, Path dir, Existing existing) {
        checkFolderPath(option, dir);
        if (existing == Existing.REFUSE && Files.isDirectory(dir) && !isEmpty(dir)) throw exists(option, dir, "is not empty");
    }

    /**
     * A folder that may hold other things, where this command writes the entries {@code outputs}:
     * none of them may exist unless replaced.
     */
    public static void checkFolderEntries(String option, Path dir, Existing existing, String... outputs) {
        checkFolderPath(option, dir);
        if (existing == Existing.REPLACE || !Files.isDirectory(dir)) return;
        for (String name : outputs) {
            if (Files.exists(dir.resolve(name))) throw exists(option, dir, "holds " + name + " already");
        }
    }

    /** A folder output: it is a folder or can be made one. */
    public static void checkFolderPath(String option, Path dir) {
        checkAncestors(option, dir);
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new Refused(option + " " + dir + ": is a file, expected a folder");
    }

    /** Whether {@code dir} holds nothing but lock files. */
    public static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.allMatch(p -> RunLock.isLockFile(p.getFileName().toString()));
        } catch (IOException e) {
            throw new Refused(dir + ": cannot be listed (" + e.getMessage() + ")");
        }
    }

    /** The nearest existing ancestor of {@code path} must be a folder (else nothing can be created under it). */
    private static void checkAncestors(String option, Path path) {
        for (Path p = path.toAbsolutePath().normalize().getParent(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p)) return;
            if (Files.exists(p)) throw new Refused(option + " " + path + ": " + p + " is a file, not a folder");
        }
    }

    private static Refused exists(String option, Path path, String reason) {
        return new Refused(option + " " + path + ": " + reason + "; pass --force to replace it, or choose another " + option);
    }
}
