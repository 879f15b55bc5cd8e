package org.densify.rlhf.run;

import org.densify.loaders.io.AtomicFiles;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * An output folder written whole (a reward model, a run's final model): everything goes into a
 * hidden {@code .NAME.partial-ID} folder beside it; when complete it is renamed
 * {@code .NAME.new-ID}, the old NAME (if any) is renamed {@code .NAME.old-ID}, the new one is
 * renamed NAME, and the old one deleted. A crash at any moment leaves one of:
 * <ul>
 *   <li>NAME intact (old or new), with perhaps a stale {@code .partial-}, {@code .new-} or {@code .old-} folder;</li>
 *   <li>no NAME, with {@code .NAME.new-ID} (complete) and perhaps {@code .NAME.old-ID}: the new one is put in place;</li>
 *   <li>no NAME, with {@code .NAME.old-ID} only: the old one is put back.</li>
 * </ul>
 * {@link #recover} does this (and deletes the stale folders, saying so) under the run's lock before
 * the next run writes; a {@code .partial-} folder is never complete and is always deleted.
 */
public final class OutputFolder {
    private static final String PARTIAL = ".partial-", NEW = ".new-", OLD = ".old-";

    private OutputFolder() {
    }

    /** A new hidden folder beside {@code out}, on the same file system so that the final renames are atomic. */
    public static Path partialFolder(Path out) throws IOException {
        Path abs = out.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null) throw new IllegalArgumentException(out + ": the output cannot be the root folder");
        Files.createDirectories(parent);
        while (true) {
            Path p = parent.resolve("." + abs.getFileName() + PARTIAL + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            try {
                return Files.createDirectory(p);
            } catch (FileAlreadyExistsException e) {
                // try another name
            }
        }
    }

    /**
     * Puts the complete {@code partial} folder in place of {@code out}. A non-empty {@code out} is
     * replaced only under {@link OutputPaths.Existing#REPLACE} (the check before the run may be stale:
     * something may have been written there meanwhile).
     */
    public static void publish(Path partial, Path out, OutputPaths.Existing existing) throws IOException {
        Path target = out.toAbsolutePath().normalize();
        if (Files.isDirectory(target) && !OutputPaths.isEmpty(target) && existing == OutputPaths.Existing.REFUSE) {
            throw new OutputPaths.Refused(out + ": is not empty (something was written there during the run); pass --force to replace it");
        }
        String id = partial.getFileName().toString();
        id = id.substring(id.lastIndexOf(PARTIAL) + PARTIAL.length());
        Path fresh = sibling(target, NEW, id), old = sibling(target, OLD, id);
        AtomicFiles.rename(partial, fresh);
        if (Files.isDirectory(target)) {
            if (OutputPaths.isEmpty(target)) deleteTree(target);
            else AtomicFiles.rename(target, old);
        }
        AtomicFiles.rename(fresh, target);
        deleteTree(old);
    }

    /**
     * Finishes or undoes a replacement of {@code out} that a crash interrupted, and deletes the
     * hidden folders it left; each action is reported on {@code report}. Call it only while holding
     * the folder's lock: another run's folders are not stale.
     */
    public static void recover(Path out, PrintWriter report) throws IOException {
        Path target = out.toAbsolutePath().normalize();
        Path parent = target.getParent();
        if (parent == null || !Files.isDirectory(parent)) return;
        String prefix = "." + target.getFileName();
        List<Path> partials = new ArrayList<>(), fresh = new ArrayList<>(), old = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(parent, Files::isDirectory)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.startsWith(prefix + PARTIAL)) partials.add(p);
                else if (n.startsWith(prefix + NEW)) fresh.add(p);
                else if (n.startsWith(prefix + OLD)) old.add(p);
            }
        }
        if (partials.isEmpty() && fresh.isEmpty() && old.isEmpty()) return;
        for (Path p : partials) {
            deleteTree(p);
            report.printf("densify: deleted %s, an unfinished output a stopped run left%n", p);
        }
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            // only one replacement can have been under way (the lock): its new folder, else its old one
            Path back = !fresh.isEmpty() ? fresh.getFirst() : !old.isEmpty() ? old.getFirst() : null;
            if (back != null) {
                AtomicFiles.rename(back, target);
                fresh.remove(back);
                old.remove(back);
                report.printf("densify: restored %s from %s (a run stopped while replacing it; this is the %s model)%n", out, back.getFileName(),
                        back.getFileName().toString().contains(NEW) ? "new, complete" : "old");
            }
        }
        for (Path p : fresh) {
            deleteTree(p);
            report.printf("densify: deleted %s, a replacement of %s that a stopped run did not finish (%s was kept)%n", p, out, out);
        }
        for (Path p : old) {
            deleteTree(p);
            report.printf("densify: deleted %s, the replaced output a stopped run left%n", p);
        }
        report.flush();
    }

    private static Path sibling(Path target, String kind, String id) {
        return target.resolveSibling("." + target.getFileName() + kind + id);
    }

    /** Deletes a file or a folder with everything in it (nothing when absent). */
    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
