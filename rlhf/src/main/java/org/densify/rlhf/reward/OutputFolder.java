package org.densify.rlhf.reward;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * The output folder of a run, written whole: everything goes into a hidden {@code .NAME.partial-*}
 * folder beside it, renamed to NAME when complete. A non-empty NAME is replaced only when forced
 * (moved aside, then deleted once the new folder is in place).
 */
final class OutputFolder {
    private OutputFolder() {
    }

    /** Refuses an output that is a file, or a non-empty folder without {@code force}. */
    static void checkOut(Path out, boolean force) throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException(out + " exists and is not a folder");
        if (!force && Files.isDirectory(out) && !isEmpty(out)) {
            throw new IllegalArgumentException(out + " is not empty: choose another --out, or pass --force to replace it");
        }
    }

    static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    /** A new hidden folder beside {@code out}, on the same file system so that the final rename is atomic. */
    static Path partialFolder(Path out) throws IOException {
        Path abs = out.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null) throw new IllegalArgumentException(out + ": the output cannot be the root folder");
        Files.createDirectories(parent);
        while (true) {
            Path p = parent.resolve("." + abs.getFileName() + ".partial-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            try {
                return Files.createDirectory(p);
            } catch (FileAlreadyExistsException e) {
                // try another name
            }
        }
    }

    /** Renames the complete {@code partial} folder to {@code out}; a non-empty {@code out} is replaced only with {@code force}. */
    static void publish(Path partial, Path out, boolean force) throws IOException {
        Path old = null;
        if (Files.isDirectory(out)) {
            if (isEmpty(out)) {
                Files.delete(out);
            } else if (force) {
                old = partial.resolveSibling(partial.getFileName().toString().replace(".partial-", ".old-"));
                Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
            } else {
                throw new IllegalArgumentException(out + " is not empty (something was written there during training): pass --force to replace it");
            }
        }
        try {
            Files.move(partial, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (old != null) Files.move(old, out, StandardCopyOption.ATOMIC_MOVE);
            throw e;
        }
        if (old != null) deleteTree(old);
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
