package org.densify.rlhf.cli;

import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.core.model.gpt2.Gpt2Model;
import org.densify.loaders.model.Gpt2Config;
import org.densify.loaders.model.ModelKind;
import org.densify.loaders.tokenizer.BpeTrainer;
import org.densify.rlhf.run.Checkpoints;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Small inputs for the engine commands' tests: review text, a tokenizer learned from it, tiny models. */
public final class TinyFixtures {
    private TinyFixtures() {
    }

    public static final int VOCAB = 300;

    /** Template reviews with enough regularity for a tiny model to learn within a few dozen steps. */
    public static List<String> reviews(int n) {
        String[] films = {"film", "movie", "picture", "story"};
        String[] good = {"wonderful", "superb", "moving", "clever"};
        String[] bad = {"dreadful", "wooden", "boring", "silly"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            boolean pos = i % 2 == 0;
            String[] adj = pos ? good : bad;
            out.add("The " + films[i % 4] + " was " + adj[i % 4] + ". The acting was " + adj[(i / 4) % 4] + " and the plot was "
                    + adj[(i / 16) % 4] + ". I " + (pos ? "loved" : "hated") + " it, review " + i + ".");
        }
        return out;
    }

    /** The reviews as JSON Lines ({"t": text, "s": label}). */
    public static Path writeReviews(Path dir, int n) throws IOException {
        StringBuilder sb = new StringBuilder();
        List<String> texts = reviews(n);
        for (int i = 0; i < n; i++) sb.append("{\"t\":\"").append(texts.get(i)).append("\",\"s\":").append(1 - i % 2).append("}\n");
        Path file = dir.resolve("reviews.jsonl");
        Files.writeString(file, sb);
        return file;
    }

    /** A {@value #VOCAB}-token BPE learned from the reviews, written as vocab.json + merges.txt. */
    public static Path writeTokenizer(Path dir) throws IOException {
        Path out = dir.resolve("tokenizer");
        new BpeTrainer(VOCAB).train(reviews(64)).write(out);
        return out;
    }

    public static Gpt2Config config(int positions) {
        return Gpt2Config.builder().vocabSize(VOCAB).nPositions(positions).nEmbd(32).nLayer(2).nHead(2).numLabels(2)
                .dropout(0, 0, 0).build();
    }

    /**
     * A randomly initialised model folder of {@code kind} with the tokenizer files beside it: an LM, or
     * a classifier that also carries a value head (so that every head's output can be dumped).
     */
    public static Path writeModel(Path dir, Path tokenizer, ModelKind kind, int positions, long seed) throws IOException {
        return writeModel(dir, tokenizer, kind, config(positions), seed);
    }

    /** As {@link #writeModel(Path, Path, ModelKind, int, long)} with a config of the caller's (say, one with a pad token). */
    public static Path writeModel(Path dir, Path tokenizer, ModelKind kind, Gpt2Config config, long seed) throws IOException {
        boolean classifier = kind == ModelKind.SEQUENCE_CLASSIFIER;
        try (Backend backend = Backends.create("cpu");
             Gpt2Model m = Gpt2Model.create(backend, config, (classifier ? Heads.CLASSIFIER_AND_VALUE : Heads.NONE))) {
            m.initialize(seed);
            if (classifier) {
                // initialize leaves heads' biases at 0; give the value bias a value so it is visible in the outputs
                backend.write(m.parameter("v_head.summary.bias"), 0, new float[]{0.25f});
            }
            m.save(dir, kind);
        }
        Checkpoints.copyTokenizer(tokenizer, dir);
        return dir;
    }
}
