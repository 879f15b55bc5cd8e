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
                Encoding own = gpt2.encodeWithOffsets(c.text(), special);
                Encoding fromBytes = TokenOffsets.of(gpt2, own.ids(), c.text());
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
        Encoding e = TokenOffsets.of(gpt2, new int[] {eot, ids[0]}, "hi");
        assertArrayEquals(new int[] {0, 0}, e.starts());
        assertArrayEquals(new int[] {0, 2}, e.ends());
        IllegalStateException wrong = assertThrows(IllegalStateException.class, () -> TokenOffsets.of(gpt2, ids, "ho"));
        assertEquals(true, wrong.getMessage().contains("do not spell the text"));
    }

    /**
     * A tokenizer.json tokenizer whose post-processor adds a bos (Llama 3's, as the llama3_bos variant):
     * the bos gets an empty span at 0, every other token's span spells exactly its decoded text (ASCII
     * and whole multi-byte characters here), and the spans tile the text.
     */
    @Test
    void aTokenizerJsonWithAnAddedBos() throws Exception {
        spansSpellTheText(HuggingFaceTokenizerTest.variant("llama3_bos"), true);
    }

    /** Qwen2.5's tokenizer.json (committed, so this runs everywhere): no bos, every span spells its token. */
    @Test
    void qwenTokenizerJson() throws Exception {
        spansSpellTheText(HuggingFaceTokenizerTest.open("qwen2_5"), false);
    }

    private static void spansSpellTheText(HuggingFaceTokenizer tok, boolean addsBos) {
        String text = "The film was superb, caf\u00e9 and na\u00efve!<|endoftext|> again";
        Encoding e = tok.encodeWithOffsets(text, true);
        assertArrayEquals(tok.encodeWithSpecial(text), e.ids());
        int first = 0;
        if (addsBos) {
            // the variant's post-processor adds <|begin_of_text|>; its tokenizer_config names no bos_token
            assertEquals(tok.id("<|begin_of_text|>"), e.ids()[0]);
            assertEquals(0, e.starts()[0]);
            assertEquals(0, e.ends()[0]);
            first = 1;
        }
        int at = 0;
        for (int t = first; t < e.size(); t++) {
            assertEquals(at, e.starts()[t], "token " + t);
            assertEquals(tok.decode(new int[] {e.ids()[t]}), text.substring(e.starts()[t], e.ends()[t]), "token " + t);
            at = e.ends()[t];
        }
        assertEquals(text.length(), at);
    }
}
