package org.densify.loaders.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file so that a reader (or a crash) never sees half of it: the content goes to a hidden
 * temporary file {@code .<name>.<random hex>.tmp} in the target's folder, is forced to disk, and is
 * then renamed over the target in one atomic step. On any failure the temporary file is deleted and
 * an existing target is untouched. Used for safetensors files, config.json and checkpoints.
 *
 * <p>What replacing by rename means:
 * <ul>
 *   <li>The result is always a new regular file. If the target is a symbolic link, the link itself
 *       is replaced by the file; the file it pointed to is left as it was.</li>
 *   <li>Where the file system has POSIX permissions (and lets them be set), the new file gets the
 *       permissions of the file it replaces (following a symbolic link); a new target gets the usual
 *       umask default. Owner,
 *       group, ACLs, extended attributes and hard links of the old file are not carried over.</li>
 *   <li>A crash (or {@code kill -9}) between creating the temporary file and the rename can leave
 *       the hidden temporary file behind. It is not cleaned up automatically: another process may be
 *       writing the same target at that moment, and deleting its temporary file would break that
 *       write. Such leftovers are safe to delete by hand when nothing is writing.</li>
 * </ul>
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** Called before every rename this class makes; tests install one to simulate a crash at that moment. */
    @FunctionalInterface
    public interface RenameHook {
        void beforeRename(Path from, Path to) throws IOException;
    }

    private static volatile RenameHook renameHook = (from, to) -> {
    };

    /**
     * For tests only: runs {@code hook} before each rename (of a file by {@link #write} or of a folder
     * by {@link #rename}); a hook that throws stops the write there, as a crash would. Returns the
     * previous hook, to be put back.
     */
    public static RenameHook setRenameHookForTests(RenameHook hook) {
        RenameHook previous = renameHook;
        renameHook = hook;
        return previous;
    }

    /**
     * Renames {@code from} (a file or a folder) to {@code to} in one atomic step and makes the rename
     * durable where the platform allows it. A non-empty folder {@code to} is never replaced.
     */
    public static void rename(Path from, Path to) throws IOException {
        renameHook.beforeRename(from, to);
        Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        Path parent = to.toAbsolutePath().getParent();
        if (parent != null) syncDirectory(parent);
    }

    /** Writes the content of a file through a channel. */
    @FunctionalInterface
    public interface Content {
        void writeTo(FileChannel channel) throws IOException;
    }

    /** Atomically replaces {@code target} with what {@code content} writes. */
    public static void write(Path target, Content content) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp;
        FileChannel ch;
        while (true) {
            // Same folder, so the final rename is on one file system and can be atomic. CREATE_NEW
            // (not createTempFile) so the file gets the usual umask permissions, not 0600.
            tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                break;
            } catch (FileAlreadyExistsException e) {
                // try another name
            }
        }
        try {
            try (FileChannel c = ch) {
                content.writeTo(c);
                c.force(true);
            }
            keepPermissions(abs, tmp);
            renameHook.beforeRename(tmp, abs);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        syncDirectory(dir);
    }

    /** Atomically replaces {@code target} with {@code bytes}. */
    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, ch -> writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /** Writes all of {@code buf}; a channel may take less than asked per call. */
    public static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    /**
     * Gives {@code tmp} the POSIX permissions of an existing {@code target} (through a link). Best
     * effort: a new target, a file system without POSIX permissions, or one that refuses the change
     * keeps the default, rather than failing a write whose content is already safely on disk.
     */
    private static void keepPermissions(Path target, Path tmp) {
        try {
            Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(target));
        } catch (IOException | UnsupportedOperationException e) {
            // NoSuchFileException: a new file or a dangling link; others: not supported here
        }
    }

    /** Makes the rename itself durable where the platform allows it (Linux does; Windows cannot open folders). */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // best effort: the file itself is already on disk
        }
    }
}
