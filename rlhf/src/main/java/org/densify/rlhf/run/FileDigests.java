package org.densify.rlhf.run;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * SHA-256 of files, as lower-case hex: what a checkpoint records of each of its files and checks on
 * resume, and what an experiment folder records of the models it started from.
 */
public final class FileDigests {
    private FileDigests() {
    }

    public static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The digest of each regular file in {@code folder} whose name {@code names} accepts, by file name in name order. */
    public static Map<String, String> ofFolder(Path folder, Predicate<String> names) throws IOException {
        Map<String, String> digests = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(folder)) {
            for (Path f : files.sorted().toList()) {
                String name = f.getFileName().toString();
                if (Files.isRegularFile(f) && names.test(name)) digests.put(name, sha256(f));
            }
        }
        return digests;
    }
}
