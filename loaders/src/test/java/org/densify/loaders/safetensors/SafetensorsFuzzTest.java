package org.densify.loaders.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mutates a valid file thousands of ways (fixed seed) and requires that opening and reading either
 * succeed or throw {@link SafetensorsException} — never another exception, never a JVM crash. A
 * failure prints the seed, case number, mutations and the file in base64 to reproduce it.
 */
class SafetensorsFuzzTest {
    private static final long SEED = 0x5AFE7E45L;
    private static final int CASES = 6000;
    private static final byte[] INTERESTING = "{}[]\":, 0123456789-.eE".getBytes(StandardCharsets.US_ASCII);
    private static final Pattern NUMBER = Pattern.compile("-?\\d+");
    private static final Pattern DTYPE = Pattern.compile("\"(F32|F16|BF16|I64|U8|BOOL|F64)\"");

    @TempDir
    Path dir;

    private static byte[] seedFile(Path dir) throws IOException {
        Path p = dir.resolve("seed.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt").metadata("step", "12")
                .add("transformer.wte.weight", new long[]{4, 3}, new float[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
                .add("ids", new long[]{3}, new long[]{1, -2, 3})
                .add("half", DType.F16, new long[]{2, 2}, new byte[8])
                .add("bf", DType.BF16, new long[]{3}, new byte[]{1, 2, 3, 4, 5, 6})
                .add("mask", DType.BOOL, new long[]{5}, new byte[]{1, 0, 1, 1, 0})
                .add("scalar", new long[0], new float[]{0.5f})
                .add("empty", new long[]{2, 0}, new float[0])
                .add("d", DType.F64, new long[]{1}, new byte[8])
                .write(p);
        return Files.readAllBytes(p);
    }

    @Test
    @Timeout(120) // a mutation that makes the reader loop forever fails here instead of hanging the build
    void mutatedFilesOnlyEverThrowSafetensorsException() throws IOException {
        byte[] seed = seedFile(dir);
        Random random = new Random(SEED);
        Path p = dir.resolve("case.safetensors");
        int accepted = 0;
        long start = System.nanoTime();
        for (int c = 0; c < CASES; c++) {
            List<String> applied = new ArrayList<>();
            byte[] bytes = seed;
            int n = 1 + random.nextInt(3);
            for (int k = 0; k < n; k++) bytes = mutate(bytes, random, applied);
            Files.write(p, bytes);
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                readEverything(f);
                accepted++;
            } catch (SafetensorsException expected) {
                assertNotNull(expected.getMessage());
            } catch (Throwable t) {
                fail("seed " + SEED + " case " + c + " mutations " + applied + " threw " + t
                        + "\nfile (base64): " + Base64.getEncoder().encodeToString(bytes), t);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("fuzz: %d cases, %d still valid, %d rejected, %.2f s%n", CASES, accepted, CASES - accepted, seconds);
        assertTrue(accepted > 0 && accepted < CASES, "the mutations should produce both valid and invalid files");
    }

    private static void readEverything(SafetensorsFile f) throws SafetensorsException {
        long covered = 0;
        for (TensorInfo t : f.tensors().values()) {
            covered += t.byteSize();
            if (t.dtype().isFloatingPoint()) assertEquals(t.numElements(), f.readFloats(t.name()).length);
            else if (t.dtype().isInteger()) assertEquals(t.numElements(), f.readLongs(t.name()).length);
            else f.segment(t.name()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
        assertEquals(f.path().toFile().length() - f.dataStart(), covered, "tensors tile the data region");
    }

    private static byte[] mutate(byte[] in, Random r, List<String> applied) {
        byte[] b = in.clone();
        int kind = r.nextInt(9);
        switch (kind) {
            case 0 -> { // bit flips
                int flips = 1 + r.nextInt(4);
                for (int i = 0; i < flips && b.length > 0; i++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                applied.add("flip" + flips);
            }
            case 1 -> { // overwrite bytes with random or JSON-significant ones
                if (b.length == 0) return b;
                int at = r.nextInt(b.length);
                b[at] = r.nextBoolean() ? (byte) r.nextInt(256) : INTERESTING[r.nextInt(INTERESTING.length)];
                applied.add("overwrite@" + at);
            }
            case 2 -> { // truncate
                int len = r.nextInt(b.length + 1);
                applied.add("truncate" + len);
                return Arrays.copyOf(b, len);
            }
            case 3 -> { // change the header length
                if (b.length < 8) return b;
                long[] choices = {0, 1, 7, b.length - 8, b.length, headerLength(b) + r.nextInt(17) - 8,
                        100_000_000, 100_000_001, Long.MAX_VALUE, -1, 1L << 32};
                long v = choices[r.nextInt(choices.length)];
                System.arraycopy(RawFiles.le64(v), 0, b, 0, 8);
                applied.add("length=" + v);
            }
            case 4 -> { // insert random bytes
                int at = r.nextInt(b.length + 1), len = 1 + r.nextInt(8);
                byte[] ins = new byte[len];
                r.nextBytes(ins);
                applied.add("insert" + len + "@" + at);
                return RawFiles.concat(Arrays.copyOf(b, at), ins, Arrays.copyOfRange(b, at, b.length));
            }
            case 5 -> { // delete a range
                if (b.length == 0) return b;
                int at = r.nextInt(b.length), len = 1 + r.nextInt(Math.min(8, b.length - at));
                applied.add("delete" + len + "@" + at);
                return RawFiles.concat(Arrays.copyOf(b, at), Arrays.copyOfRange(b, at + len, b.length));
            }
            default -> { // JSON-token edits that keep the header length consistent, to reach deeper checks
                String header = headerText(b);
                if (header == null) return b;
                String edited = switch (kind) {
                    case 6 -> replaceRandom(header, NUMBER, r, () -> String.valueOf(new long[]{-1, 0, 1, 3, 48, 4096,
                            Long.MAX_VALUE, 1L << 40}[r.nextInt(8)] + (r.nextBoolean() ? 0 : r.nextInt(5) - 2)));
                    case 7 -> replaceRandom(header, DTYPE, r, () -> "\"" + DType.values()[r.nextInt(DType.values().length)] + "\"");
                    default -> {
                        String[] edits = {"\"shape\":[", "\"shape\":[1,", "\"data_offsets\":[", "\"dtype\":\"F32\",\"dtype\":",
                                "\"__metadata__\":", "\"x\":{},", "{\"a\":1,", "null,"};
                        int at = header.indexOf(edits[r.nextInt(3)]);
                        yield at < 0 ? header : header.substring(0, at) + edits[r.nextInt(edits.length)] + header.substring(at);
                    }
                };
                applied.add("json" + kind);
                byte[] h = edited.getBytes(StandardCharsets.UTF_8);
                return RawFiles.concat(RawFiles.le64(h.length), h, Arrays.copyOfRange(b, 8 + (int) headerLength(b), b.length));
            }
        }
        return b;
    }

    private static long headerLength(byte[] b) {
        return java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
    }

    /** The header as text when the length prefix is still sane, else null. */
    private static String headerText(byte[] b) {
        if (b.length < 8) return null;
        long n = headerLength(b);
        if (n < 0 || n > b.length - 8) return null;
        return new String(b, 8, (int) n, StandardCharsets.UTF_8);
    }

    private static String replaceRandom(String s, Pattern p, Random r, java.util.function.Supplier<String> with) {
        List<int[]> spans = new ArrayList<>();
        Matcher m = p.matcher(s);
        while (m.find()) spans.add(new int[]{m.start(), m.end()});
        if (spans.isEmpty()) return s;
        int[] span = spans.get(r.nextInt(spans.size()));
        return s.substring(0, span[0]) + with.get() + s.substring(span[1]);
    }
}
