package org.densify.loaders.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Opens inputs with errors that name the path and say what is wrong with it. The JDK's own
 * messages give one without the other: a missing file is just its path, and a folder read as a file
 * is "Is a directory" with no path at all.
 */
public final class InputFiles {
    private InputFiles() {
    }

    /** {@code path} as a readable regular file, or an IOException naming it and the reason. */
    public static Path requireFile(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "not found");
        if (Files.isDirectory(path)) throw new FileSystemException(path.toString(), null, "is a folder, expected a file");
        if (!Files.isReadable(path)) throw new AccessDeniedException(path.toString(), null, "not readable (permission denied)");
        return path;
    }

    /** {@code path} as a readable folder, or an IOException naming it and the reason. */
    public static Path requireFolder(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "not found");
        if (!Files.isDirectory(path)) throw new FileSystemException(path.toString(), null, "is a file, expected a folder");
        if (!Files.isReadable(path)) throw new AccessDeniedException(path.toString(), null, "not readable (permission denied)");
        return path;
    }

    /** Opens a regular file for reading, after {@link #requireFile}. */
    public static InputStream open(Path path) throws IOException {
        try {
            return Files.newInputStream(requireFile(path));
        } catch (FileSystemException e) {
            throw e;
        } catch (IOException e) {
            throw new IOException(path + ": " + e.getMessage(), e);
        }
    }

    /**
     * One line for an I/O error about a path: "PATH: reason". The JDK's file-system exceptions carry
     * the path and the reason apart (and a missing file has no reason), so their message alone is
     * not enough.
     */
    public static String describe(IOException e) {
        if (e instanceof FileSystemException f && f.getFile() != null) {
            String reason = f.getReason();
            // Some callers put their whole message in the file field ("DIR: no vocab.json ..."): keep it as it is.
            if ((reason == null || reason.isBlank()) && f.getFile().contains(": ")) return e.getMessage();
            if (reason == null || reason.isBlank()) {
                reason = e instanceof NoSuchFileException ? "not found"
                        : e instanceof AccessDeniedException ? "permission denied"
                        : e instanceof java.nio.file.NotDirectoryException ? "not a folder"
                        : e instanceof java.nio.file.FileAlreadyExistsException ? "already exists"
                        : e.getClass().getSimpleName();
            }
            return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + reason;
        }
        return e.getMessage();
    }
}
