package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.densify.rlhf.experiment.Experiment;
import org.densify.rlhf.experiment.ExperimentConfig;
import org.densify.rlhf.run.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code densify experiment}: a grid of PPO runs (methods x seeds x a swept value) from a JSON config, with a report. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = {
                "Runs a study: every credit method in the config with every seed (and every value of an optional sweep over beta "
                        + "or the completion length), each one PPO run from the same initial models, then writes the report: "
                        + "summary.csv (per group and step: mean and std over seeds of the batch mean reward, mean KL), runs.csv, "
                        + "reward.png (mean ± 1 std per group), kl_reward.png (final KL against final reward per run) and report.md.",
                "Runs go to DIR/runs/<method>[-<sweep value>]/seed-<s>/ (log.jsonl, checkpoints, and result.json once finished). "
                        + "Rerunning the same command skips the runs that finished and resumes interrupted ones from their checkpoints; "
                        + "DIR keeps the config and the models' digests and refuses others. See experiments/README.md for the config format and the shipped studies."})
final class ExperimentCommand implements Callable<Integer> {

    @Option(names = "--config", required = true, paramLabel = "FILE", description = "The study, as JSON (e.g. experiments/smoke.json).")
    Path config;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Experiment folder: config, runs, report.")
    Path out;

    @Option(names = "--parallel", defaultValue = "1", paramLabel = "N",
            description = "Runs at once, each on its own CPU backend with max(1, cores / N) threads; results do not depend on N (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--prune-checkpoints",
            description = "Delete each finished run's checkpoints, keeping its log.jsonl, run.json and result.json (a few kilobytes), so "
                    + "that the folder can be committed and the study continued elsewhere; runs not yet finished keep theirs to resume from.")
    boolean pruneCheckpoints;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        ForceOption.check(() -> OutputPaths.checkFolderPath("--out", out));
        Experiment experiment;
        try {
            experiment = new Experiment(ExperimentConfig.load(config), out, parallel, device.device,
                    pruneCheckpoints ? Experiment.FinishedRuns.PRUNE_CHECKPOINTS : Experiment.FinishedRuns.KEEP_CHECKPOINTS, spec.commandLine().getOut(),
                    spec.commandLine().getErr(), ProgressBar.stderrIsTerminal());
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        try {
            experiment.run();
        } catch (IllegalArgumentException e) {
            // a folder started with another config or device, an unknown device, lengths over the models' context
            throw new Main.UsageException(e.getMessage());
        }
        return 0;
    }
}
