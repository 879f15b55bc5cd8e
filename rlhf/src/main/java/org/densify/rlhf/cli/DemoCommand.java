package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.densify.core.Backend;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.demo.Demo;
import org.densify.rlhf.demo.DemoPlan;
import org.densify.rlhf.run.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code densify demo}: the whole RLHF pipeline on the bundled data, ending in a comparison of credit methods. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
                "Runs the whole pipeline on the bundled IMDb sample, offline: learns a tokenizer, pretrains a small GPT-2 policy on the "
                        + "reviews, trains a GPT-2 reward model from it on the labels, then runs PPO with sparse, uniform and "
                        + "attention-based credit (ABC) on the same seed, and prints a table; writes a chart (reward.png), the table "
                        + "(results.md), the curves (rewards.csv) and each run's log under --work.",
                "The tokenizer and both models are cached in --work and reused; the PPO runs are redone each time. "
                        + "About 10 minutes on 2 cores from nothing, 2 with the models cached; --quick is a one-minute smoke version."})
final class DemoCommand implements Callable<Integer> {

    @Option(names = "--work", paramLabel = "DIR", description = "Work folder (default: work/demo, or work/demo-quick with --quick).")
    Path work;

    @Option(names = "--quick", description = "Tiny models and a few PPO steps: a one-minute check that everything runs.")
    boolean quick;

    @Option(names = "--steps", paramLabel = "N", description = "PPO steps per method (default: 50, or 6 with --quick).")
    Integer steps;

    @Option(names = "--credit", split = ",", paramLabel = "METHOD", completionCandidates = CreditOptions.Names.class,
            description = "Credit methods to compare, comma-separated: any of ${COMPLETION-CANDIDATES} (default: sparse,uniform,abc).")
    List<String> credit;

    @Option(names = "--beta", defaultValue = "" + Credit.DEFAULT_BETA, paramLabel = "F", description = "Beta of the attention methods (default: ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of the PPO runs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Main.requireSeed(seed);
        DemoPlan plan = quick ? DemoPlan.quick() : DemoPlan.full();
        if (steps != null) {
            if (steps < 1) throw new Main.UsageException("--steps must be >= 1, got " + steps);
            plan = new DemoPlan(plan.name(), plan.vocab(), plan.pretrain(), plan.rmReviews(), plan.rewardModel(), plan.ppo(), steps);
        }
        List<Credit> methods = new ArrayList<>();
        try {
            if (credit == null) methods.addAll(Demo.defaultMethods(beta));
            else for (String name : credit) methods.add(Credit.parse(name.strip(), beta));
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        Path dir = work != null ? work : Path.of("work", quick ? "demo-quick" : "demo");
        ForceOption.check(() -> OutputPaths.checkFolderPath("--work", dir));
        try (Backend backend = device.create()) {
            new Demo(plan, dir, methods, seed, spec.commandLine().getOut(), spec.commandLine().getErr(), ProgressBar.stderrIsTerminal()).run(backend);
        }
        return 0;
    }
}
