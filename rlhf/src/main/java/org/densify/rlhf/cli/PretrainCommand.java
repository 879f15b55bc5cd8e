package org.densify.rlhf.cli;

import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.core.model.FreshModel;
import org.densify.core.model.ModelShape;
import org.densify.core.model.Models;
import org.densify.loaders.model.ModelFamily;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import org.densify.rlhf.pretrain.PretrainSettings;
import org.densify.rlhf.pretrain.Pretrainer;
import org.densify.rlhf.run.ProgressBar;
import org.densify.rlhf.pretrain.TokenData;
import org.densify.rlhf.run.OutputPaths;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code densify pretrain}: a language model of any family (GPT-2 by default) trained from scratch on review text. */
@Command(name = "pretrain", mixinStandardHelpOptions = true, defaultValueProvider = PretrainCommand.Defaults.class,
        description = {
                "Trains a language model (GPT-2, or --family llama / qwen2 / qwen3) from scratch on IMDb review text (the reviews of the training side of the hash split, "
                        + "each followed by <|endoftext|>, packed into one token stream), evaluating on the held-out side.",
                "Writes DIR/log.jsonl (one record per step), DIR/checkpoints/step-N/ (model, tokenizer, optimizer.safetensors, state.json; "
                        + "DIR/checkpoints/latest names the newest) and at the end DIR/model/, ready for 'densify generate --model DIR/model'.",
                "--resume continues exactly from the latest checkpoint (the same result, bit for bit, as a run that was never stopped)."})
final class PretrainCommand implements Callable<Integer> {
    /** The options' defaults: {@link PretrainSettings#defaults()}. */
    static final class Defaults extends SettingsDefaults {
        @Override
        Map<String, ?> values() {
            return PretrainSettings.defaults().asOptions();
        }
    }


    @Option(names = "--data", defaultValue = ImdbDataset.BUNDLED_SAMPLE, paramLabel = "FILE|DIR|sample",
            description = "IMDb reviews: a JSON / JSONL file (gzipped or not), an aclImdb folder, or 'sample' for the bundled sample (default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--tokenizer", required = true, paramLabel = "DIR", description = "Tokenizer folder (vocab.json + merges.txt), e.g. from 'densify train-tokenizer'.")
    Path tokenizer;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run folder: log, checkpoints and the final model.")
    Path out;

    @Option(names = "--family", defaultValue = "gpt2", paramLabel = "NAME",
            description = "Model family: gpt2, llama, qwen2 or qwen3 (default: ${DEFAULT-VALUE}). A Llama-family model takes its bos/eos/pad from the tokenizer.")
    String family;

    @Option(names = "--kv-heads", paramLabel = "N",
            description = "Key/value heads (grouped-query attention; must divide --heads); Llama family only (default: --heads).")
    Integer kvHeads;

    @Option(names = "--intermediate-size", paramLabel = "N",
            description = "Width of the MLP's hidden layer; Llama family only (default: " + FreshModel.MLP_RATIO + " x --d-model).")
    Integer intermediateSize;

    @Option(names = "--rope-theta", paramLabel = "F", description = "Base of the rotary frequencies; Llama family only (default: 10000).")
    Double ropeTheta;

    @Option(names = "--untied-embeddings", description = "A separate LM head instead of the token embedding; Llama family only.")
    boolean untiedEmbeddings;

    @Option(names = "--layers", paramLabel = "N", description = "Transformer blocks (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--d-model", paramLabel = "N", description = "Embedding width (default: ${DEFAULT-VALUE}).")
    int dModel;

    @Option(names = "--heads", paramLabel = "N", description = "Attention heads; must divide --d-model (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--context", paramLabel = "N", description = "Window length in tokens, the model's n_positions (default: ${DEFAULT-VALUE}).")
    int context;

    @Option(names = "--steps", paramLabel = "N", description = "Optimiser steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch-tokens", paramLabel = "N",
            description = "Tokens per step: batch-tokens / context windows (default: ${DEFAULT-VALUE}).")
    int batchTokens;

    @Option(names = "--warmup", paramLabel = "N", description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--min-lr-ratio", paramLabel = "F",
            description = "The cosine ends at lr * F at the last step (default: ${DEFAULT-VALUE}).")
    double minLrRatio;

    @Option(names = "--eval-every", paramLabel = "N",
            description = "Held-out evaluation every N steps and at the end; 0 = only at the end (default: ${DEFAULT-VALUE}).")
    int evalEvery;

    @Option(names = "--eval-tokens", paramLabel = "N",
            description = "Held-out tokens per evaluation, in fixed windows (default: ${DEFAULT-VALUE}).")
    int evalTokens;

    @Option(names = "--checkpoint-every", paramLabel = "N",
            description = "Checkpoint every N steps and at the end; 0 = only at the end (default: ${DEFAULT-VALUE}).")
    int checkpointEvery;

    @Option(names = "--test-fraction", defaultValue = "0.1", paramLabel = "F",
            description = "Fraction of reviews held out by the hash split (default: ${DEFAULT-VALUE}).")
    double testFraction;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the initialisation and of the batches (default: ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    ResumableRunOptions run;

    @Mixin
    OptimizerOptions optimizer;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Main.requireSeed(seed);
        PretrainSettings settings = new PretrainSettings(layers, dModel, heads, context, steps, batchTokens, optimizer.lr, warmup, minLrRatio,
                optimizer.weightDecay, optimizer.gradClip,
                evalEvery, evalTokens, checkpointEvery, seed);
        List<String> problems = settings.problems();
        if (!problems.isEmpty()) throw new Main.UsageException(problems.getFirst());
        if (!(testFraction > 0 && testFraction < 1)) throw new Main.UsageException("--test-fraction must be in (0, 1), got " + testFraction);
        ModelFamily modelFamily = parseFamily(family);
        if (modelFamily == ModelFamily.GPT2 && (kvHeads != null || intermediateSize != null || ropeTheta != null || untiedEmbeddings)) {
            throw new Main.UsageException("--kv-heads, --intermediate-size, --rope-theta and --untied-embeddings are for the Llama family "
                    + "(--family llama, qwen2 or qwen3); GPT-2 has none of them");
        }
        if (kvHeads != null && (kvHeads < 1 || heads % kvHeads != 0)) throw new Main.UsageException("--kv-heads must divide --heads " + heads + ", got " + kvHeads);
        if (intermediateSize != null && intermediateSize < 1) throw new Main.UsageException("--intermediate-size must be >= 1, got " + intermediateSize);
        if (ropeTheta != null && !(ropeTheta > 0 && Double.isFinite(ropeTheta))) throw new Main.UsageException("--rope-theta must be > 0, got " + ropeTheta);
        OutputPaths.Existing existing = run.existing();
        ForceOption.check(() -> Pretrainer.checkOutputs(out, run.resume, existing));
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();

        try (Backend backend = device.create()) {
            // The reviews are separated by the end-of-text token: GPT-2's files must hold <|endoftext|>,
            // and a tokenizer.json folder without an eos_token fails in eotId(), naming the folder.
            Tokenizer tok = Tokenizers.open(tokenizer);
            FreshModel fresh = freshModel(tok, modelFamily);
            ModelShape config = Models.shapeOf(fresh);
            // Parameters, gradients and the two AdamW moments; one training pass over --batch-tokens.
            MemoryBudget.of("pretrain --d-model " + dModel + " --layers " + layers)
                    .add("parameters, gradients and AdamW moments", 4 * MemoryBudget.parameters(config, Heads.NONE))
                    .add("activations", MemoryBudget.activations(config, batchTokens, context, batchTokens, MemoryBudget.Pass.TRAINING))
                    .check(backend);
            List<Review> reviews = ImdbDataset.loadOrSample(data);
            ImdbDataset.Split split = ImdbDataset.split(reviews, testFraction);
            long t0 = System.nanoTime();
            TokenData tokens = TokenData.encode(split.train(), split.test(), tok);
            err.printf(Locale.ROOT, "densify: tokenized %,d + %,d reviews in %.1f s%n", split.train().size(), split.test().size(),
                    (System.nanoTime() - t0) / 1e9);
            err.flush();
            String source = data.equals(ImdbDataset.BUNDLED_SAMPLE) ? "bundled sample" : data;
            new Pretrainer(new Pretrainer.Setup(settings, fresh, tokens, source, tokenizer, out, run.resume, backend,
                    new Main.Version().getVersion()[0], o, err, ProgressBar.stderrIsTerminal(), existing)).run();
        }
        return 0;
    }

    static ModelFamily parseFamily(String name) {
        for (ModelFamily f : ModelFamily.values()) if (f.modelType().equals(name)) return f;
        throw new Main.UsageException("--family '" + name + "': expected one of gpt2, llama, qwen2, qwen3");
    }

    /** The model to train: the options' sizes, the family's defaults, and for the Llama family the tokenizer's special tokens in its config. */
    private FreshModel freshModel(Tokenizer tok, ModelFamily f) {
        FreshModel m = FreshModel.of(f, tok.vocabSize(), context, dModel, layers, heads, kvHeads, intermediateSize, ropeTheta,
                untiedEmbeddings ? Boolean.FALSE : null);
        if (f == ModelFamily.GPT2) return m;
        return m.withSpecialTokens(tok.bosId().isPresent() ? tok.bosId().getAsInt() : null, tok.eotId(),
                tok.padId().isPresent() ? tok.padId().getAsInt() : null);
    }
}
