package org.densify.loaders.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class BpeTrainerTest {
    @TempDir
    Path tmp;

    private static List<String> corpus() {
        return Fixtures.cases().stream().map(Fixtures.Case::text).toList();
    }

    @Test
    void learnsTheExactSizeWithBytesFirstAndEndOfTextLast() {
        BpeTrainer.Trained t = new BpeTrainer(1000).train(corpus());
        assertEquals(1000, t.vocabSize());
        Gpt2Tokenizer tok = t.tokenizer();
        assertEquals(1000, tok.vocabSize());
        assertEquals(999, tok.eotId());
        Gpt2Tokenizer gpt2 = Fixtures.gpt2();
        for (int id = 0; id < 256; id++) assertEquals(gpt2.token(id), tok.token(id)); // GPT-2's byte order
        assertTrue(tok.id("Ġthe") >= 256, "a frequent word is a token");
        assertTrue(tok.encode(corpus().get(200)).length < corpus().get(200).length() / 2);
    }

    @Test
    void writtenFilesReloadAndRoundTrip() throws IOException {
        BpeTrainer.Trained t = new BpeTrainer(700).train(corpus().stream());
        t.write(tmp.resolve("tok"));
        List<String> merges = Files.readAllLines(tmp.resolve("tok/merges.txt"));
        assertEquals("#version: 0.2", merges.getFirst());
        assertEquals(t.merges().size() + 1, merges.size());
        try (Stream<Path> files = Files.list(tmp.resolve("tok"))) {
            assertEquals(List.of("merges.txt", "vocab.json"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        Gpt2Tokenizer loaded = Gpt2Tokenizer.load(tmp.resolve("tok")), direct = t.tokenizer();
        assertEquals(700, loaded.vocabSize());
        for (String text : corpus()) {
            int[] ids = loaded.encode(text);
            assertArrayEquals(direct.encode(text), ids);
            String expected = Fixtures.wellFormed(text) ? text : Gpt2TokenizerTest.replaceLoneSurrogates(text);
            assertEquals(expected, loaded.decode(ids));
        }
        SplittableRandom rnd = new SplittableRandom(5);
        for (int i = 0; i < 2000; i++) {
            String s = Fixtures.randomText(rnd, 40, false);
            assertEquals(s, loaded.decode(loaded.encode(s)));
        }
        t.write(tmp.resolve("tok")); // replacing existing files leaves no temporaries
        try (Stream<Path> files = Files.list(tmp.resolve("tok"))) {
            assertEquals(2, files.count());
        }
    }

    /**
     * The two files are replaced one after the other: merges.txt first, so a write torn between them
     * keeps the old vocabulary whole, and a grown tokenizer's new merges beside it do not load.
     */
    @Test
    void writesTheMergesBeforeTheVocabulary() throws IOException {
        Path dir = tmp.resolve("tok");
        BpeTrainer.Trained small = new BpeTrainer(600).train(corpus()), big = new BpeTrainer(900).train(corpus());
        small.write(dir);
        byte[] oldVocab = Files.readAllBytes(dir.resolve("vocab.json"));
        // Make the vocabulary impossible to replace: the write fails between the two files.
        Path blocked = tmp.resolve("blocked");
        Files.createDirectories(blocked.resolve("vocab.json/keep"));
        Files.copy(dir.resolve("merges.txt"), blocked.resolve("merges.txt"));
        assertThrows(IOException.class, () -> big.write(blocked));
        assertEquals(big.merges().size() + 1, Files.readAllLines(blocked.resolve("merges.txt")).size(),
                "merges.txt is written first");

        // The torn state: old vocabulary, new merges. The grown merges name tokens it lacks.
        Files.copy(blocked.resolve("merges.txt"), dir.resolve("merges.txt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertArrayEquals(oldVocab, Files.readAllBytes(dir.resolve("vocab.json")));
        IOException torn = assertThrows(IOException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(torn.getMessage().contains("is not in the vocabulary"), torn.getMessage());
        big.write(dir); // a completed write repairs it
        assertEquals(900, Gpt2Tokenizer.load(dir).vocabSize());
    }

    @Test
    void isDeterministic() throws IOException {
        new BpeTrainer(600).train(corpus()).write(tmp.resolve("a"));
        new BpeTrainer(600).train(corpus()).write(tmp.resolve("b"));
        for (String f : List.of("vocab.json", "merges.txt")) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("a").resolve(f)), Files.readAllBytes(tmp.resolve("b").resolve(f)), f);
        }
    }

    @Test
    void breaksTiesBySmallerIds() {
        // "ab" and "cd" appear equally often: (a, b) has the smaller ids in GPT-2's byte order.
        BpeTrainer.Trained t = new BpeTrainer(258).train(List.of("ab cd", "cd ab"));
        assertEquals(List.of("a b"), t.merges());
        assertEquals(List.of("ab", "<|endoftext|>"), t.tokens().subList(256, 258));
    }

    @Test
    void stopsWhenNoPairIsLeftAndSkipsTheSpecialToken() {
        BpeTrainer.Trained t = new BpeTrainer(5000).train(List.of("abab<|endoftext|>ab", "<|endoftext|>"));
        assertEquals(List.of("a b", "ab ab"), t.merges());
        assertEquals(259, t.vocabSize());
        Gpt2Tokenizer tok = t.tokenizer();
        assertArrayEquals(new int[]{257, tok.eotId(), 256}, tok.encodeWithSpecial("abab<|endoftext|>ab"));
        assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(256));
    }

    @Test
    @Timeout(60) // guards the incremental pair counts: recounting the corpus per merge would blow far past this
    void trainsAFewThousandTokensQuickly() {
        List<String> big = Stream.of(1, 2, 3, 4).flatMap(k -> corpus().stream().map(s -> k + " " + s)).toList();
        BpeTrainer.Trained t = new BpeTrainer(4000).train(big);
        assertEquals(4000, t.vocabSize());
    }
}
