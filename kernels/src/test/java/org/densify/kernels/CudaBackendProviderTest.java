package org.densify.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import org.densify.core.Backend;
import org.densify.core.BackendProvider;
import org.densify.core.Backends;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The provider is found at run time and, where CUDA cannot run, says why instead of failing later. */
class CudaBackendProviderTest {

    @Test
    void theProviderIsRegisteredAsCuda() {
        List<String> names = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class).forEach(p -> names.add(p.name()));
        assertTrue(names.contains("cuda"), "providers: " + names);
    }

    @Test
    void withoutAGpuTheReasonIsClearAndCreatingCudaFailsWithIt() {
        String reason = CudaAvailability.REASON;
        Assumptions.assumeTrue(reason != null, "a GPU is here: nothing to refuse");
        assertEquals(reason, new CudaBackendProvider().unavailableReason(), "the probe runs once");
        assertTrue(reason.startsWith("no CUDA driver") || reason.startsWith("no CUDA device") || reason.startsWith("built without CUDA kernels")
                || reason.startsWith("cuBLAS not found") || reason.startsWith("incomplete CUDA kernels"), reason);
        if (!Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1")) && !Files.exists(Path.of("/usr/lib64/libcuda.so.1"))
                && Ptx.missing() == null) {
            assertEquals("no CUDA driver (libcuda.so.1 not found)", reason);
        }
        var e = assertThrows(IllegalStateException.class, () -> Backends.create("cuda"));
        assertTrue(e.getMessage().contains(reason), e.getMessage());
        var direct = assertThrows(IllegalStateException.class, () -> new CudaBackendProvider().create());
        assertTrue(direct.getMessage().contains(reason), direct.getMessage());
        try (Backend auto = Backends.create("auto")) {
            assertEquals("cpu", auto.name(), "auto falls back to the CPU");
        }
    }

    @Test
    void withAGpuCudaIsWhatAutoPicks() {
        CudaAvailability.assumeGpu();
        try (Backend auto = Backends.create("auto")) {
            assertEquals("cuda", auto.name());
            assertNotNull(((CudaBackend) auto).deviceDescription());
        }
    }
}
