package org.densify.loaders.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The added tokens of a {@code tokenizer.json} that are matched in one form of the text (the raw
 * text, or the normalized text), as Hugging Face's {@code AddedVocabulary} matches them: leftmost
 * match first, the longest where several start at the same place, then the search goes on after it.
 * {@code lstrip} widens a match over the blanks before it (not into an earlier match), {@code rstrip}
 * over the blanks after it; blanks are Unicode White_Space, as Rust's {@code char::is_whitespace}.
 */
final class AddedTokens {
    /** One added token, with the flags of {@code tokenizer.json} that the engine implements. */
    record Token(int id, String content, boolean lstrip, boolean rstrip, boolean special) {
    }

    /** A stretch of the text: an added token ({@code id >= 0}) or text to tokenize ({@code id == -1}). */
    record Segment(int id, int start, int end) {
    }

    /** Tokens by their first char, longest first. */
    private final Map<Character, List<Token>> byFirstChar = new HashMap<>();

    AddedTokens(List<Token> tokens) {
        for (Token t : tokens) byFirstChar.computeIfAbsent(t.content().charAt(0), c -> new ArrayList<>()).add(t);
        for (List<Token> list : byFirstChar.values()) {
            list.sort(Comparator.comparingInt((Token t) -> t.content().length()).reversed());
        }
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    /** Cuts {@code text} into added tokens and the text between them (never an empty stretch). */
    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        int done = 0; // text before this belongs to earlier segments
        for (int at = 0; at < text.length(); ) {
            Token t = longestAt(text, at);
            if (t == null) {
                at++;
                continue;
            }
            int start = at, stop = at + t.content().length();
            if (t.lstrip()) {
                while (start > done && SplitPattern.classOf(text.charAt(start - 1)) == SplitPattern.SPACE) start--;
            }
            if (t.rstrip()) {
                while (stop < text.length() && SplitPattern.classOf(text.charAt(stop)) == SplitPattern.SPACE) stop++;
            }
            if (done < start) out.add(new Segment(-1, done, start));
            out.add(new Segment(t.id(), start, stop));
            done = stop;
            at = Math.max(at + t.content().length(), stop);
        }
        if (done < text.length()) out.add(new Segment(-1, done, text.length()));
        return out;
    }

    private Token longestAt(String text, int at) {
        List<Token> candidates = byFirstChar.get(text.charAt(at));
        if (candidates == null) return null;
        for (Token t : candidates) if (text.startsWith(t.content(), at)) return t;
        return null;
    }
}
