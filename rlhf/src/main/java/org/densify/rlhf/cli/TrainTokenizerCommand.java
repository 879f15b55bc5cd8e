package org.densify.rlhf.cli;

import picocli.CommandLine.Mixin;
import org.densify.rlhf.run.OutputPaths;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.loaders.tokenizer.BpeTrainer;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Learns a byte-level BPE from review text on the training side of the hash split, writes it as a
 * Hugging Face tokenizer folder, and measures it on the held-out side.
 */
@Command(name = "train-tokenizer", mixinStandardHelpOptions = true,
        description = {
                "Learns a GPT-2-style byte-level BPE tokenizer from IMDb review text and writes vocab.json + merges.txt.",
                "Trains on the training side of the data's hash split and reports compression on the held-out side."})
final class TrainTokenizerCommand implements Callable<Integer> {

    @Option(names = "--data", defaultValue = ImdbDataset.BUNDLED_SAMPLE, paramLabel = "FILE|DIR|sample",
            description = "IMDb reviews: a JSON / JSONL file (gzipped or not), an aclImdb folder, or 'sample' for the bundled sample (default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--vocab-size", defaultValue = "4096", paramLabel = "N",
            description = "Vocabulary size including the 256 byte tokens and <|endoftext|> (default: ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = "--test-fraction", defaultValue = "0.1", paramLabel = "F",
            description = "Fraction of reviews held out by the hash split (default: ${DEFAULT-VALUE}).")
    double testFraction;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to write vocab.json and merges.txt into.")
    Path out;

    @Mixin
    ForceOption force;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        ForceOption.check(() -> OutputPaths.checkFolderEntries("--out", out, force.existing(), "vocab.json", "merges.txt"));
        if (vocabSize < 257) throw new Main.UsageException("--vocab-size must be at least 257 (256 bytes + <|endoftext|>), got " + vocabSize);
        if (!(testFraction >= 0 && testFraction < 1)) throw new Main.UsageException("--test-fraction must be in [0, 1), got " + testFraction);
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();

        List<Review> reviews = ImdbDataset.loadOrSample(data);
        ImdbDataset.Split split = ImdbDataset.split(reviews, testFraction);
        if (split.train().isEmpty()) throw new IllegalArgumentException(data + ": no training reviews to learn from");
        long trainBytes = utf8Bytes(split.train());
        err.printf("densify: learning a %,d-token BPE from %,d reviews (%.1f MB) ...%n",
                vocabSize, split.train().size(), trainBytes / 1e6);
        err.flush();

        long start = System.nanoTime();
        BpeTrainer.Trained trained = new BpeTrainer(vocabSize).train(split.train().stream().map(Review::text));
        double trainSeconds = (System.nanoTime() - start) / 1e9;
        trained.write(out);

        // Measure what was written, not the in-memory tables: this also proves the files load.
        Tokenizer tokenizer = Tokenizers.open(out);
        o.printf("wrote %s (vocab.json, merges.txt): %,d tokens, %,d merges, learned in %.1f s%n",
                out, trained.vocabSize(), trained.merges().size(), trainSeconds);
        report(o, "train", split.train(), tokenizer);
        if (!split.test().isEmpty()) {
            report(o, "held-out", split.test(), tokenizer);
            String example = split.test().getFirst().text();
            int cut = example.length() <= 80 ? example.length() : Math.max(1, example.lastIndexOf(' ', 80));
            example = example.substring(0, cut);
            int[] ids = tokenizer.encode(example);
            StringBuilder pieces = new StringBuilder();
            for (int id : ids) pieces.append('[').append(tokenizer.decode(new int[]{id})).append(']');
            o.printf("example: %s%n", pieces);
        }
        return 0;
    }

    private static void report(PrintWriter o, String name, List<Review> reviews, Tokenizer tokenizer) {
        long tokens = 0;
        for (Review r : reviews) tokens += tokenizer.encode(r.text()).length;
        long bytes = utf8Bytes(reviews);
        o.printf("%-8s %,6d reviews  %,10d bytes  %,9d tokens  %.2f bytes/token  %.0f tokens/review%n",
                name, reviews.size(), bytes, tokens, (double) bytes / tokens, (double) tokens / reviews.size());
    }

    private static long utf8Bytes(List<Review> reviews) {
        long n = 0;
        for (Review r : reviews) n += r.text().getBytes(StandardCharsets.UTF_8).length;
        return n;
    }
}
