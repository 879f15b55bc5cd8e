package org.densify.rlhf.run;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive claim on a run folder for the life of a run, so that two runs never write into one
 * folder at once. The claim is an operating-system lock ({@link FileChannel#tryLock}) on the file
 * {@value #FILE} inside the folder: the operating system drops it when the process ends, however it
 * ends, so a crash never leaves a folder claimed. The file itself stays (deleting it would let a
 * third run lock a new file while the second still holds the old one); it is empty and ignored when
 * a folder is checked for being empty.
 *
 * <p>A folder that is replaced whole by a rename (a reward model's output) cannot hold its own
 * lock; {@link #beside} claims it through the file {@code .NAME.lock} next to it instead.
 */
public final class RunLock implements AutoCloseable {
    /** The lock file inside a run folder. */
    public static final String FILE = ".densify.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Claims the run folder {@code dir} (created if missing) through {@code dir/.densify.lock}. */
    public static RunLock inside(Path dir) throws IOException {
        Files.createDirectories(dir);
        return claim(dir, dir.resolve(FILE));
    }

    /** Claims {@code dir}, a folder that is replaced whole, through {@code .NAME.lock} in its parent. */
    public static RunLock beside(Path dir) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null) throw new IllegalArgumentException(dir + ": the output cannot be the root folder");
        Files.createDirectories(parent);
        return claim(dir, parent.resolve("." + abs.getFileName() + ".lock"));
    }

    /** Whether {@code name} is a lock file this class leaves (inside or beside a folder). */
    public static boolean isLockFile(String name) {
        return name.equals(FILE);
    }

    private static RunLock claim(Path dir, Path file) throws IOException {
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // held by another run in this same JVM (an experiment's parallel cells, a test)
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            throw new InUse(dir, file);
        }
        return new RunLock(channel, lock);
    }

    /** Releases the claim (the operating system also releases it when the process ends). */
    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }

    /** Another run holds the folder. */
    public static final class InUse extends IllegalStateException {
        InUse(Path dir, Path file) {
            super(dir + " is in use by another run (lock " + file + ")");
        }
    }
}
