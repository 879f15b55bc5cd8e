package org.densify.loaders.data;

/**
 * One labelled review: cleaned text and its sentiment, 0 negative and 1 positive.
 */
public record Review(String text, int label) {
    public Review {
        if (text == null) throw new IllegalArgumentException("review text is null");
        if (label != 0 && label != 1) throw new IllegalArgumentException("review label must be 0 or 1, got " + label);
    }
}
