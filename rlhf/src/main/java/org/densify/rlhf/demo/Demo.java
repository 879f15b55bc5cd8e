package org.densify.rlhf.demo;

import org.densify.loaders.model.ModelFamily;
import org.densify.rlhf.run.OutputPaths;
import org.densify.rlhf.run.RunLock;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.densify.core.Backend;
import org.densify.loaders.data.ImdbDataset;
import org.densify.loaders.data.Review;
import org.densify.loaders.tokenizer.BpeTrainer;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.ppo.PpoRun;
import org.densify.rlhf.run.Checkpoints;
import org.densify.rlhf.pretrain.Pretrainer;
import org.densify.rlhf.pretrain.TokenData;
import org.densify.rlhf.reward.RewardData;
import org.densify.rlhf.reward.RewardModelTrainer;

/**
 * The whole pipeline on the bundled IMDb sample: a tokenizer, a GPT-2 policy pretrained on the
 * reviews, a reward model trained from it on the labels, then PPO with several credit methods on the
 * same seed, ending in a table and a chart. The tokenizer and the two models are cached in the work
 * folder (a stage whose output is complete is not redone; an interrupted pretraining resumes); the
 * PPO runs are redone every time, each into a fresh folder.
 */
public final class Demo {

    public record Result(Map<String, List<PpoRun.StepRecord>> runs, DemoReport report, Path chart, Path table, double seconds) {}

    private final DemoPlan plan;
    private final Path work;
    private final List<Credit> methods;
    private final long seed;
    private final PrintWriter out, err;
    private final boolean terminal;

    public Demo(DemoPlan plan, Path work, List<Credit> methods, long seed, PrintWriter out, PrintWriter err, boolean terminal) {
        this.plan = plan;
        this.work = work;
        this.methods = methods;
        this.seed = seed;
        this.out = out;
        this.err = err;
        this.terminal = terminal;
    }

    /** The models the PPO runs start from, and the reviews their prompts come from. */
    public record Models(Path tokenizer, Path policy, Path rewardModel, List<Review> promptReviews) {}

    /** The whole demo, holding the work folder's lock throughout. */
    public Result run(Backend backend) throws IOException {
        OutputPaths.checkFolderPath("--work", work);
        try (RunLock _ = RunLock.inside(work)) {
            return runLocked(backend);
        }
    }

    private Result runLocked(Backend backend) throws IOException {
        long began = System.nanoTime();
        Models models = prepareLocked(backend);
        Map<String, List<PpoRun.StepRecord>> runs = new LinkedHashMap<>();
        Path ppoRoot = work.resolve("ppo");
        for (int i = 0; i < methods.size(); i++) {
            Credit credit = methods.get(i);
            stage("4/4 PPO %d/%d: %s, %d steps of %d sequences, seed %d", i + 1, methods.size(), credit.name(), plan.ppoSteps(),
                    plan.ppo().batchSize(), seed);
            Path runDir = ppoRoot.resolve(credit.name());
            Checkpoints.deleteTree(runDir);
            PpoRun.Result r = new PpoRun(new PpoRun.Setup(plan.ppo(), credit, plan.ppoSteps(), seed, models.policy(), models.rewardModel(),
                    models.promptReviews(), "bundled sample", runDir, false, plan.ppoSteps(), OutputPaths.Existing.REFUSE)).run(backend, err);
            runs.put(credit.name(), r.steps());
        }

        DemoReport report = new DemoReport(runs);
        Path table = work.resolve("results.md"), chart = work.resolve("reward.png");
        String text = report.table();
        String rmLine = String.format(Locale.ROOT, "reward model: held-out accuracy %.1f %% on the bundled sample's held-out reviews; "
                + "the rewards can separate the methods no better than it separates reviews", 100 * RewardModelTrainer.heldOutAccuracy(models.rewardModel()));
        org.densify.loaders.io.AtomicFiles.write(table, (text + "\n\n" + report.timings() + "\n" + rmLine + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        report.writeCsv(work.resolve("rewards.csv"));
        report.writeChart(chart, "Densify demo: PPO on IMDb with " + plan.name() + " models, seed " + seed);
        out.println();
        out.println(text);
        out.println(report.timings());
        out.println(rmLine);
        out.printf(Locale.ROOT, "chart: %s  table: %s  logs: %s/<method>/log.jsonl  (%.0f s in all)%n", chart, table, ppoRoot,
                (System.nanoTime() - began) / 1e9);
        out.flush();
        return new Result(runs, report, chart, table, (System.nanoTime() - began) / 1e9);
    }

    /**
     * Stages 1-3: the tokenizer, the pretrained policy and the reward model in the work folder,
     * each built unless a complete one is already there.
     */
    public Models prepare(Backend backend) throws IOException {
        OutputPaths.checkFolderPath("--work", work);
        try (RunLock _ = RunLock.inside(work)) {
            return prepareLocked(backend);
        }
    }

    private Models prepareLocked(Backend backend) throws IOException {
        Files.createDirectories(work);
        List<Review> reviews = ImdbDataset.bundledSample();
        ImdbDataset.Split split = ImdbDataset.split(reviews, 0.1);

        Path tokenizer = work.resolve("tokenizer");
        if (!Files.isRegularFile(tokenizer.resolve("merges.txt"))) {
            stage("1/4 tokenizer: learning a %,d-token byte-level BPE from %,d reviews", plan.vocab(), split.train().size());
            Path partial = work.resolve(".tokenizer.partial");
            Checkpoints.deleteTree(partial);
            new BpeTrainer(plan.vocab()).train(split.train().stream().map(Review::text)).write(partial);
            Files.move(partial, tokenizer);
        } else {
            stage("1/4 tokenizer: cached in %s", tokenizer);
        }

        Path policy = work.resolve("policy");
        Path policyModel = policy.resolve("model");
        if (!Files.isRegularFile(policyModel.resolve("model.safetensors"))) {
            stage("2/4 policy: pretraining a %d-layer, d %d GPT-2 for %,d steps on the reviews", plan.pretrain().layers(),
                    plan.pretrain().dModel(), plan.pretrain().steps());
            Tokenizer tok = Tokenizers.open(tokenizer);
            TokenData data = TokenData.encode(split.train(), split.test(), tok);
            boolean resume = Files.exists(policy.resolve("checkpoints").resolve(Checkpoints.LATEST));
            Pretrainer.Result r = new Pretrainer(new Pretrainer.Setup(plan.pretrain(), plan.pretrain().freshModel(ModelFamily.GPT2, data.vocabSize()), data, "bundled sample", tokenizer, policy, resume, backend,
                    "demo", new PrintWriter(PrintWriter.nullWriter()), err, terminal,
                    OutputPaths.Existing.REPLACE)).run(); // the demo's own cache: what a stopped run left is redone
            stage("    held-out loss %.3f nats/token (unigram %.3f) in %.0f s", r.evalLoss(), r.unigramEntropy(), r.seconds());
        } else {
            stage("2/4 policy: cached in %s", policyModel);
        }

        Path rewardModel = work.resolve("reward-model");
        if (!Files.isRegularFile(rewardModel.resolve("config.json"))) {
            List<Review> rmReviews = evenlySpread(reviews, plan.rmReviews());
            stage("3/4 reward model: a GPT-2 classifier from the policy's trunk, trained on %,d labelled reviews", rmReviews.size());
            RewardModelTrainer.Result r = RewardModelTrainer.train(backend, plan.rewardModel(), policyModel,
                    new RewardData.Classification(rmReviews, "bundled sample"), rewardModel, err, terminal);
            stage("    held-out accuracy %.1f %% (loss %.3f) in %.0f s", 100 * r.accuracy(), r.loss(), r.seconds());
        } else {
            stage("3/4 reward model: cached in %s", rewardModel);
        }

        return new Models(tokenizer, policyModel, rewardModel, split.train());
    }

    private void stage(String format, Object... args) {
        err.printf(Locale.ROOT, "demo: " + format + "%n", args);
        err.flush();
    }

    /** {@code n} reviews taken at even strides (the sample is grouped by label), or all when n is 0. */
    static List<Review> evenlySpread(List<Review> reviews, int n) {
        if (n <= 0 || n >= reviews.size()) return reviews;
        List<Review> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(reviews.get((int) ((long) i * reviews.size() / n)));
        return out;
    }

    /** The credit methods the demo compares by default. */
    public static List<Credit> defaultMethods(double beta) {
        return new ArrayList<>(List.of(new Credit.Sparse(), new Credit.Uniform(), new Credit.Abc(beta)));
    }
}
