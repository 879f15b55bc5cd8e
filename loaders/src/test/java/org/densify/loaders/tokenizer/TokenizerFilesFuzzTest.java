package org.densify.loaders.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Mutates the committed {@code trained-1k} vocabulary and merges thousands of ways (fixed seed) and
 * requires that {@link Gpt2Tokenizer#read} either gives a working tokenizer or throws an
 * {@link IOException} — never another exception, never an {@link OutOfMemoryError}, never a hang.
 * A failure prints the seed, the case, the mutations and both files in base64 to reproduce it.
 */
class TokenizerFilesFuzzTest {
    private static final long SEED = 0x70C3A1L;
    private static final int CASES = 3000;
    private static final byte[] INTERESTING = "{}[]\":,\\ \n\r\t0123456789-.eE#Ġ".getBytes(StandardCharsets.UTF_8);
    private static final byte[][] SNIPPETS = {
            {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, // byte order mark
            {(byte) 0xFF}, {(byte) 0xC3}, {(byte) 0xC3, (byte) 0x28}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80},
            {(byte) 0xC0, (byte) 0xAF}, {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {0},
            "\"<|endoftext|>\": 0,".getBytes(StandardCharsets.UTF_8), "#version: 0.2\n".getBytes(StandardCharsets.UTF_8),
            "\\u0000".getBytes(StandardCharsets.UTF_8), "\\ud800".getBytes(StandardCharsets.UTF_8),
            "2147483647".getBytes(StandardCharsets.UTF_8), "99999999999999999999".getBytes(StandardCharsets.UTF_8),
    };
    private static final Pattern NUMBER = Pattern.compile("\\d+");
    /** A number (an id in vocab.json) becomes one of these. */
    private static final String[] NUMBERS = {"-1", "0", "1", "255", "998", "999", "1000", "1001", "65535", "2000000000",
            "2147483646", "2147483647", "2147483648", "-2147483648", "9223372036854775807", "1e3", "1.0", "0.5",
            "123456789012345678901234567890", "01", "null", "true", "\"7\"", "[1]", "{}"};
    /** Text that every tokenizer that loads must round-trip. */
    private static final String TEXT = "The movie was great, but the ending... 10/10 — déjà vu! 🎬 <|endoftext|> ok";

    @Test
    @Timeout(60) // a mutation that makes the loader loop forever fails here instead of hanging the build
    void mutatedFilesOnlyEverThrowIOException() throws IOException {
        byte[] vocab = Files.readAllBytes(Fixtures.resource("trained-1k/vocab.json"));
        byte[] merges = Files.readAllBytes(Fixtures.resource("trained-1k/merges.txt"));
        SplittableRandom random = new SplittableRandom(SEED);
        int accepted = 0;
        long start = System.nanoTime();
        for (int c = 0; c < CASES; c++) {
            List<String> applied = new ArrayList<>();
            byte[] v = vocab, m = merges;
            int n = 1 + random.nextInt(3);
            for (int k = 0; k < n; k++) {
                int which = random.nextInt(3); // vocab, merges or both
                if (which != 1) v = mutate(v, random, applied, "vocab");
                if (which != 0) m = mutate(m, random, applied, "merges");
            }
            try {
                Gpt2Tokenizer tok = Gpt2Tokenizer.read(new ByteArrayInputStream(v), "vocab.json",
                        new ByteArrayInputStream(m), "merges.txt");
                assertEquals(TEXT, tok.decode(tok.encode(TEXT)));
                assertEquals(TEXT, tok.decode(tok.encodeWithSpecial(TEXT)));
                accepted++;
            } catch (IOException expected) {
                assertNotNull(expected.getMessage());
            } catch (Throwable t) {
                fail("seed " + SEED + " case " + c + " mutations " + applied + " threw " + t
                        + "\nvocab.json (base64): " + Base64.getEncoder().encodeToString(v)
                        + "\nmerges.txt (base64): " + Base64.getEncoder().encodeToString(m), t);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("tokenizer fuzz: %d cases, %d still load, %d rejected, %.2f s%n", CASES, accepted,
                CASES - accepted, seconds);
        assertTrue(accepted > 0 && accepted < CASES, "the mutations should give both loadable and broken files");
    }

    private static byte[] mutate(byte[] b, SplittableRandom r, List<String> applied, String file) {
        int at = b.length == 0 ? 0 : r.nextInt(b.length);
        switch (r.nextInt(9)) {
            case 0 -> {
                if (b.length == 0) return b;
                byte[] out = b.clone();
                int bit = r.nextInt(8);
                out[at] ^= (byte) (1 << bit);
                applied.add(file + ": flip bit " + bit + " of byte " + at);
                return out;
            }
            case 1 -> {
                if (b.length == 0) return b;
                byte[] out = b.clone();
                out[at] = INTERESTING[r.nextInt(INTERESTING.length)];
                applied.add(file + ": set byte " + at + " to " + (out[at] & 0xFF));
                return out;
            }
            case 2 -> {
                byte[] snippet = r.nextBoolean() ? new byte[]{INTERESTING[r.nextInt(INTERESTING.length)]}
                        : SNIPPETS[r.nextInt(SNIPPETS.length)];
                applied.add(file + ": insert " + Arrays.toString(snippet) + " at " + at);
                return splice(b, at, at, snippet);
            }
            case 3 -> {
                int to = Math.min(b.length, at + 1 + r.nextInt(40));
                applied.add(file + ": delete " + at + ".." + to);
                return splice(b, at, to, new byte[0]);
            }
            case 4 -> {
                int len = Math.min(b.length - at, 1 + r.nextInt(60));
                int to = r.nextInt(b.length + 1);
                applied.add(file + ": copy " + at + ".." + (at + len) + " to " + to);
                return splice(b, to, to, Arrays.copyOfRange(b, at, at + len));
            }
            case 5 -> {
                applied.add(file + ": truncate to " + at);
                return Arrays.copyOf(b, at);
            }
            case 6 -> {
                // Replace the k-th number (an id in vocab.json, a digit token in merges.txt).
                String s = new String(b, StandardCharsets.ISO_8859_1);
                Matcher mt = NUMBER.matcher(s);
                List<int[]> spans = new ArrayList<>();
                while (mt.find()) spans.add(new int[]{mt.start(), mt.end()});
                if (spans.isEmpty()) return b;
                int[] span = spans.get(r.nextInt(spans.size()));
                String num = r.nextBoolean() ? NUMBERS[r.nextInt(NUMBERS.length)] : Integer.toString(r.nextInt(1200));
                applied.add(file + ": number at " + span[0] + " becomes " + num);
                return splice(b, span[0], span[1], num.getBytes(StandardCharsets.ISO_8859_1));
            }
            case 7 -> {
                // Swap two lines (merges.txt: reorders ranks) or two entries' bytes of similar position.
                String s = new String(b, StandardCharsets.ISO_8859_1);
                List<String> lines = new ArrayList<>(Arrays.asList(s.split("\n", -1)));
                if (lines.size() < 2) return b;
                int i = r.nextInt(lines.size()), j = r.nextInt(lines.size());
                String t = lines.get(i);
                lines.set(i, lines.get(j));
                lines.set(j, t);
                applied.add(file + ": swap lines " + (i + 1) + " and " + (j + 1));
                return String.join("\n", lines).getBytes(StandardCharsets.ISO_8859_1);
            }
            default -> {
                byte[] tail = r.nextBoolean() ? new byte[]{INTERESTING[r.nextInt(INTERESTING.length)]}
                        : SNIPPETS[r.nextInt(SNIPPETS.length)];
                applied.add(file + ": append " + Arrays.toString(tail));
                return splice(b, b.length, b.length, tail);
            }
        }
    }

    private static byte[] splice(byte[] b, int from, int to, byte[] insert) {
        byte[] out = new byte[b.length - (to - from) + insert.length];
        System.arraycopy(b, 0, out, 0, from);
        System.arraycopy(insert, 0, out, from, insert.length);
        System.arraycopy(b, to, out, from + insert.length, b.length - to);
        return out;
    }
}
