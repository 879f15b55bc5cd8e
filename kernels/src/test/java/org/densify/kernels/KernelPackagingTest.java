package org.densify.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The kernels the backend launches are the kernels the build compiled and packaged. Needs no GPU. */
class KernelPackagingTest {
    private static final Path CUDA = Path.of("src/main/cuda");
    private static final Pattern KERNEL = Pattern.compile("extern \"C\" __global__ void (\\w+)\\(");

    @Test
    void everyLaunchedKernelIsAnEntryOfThePackagedPtx() {
        String missing = Ptx.missing();
        Assumptions.assumeTrue(missing == null || !missing.equals(Ptx.NOT_BUILT), "no PTX to check: " + missing);
        assertEquals(null, missing, "PTX resources");
        Set<String> entries = new HashSet<>();
        for (String f : Kernels.FILES) {
            List<String> declared = Ptx.entries(Ptx.text(f));
            assertTrue(!declared.isEmpty(), f + ".ptx declares no .entry");
            for (String e : declared) assertTrue(entries.add(e), "entry " + e + " is in two PTX files");
        }
        Set<String> absent = new TreeSet<>(CudaBackend.kernelNames());
        absent.removeAll(entries);
        assertTrue(absent.isEmpty(), "launched but not in the PTX: " + absent);
        Set<String> unused = new TreeSet<>(entries);
        unused.removeAll(CudaBackend.kernelNames());
        assertTrue(unused.isEmpty(), "in the PTX but never launched: " + unused);
    }

    @Test
    void everyCudaSourceIsAPtxFileAndEveryKernelIsKnown() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(CUDA), () -> "no kernel sources at " + CUDA.toAbsolutePath() + " (run from kernels/)");
        List<String> files = new ArrayList<>();
        Set<String> kernels = new TreeSet<>();
        try (Stream<Path> s = Files.list(CUDA)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".cu")).sorted().toList()) {
                files.add(p.getFileName().toString().replace(".cu", ""));
                Matcher m = KERNEL.matcher(Files.readString(p));
                while (m.find()) kernels.add(m.group(1));
            }
        }
        assertEquals(files, Kernels.FILES.stream().sorted().toList(), "src/main/cuda/*.cu vs Kernels.FILES");
        assertEquals(kernels, new TreeSet<>(CudaBackend.kernelNames()), "extern \"C\" kernels in the sources vs Kernels.ALL");
    }

    @Test
    void ptxTargetsAmpereOrLaterAndUsesNoFastMath() {
        String ptx = Ptx.text("attention");
        Assumptions.assumeTrue(ptx != null, Ptx.NOT_BUILT);
        Matcher target = Pattern.compile("\\.target sm_(\\d+)").matcher(ptx);
        assertTrue(target.find() && Integer.parseInt(target.group(1)) >= 80, "PTX for compute capability 8.0 or later");
        // --use_fast_math turns expf into ex2.approx.ftz of a pre-scaled argument and divisions into div.approx
        assertTrue(!ptx.contains("div.approx.ftz"), "attention.ptx was built with fast math");
    }
}
