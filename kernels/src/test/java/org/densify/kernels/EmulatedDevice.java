package org.densify.kernels;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * {@link Device} on the CPU: the kernel sources of {@code src/main/cuda} compiled with g++ against
 * the emulator in {@code src/test/emu} (see emu.h) into {@code target/emu/libdensify_emu.so} and
 * called through FFM. The real {@link CudaBackend} runs on it, so the tests check the kernels and
 * the host code that launches them on a machine without a GPU. Memory is host memory; "device
 * addresses" are host addresses. Not for speed: one emulated thread at a time.
 */
@SuppressWarnings("restricted")
final class EmulatedDevice implements Device {
    private static final Path MODULE = Path.of(System.getProperty("user.dir"));
    private static final Path CUDA = MODULE.resolve("src/main/cuda"), EMU = MODULE.resolve("src/test/emu");
    private static final Path OUT = MODULE.resolve("target/emu");
    private static final Pattern KERNEL = Pattern.compile("extern \"C\" __global__ void (\\w+)\\(");

    private static String unavailable;
    private static RuntimeException broken;
    private static Library library;

    /** The compiled emulator's entry points, loaded once per JVM. */
    private record Library(MethodHandle launch, MethodHandle alloc, MethodHandle free, MethodHandle memoryInfo, MethodHandle sgemm) {}

    private final Set<String> known = new HashSet<>(Kernels.ALL);
    private final Set<Long> live = new HashSet<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment error = arena.allocate(1024);

    /**
     * Null when the emulator can be built here, else why not: it needs x86-64 (its context switch)
     * and a g++. A kernel source that does not compile is not a reason to skip: {@link
     * #EmulatedDevice()} throws the compiler's output.
     */
    static synchronized String unavailableReason() {
        if (unavailable == null && library == null && broken == null) {
            String arch = System.getProperty("os.arch");
            if (!arch.equals("amd64") && !arch.equals("x86_64")) {
                unavailable = "the CUDA emulator's context switch is written for x86-64, this is " + arch;
            } else if (!Files.isDirectory(CUDA) || !Files.isDirectory(EMU)) {
                unavailable = "no kernel sources at " + CUDA + " (run from kernels/)";
            } else {
                try {
                    new ProcessBuilder("g++", "--version").redirectErrorStream(true).start().getInputStream().readAllBytes();
                } catch (IOException e) {
                    unavailable = "the CUDA emulator needs g++: " + e.getMessage();
                }
            }
        }
        return unavailable;
    }

    EmulatedDevice() {
        String why = unavailableReason();
        if (why != null) throw new IllegalStateException(why);
        synchronized (EmulatedDevice.class) {
            if (broken != null) throw broken;
            if (library == null) {
                try {
                    library = load(build());
                } catch (IOException | RuntimeException e) {
                    broken = new IllegalStateException("the CUDA emulator could not be built: " + e.getMessage(), e);
                    throw broken;
                }
            }
        }
    }

    /** Compiles the emulator when a source is newer than the library. */
    private static Path build() throws IOException {
        Files.createDirectories(OUT);
        Path lib = OUT.resolve("libdensify_emu.so");
        List<Path> sources = new ArrayList<>();
        try (Stream<Path> s = Files.list(CUDA)) {
            s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).sorted().forEach(sources::add);
        }
        try (Stream<Path> s = Files.list(EMU)) {
            s.sorted().forEach(sources::add);
        }
        FileTime newest = FileTime.fromMillis(0);
        for (Path p : sources) if (Files.getLastModifiedTime(p).compareTo(newest) > 0) newest = Files.getLastModifiedTime(p);
        if (Files.exists(lib) && Files.getLastModifiedTime(lib).compareTo(newest) > 0) return lib;

        StringBuilder unit = new StringBuilder("#include \"emu.h\"\n");
        StringBuilder list = new StringBuilder("#define EMU_KERNEL_LIST");
        for (Path p : sources) {
            if (!p.toString().endsWith(".cu")) continue;
            unit.append("#include \"").append(p.getFileName()).append("\"\n");
            Matcher m = KERNEL.matcher(Files.readString(p));
            while (m.find()) list.append(" X(").append(m.group(1)).append(')');
        }
        unit.append(list).append("\n#include \"emu_runtime.cpp\"\n");
        Path cpp = OUT.resolve("emu_all.cpp");
        Files.writeString(cpp, unit);
        Path tmp = OUT.resolve("libdensify_emu.so.tmp");
        List<String> command = List.of("g++", "-std=c++17", "-O2", "-fPIC", "-shared", "-I" + CUDA, "-I" + EMU, cpp.toString(), "-o", tmp.toString());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("g++ took over 300 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while compiling", e);
        }
        if (p.exitValue() != 0) throw new IOException(String.join(" ", command) + " failed:\n" + output);
        Files.move(tmp, lib, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return lib;
    }

    private static Library load(Path lib) {
        SymbolLookup lookup = SymbolLookup.libraryLookup(lib, Arena.global());
        Linker linker = Linker.nativeLinker();
        return new Library(
                linker.downcallHandle(lookup.findOrThrow("emu_launch"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                        JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT)),
                linker.downcallHandle(lookup.findOrThrow("emu_alloc"), FunctionDescriptor.of(ADDRESS, JAVA_LONG)),
                linker.downcallHandle(lookup.findOrThrow("emu_free"), FunctionDescriptor.of(JAVA_INT, ADDRESS)),
                linker.downcallHandle(lookup.findOrThrow("emu_memory_info"), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS)),
                linker.downcallHandle(lookup.findOrThrow("emu_sgemm"), FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                        JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT)));
    }

    @Override
    public String description() {
        return "CPU emulator of the CUDA kernels";
    }

    @Override
    public long allocate(long bytes) {
        try {
            long address = ((MemorySegment) library.alloc().invokeExact(bytes)).address();
            if (address == 0) throw new OutOfMemoryError("emulator: cannot map " + bytes + " bytes");
            live.add(address);
            return address;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void free(long address) {
        if (!live.remove(address)) throw new IllegalArgumentException("address 0x" + Long.toHexString(address) + " was not allocated here");
        try {
            int r = (int) library.free().invokeExact(MemorySegment.ofAddress(address));
            if (r != 0) throw new IllegalStateException("emu_free failed");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static MemorySegment at(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    @Override
    public void copyToDevice(long dst, MemorySegment src) {
        at(dst, src.byteSize()).copyFrom(src);
    }

    @Override
    public void copyToHost(MemorySegment dst, long src) {
        dst.copyFrom(at(src, dst.byteSize()));
    }

    @Override
    public void copyOnDevice(long dst, long src, long bytes) {
        at(dst, bytes).copyFrom(at(src, bytes));
    }

    @Override
    public void zero(long dst, long bytes) {
        at(dst, bytes).fill((byte) 0);
    }

    @Override
    public void launch(String kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes, Object... args) {
        if (!known.contains(kernel)) throw new IllegalArgumentException(kernel + " is not in Kernels.ALL");
        try (Arena call = Arena.ofConfined()) {
            MemorySegment pointers = call.allocate(ADDRESS, Math.max(1, args.length));
            StringBuilder sig = new StringBuilder();
            for (int i = 0; i < args.length; i++) {
                MemorySegment value = call.allocate(8, 8);
                value.fill((byte) 0xAB); // an int read as a long long gets garbage, as on the GPU
                switch (args[i]) {
                    case Address a -> {
                        value.set(JAVA_LONG, 0, a.value());
                        sig.append('p');
                    }
                    case Integer v -> {
                        value.set(JAVA_INT, 0, v);
                        sig.append('i');
                    }
                    case Long v -> {
                        value.set(JAVA_LONG, 0, v);
                        sig.append('l');
                    }
                    case Float v -> {
                        value.set(JAVA_FLOAT, 0, v);
                        sig.append('f');
                    }
                    default -> throw new IllegalArgumentException("argument " + i + " of " + kernel + " is a " + args[i].getClass());
                }
                pointers.setAtIndex(ADDRESS, i, value);
            }
            int r = (int) library.launch().invokeExact(call.allocateFrom(kernel), call.allocateFrom(sig.toString()), gridX, gridY, gridZ,
                    blockX, blockY, blockZ, sharedBytes, pointers, error, (int) error.byteSize());
            if (r != 0) throw new IllegalStateException("emulated launch failed: " + error.getString(0));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b, int ldb, float beta,
                      long c, int ldc) {
        try {
            int r = (int) library.sgemm().invokeExact(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, MemorySegment.ofAddress(a), lda,
                    MemorySegment.ofAddress(b), ldb, beta, MemorySegment.ofAddress(c), ldc);
            if (r != 0) {
                throw new IllegalArgumentException("sgemm refused (cuBLAS status " + r + "): trans " + transA + "/" + transB + " m=" + m + " n=" + n
                        + " k=" + k + " lda=" + lda + " ldb=" + ldb + " ldc=" + ldc);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void synchronize() {
    }

    @Override
    public long[] memoryInfo() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment free = call.allocate(JAVA_LONG), total = call.allocate(JAVA_LONG);
            library.memoryInfo().invokeExact(free, total);
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Bytes allocated through this device and not freed. */
    int liveAllocations() {
        return live.size();
    }

    @Override
    public void close() {
        for (long address : List.copyOf(live)) free(address);
        arena.close();
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        if (t instanceof IOException e) return new UncheckedIOException(e);
        return new IllegalStateException(t);
    }
}
