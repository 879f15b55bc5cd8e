package org.densify.rlhf.credit;

import java.io.IOException;
import java.nio.file.Path;
import org.densify.core.Backend;
import org.densify.core.Backends;
import org.densify.loaders.model.ModelKind;
import org.densify.rlhf.cli.TinyFixtures;

/** What the reward-pass tests score: a tiny random reward model on the CPU and three prompt + completion pairs of its tokens. */
final class TinyRewardPass implements AutoCloseable {
    final Backend backend;
    final RewardModel rm;
    final int[][] prompts, completions;

    private TinyRewardPass(Backend backend, RewardModel rm) {
        this.backend = backend;
        this.rm = rm;
        var tok = rm.tokenizer();
        prompts = new int[][] {tok.encode("The film was"), tok.encode("I"), tok.encode("The acting and the plot")};
        completions = new int[][] {tok.encode(" wonderful and clever."), tok.encode(" hated it"), tok.encode(" were dreadful. I loved it, review 7.")};
    }

    /** Writes the tokenizer and the reward model under {@code dir} and loads them. */
    static TinyRewardPass open(Path dir) throws IOException {
        Path tokenizer = TinyFixtures.writeTokenizer(dir);
        Path model = TinyFixtures.writeModel(dir.resolve("rm"), tokenizer, ModelKind.SEQUENCE_CLASSIFIER, 64, 9);
        Backend backend = Backends.create("cpu");
        return new TinyRewardPass(backend, RewardModel.load(backend, model));
    }

    @Override
    public void close() {
        rm.close();
        backend.close();
    }
}
