package org.densify.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.densify.core.cpu.ScalarBackend;
import org.densify.core.cpu.VectorBackend;
import org.junit.jupiter.api.Test;

class BackendsTest {

    @Test
    void cpuIsTheVectorBackendUnlessSimdIsSwitchedOff() {
        String before = System.getProperty("densify.simd");
        try {
            System.clearProperty("densify.simd");
            try (Backend b = Backends.create("cpu")) {
                assertTrue(b instanceof VectorBackend, "default cpu backend: " + b.getClass());
            }
            System.setProperty("densify.simd", "false");
            try (Backend b = Backends.create("cpu")) {
                assertTrue(b instanceof ScalarBackend, "-Ddensify.simd=false gives the scalar reference: " + b.getClass());
            }
        } finally {
            if (before == null) System.clearProperty("densify.simd");
            else System.setProperty("densify.simd", before);
        }
    }

    @Test
    void autoFallsBackToTheCpuAndUnknownDevicesAreNamed() {
        try (Backend b = Backends.create("scalar")) {
            assertEquals("scalar", b.name());
        }
        try (Backend b = Backends.create("auto")) {
            assertEquals("cpu", b.name(), "no other provider on the test class path");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.create("tpu"));
        assertTrue(e.getMessage().contains("unknown device 'tpu'") && e.getMessage().contains("cpu"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Backends.create("cuda"));
        assertTrue(e.getMessage().contains("not on the class path"), e.getMessage());
    }
}
