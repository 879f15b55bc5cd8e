package org.densify.ffm.cublas;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * The dynamic linker's own reason for a library that does not load. The JDK's
 * {@link SymbolLookup#libraryLookup} only says "cannot open"; dlopen's {@code dlerror()} says
 * which file or dependency is missing (e.g. {@code libcublasLt.so.13}), which is what a user needs.
 */
@SuppressWarnings("restricted") // libc's dlopen/dlerror on the failure path only
final class DynamicLinker {
    private static final int RTLD_NOW = 2;

    private DynamicLinker() {
    }

    /** dlerror() after dlopen(target), or a fallback when libc's dl functions are not reachable. */
    static String whyNotLoaded(String target) {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        Optional<MemorySegment> dlopen = libc.find("dlopen"), dlerror = libc.find("dlerror"), dlclose = libc.find("dlclose");
        if (dlopen.isEmpty() || dlerror.isEmpty() || dlclose.isEmpty()) {
            return "the dynamic linker could not open it (not found on its search path, or a dependency is missing)";
        }
        MethodHandle open = linker.downcallHandle(dlopen.get(), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        MethodHandle error = linker.downcallHandle(dlerror.get(), FunctionDescriptor.of(ADDRESS));
        MethodHandle close = linker.downcallHandle(dlclose.get(), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment handle = (MemorySegment) open.invokeExact(arena.allocateFrom(target), RTLD_NOW);
            if (!handle.equals(MemorySegment.NULL)) {
                int closed = (int) close.invokeExact(handle);
                return "the JDK could not open it, though dlopen can (dlclose: " + closed + ")";
            }
            MemorySegment message = (MemorySegment) error.invokeExact();
            if (message.equals(MemorySegment.NULL)) return "dlopen failed without a reason";
            return message.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            return "the dynamic linker could not open it (" + t + ")";
        }
    }
}
