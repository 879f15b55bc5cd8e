package org.densify.loaders.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class StrictUtf8ReaderTest {
    /** Reads everything in chunks of random sizes (1 included) from a stream that also returns short reads. */
    private static String readAll(byte[] bytes, SplittableRandom rnd) throws IOException {
        InputStream trickle = new FilterInputStream(new ByteArrayInputStream(bytes)) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return super.read(b, off, Math.min(len, 1 + rnd.nextInt(3000)));
            }
        };
        StringBuilder sb = new StringBuilder();
        try (Reader r = new StrictUtf8Reader(trickle, "f")) {
            char[] buf = new char[9000];
            for (int n; (n = r.read(buf, 0, 1 + rnd.nextInt(buf.length))) >= 0; ) sb.append(buf, 0, n);
            assertEquals(-1, r.read());
        }
        return sb.toString();
    }

    @Test
    void decodesWellFormedTextAcrossBufferBoundaries() throws IOException {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int i = 0; i < 40; i++) {
            String s = Fixtures.randomText(rnd, 20_000, false);
            assertEquals(s, readAll(s.getBytes(StandardCharsets.UTF_8), rnd));
        }
        assertEquals("", readAll(new byte[0], rnd));
    }

    @Test
    void dropsOneLeadingByteOrderMark() throws IOException {
        SplittableRandom rnd = new SplittableRandom(1);
        assertEquals("", readAll("\uFEFF".getBytes(StandardCharsets.UTF_8), rnd));
        assertEquals("a\uFEFF", readAll("\uFEFFa\uFEFF".getBytes(StandardCharsets.UTF_8), rnd));
        assertEquals("\uFEFFb", readAll("\uFEFF\uFEFFb".getBytes(StandardCharsets.UTF_8), rnd));
    }

    @Test
    void reportsTheFirstMalformedSequenceWithOffsetAndLine() {
        // Far past the first buffer, so the offset and line count carry across refills.
        String head = "line\n".repeat(5000) + "é€😀";
        byte[] good = head.getBytes(StandardCharsets.UTF_8);
        for (byte[] bad : new byte[][]{{(byte) 0x80}, {(byte) 0xC3, 'x'}, {(byte) 0xE2, (byte) 0x82}, {(byte) 0xF5},
                {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {(byte) 0xED, (byte) 0xB0, (byte) 0x80}}) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(good);
            out.writeBytes(bad);
            out.writeBytes("tail\n".getBytes(StandardCharsets.UTF_8));
            IOException e = assertThrows(IOException.class, () -> readAll(out.toByteArray(), new SplittableRandom(2)));
            assertTrue(e.getMessage().startsWith("f: invalid UTF-8 at byte " + good.length + " (line 5001): "
                    + String.format("%02X", bad[0] & 0xFF)), e.getMessage());
        }
    }
}
