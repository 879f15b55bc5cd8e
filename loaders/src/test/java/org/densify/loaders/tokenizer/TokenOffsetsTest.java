package org.densify.loaders.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * The spans that {@link Tokenizer#encodeWithOffsets} derives from token bytes (what a tokenizer.json
 * tokenizer gives) against GPT-2's own spans from its pre-tokenizer pieces, on every reference case.
 */
class TokenOffsetsTest {

    @Test
    void bytesGiveTheSpansOfGpt2sPieces() {
        Gpt2Tokenizer gpt2 = Fixtures.gpt2();
        int compared = 0;
        for (Fixtures.Case c : Fixtures.cases()) {
            for (boolean special : new boolean[] {false, true}) {
                Gpt2Tokenizer.Encoding own = gpt2.encodeWithOffsets(c.text(), special);
                Gpt2Tokenizer.Encoding fromBytes = TokenOffsets.of(gpt2, own.ids(), c.text());
                assertEquals(own, fromBytes, c.name());
                compared++;
            }
        }
        assertEquals(2 * Fixtures.cases().size(), compared);
    }

    @Test
    void loneSurrogatesAndAddedTokens() {
        Gpt2Tokenizer gpt2 = Fixtures.gpt2();
        String text = "a\uD800b<|endoftext|>\uD83E\uDDD1";
        assertEquals(gpt2.encodeWithOffsets(text, true), TokenOffsets.of(gpt2, gpt2.encodeWithSpecial(text), text));
        // a token the text does not hold (a post-processor's bos) gets an empty span where it stands
        int eot = gpt2.eotId();
        int[] ids = gpt2.encode("hi");
        Gpt2Tokenizer.Encoding e = TokenOffsets.of(gpt2, new int[] {eot, ids[0]}, "hi");
        assertArrayEquals(new int[] {0, 0}, e.starts());
        assertArrayEquals(new int[] {0, 2}, e.ends());
        IllegalStateException wrong = assertThrows(IllegalStateException.class, () -> TokenOffsets.of(gpt2, ids, "ho"));
        assertEquals(true, wrong.getMessage().contains("do not spell the text"));
    }
}
