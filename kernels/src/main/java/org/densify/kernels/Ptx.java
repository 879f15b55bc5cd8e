package org.densify.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The PTX that nvcc compiled from {@code src/main/cuda/*.cu} at build time, packaged as resources. */
final class Ptx {
    private Ptx() {
    }

    static final String RESOURCE_DIR = "org/densify/kernels/ptx/";
    static final String NOT_BUILT = "built without CUDA kernels (nvcc was not found at build time; "
            + "install the CUDA toolkit or pass -Ddensify.nvcc=/path/to/nvcc and rebuild)";
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*\\(");

    /** The text of {@code <file>.ptx}, or null when the jar has none. */
    static String text(String file) {
        try (InputStream in = Ptx.class.getClassLoader().getResourceAsStream(RESOURCE_DIR + file + ".ptx")) {
            return in == null ? null : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE_DIR + file + ".ptx", e);
        }
    }

    /** Every PTX file by name, in {@link Kernels#FILES} order. */
    static Map<String, String> all() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String f : Kernels.FILES) {
            String text = text(f);
            if (text != null) out.put(f, text);
        }
        return out;
    }

    /** Null when every PTX file is packaged, else why the kernels cannot be used. */
    static String missing() {
        List<String> absent = new ArrayList<>();
        for (String f : Kernels.FILES) if (text(f) == null) absent.add(f + ".ptx");
        if (absent.size() == Kernels.FILES.size()) return NOT_BUILT;
        return absent.isEmpty() ? null : "incomplete CUDA kernels in the jar: " + String.join(", ", absent) + " missing";
    }

    /** The kernel entry points a PTX text declares. */
    static List<String> entries(String ptx) {
        List<String> names = new ArrayList<>();
        Matcher m = ENTRY.matcher(ptx);
        while (m.find()) names.add(m.group(1));
        return names;
    }
}
