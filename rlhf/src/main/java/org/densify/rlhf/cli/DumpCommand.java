package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import org.densify.core.Backend;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.ModelShape;
import org.densify.core.model.Models;
import org.densify.core.model.Outputs;
import org.densify.core.model.ParameterLayout;
import org.densify.loaders.safetensors.SafetensorsWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Runs a model once on given token sequences and writes everything a reference implementation can
 * be compared against: logits, every layer's attention maps, head outputs, the language-model loss
 * and, on request, the gradient of that loss for every parameter.
 */
@Command(name = "dump", mixinStandardHelpOptions = true,
        description = {
                "Runs a model on token sequences (one ragged batch, training forward) and writes its outputs to a safetensors file:",
                "ids.{n} [T] (I64), logits.{n} [T,V], attn.{n}.{layer} [H,T,T], score.{n} [labels] (classifiers), values.{n} [T] "
                        + "(value heads), loss [] (mean next-token cross-entropy over every predicted position of every sequence) and, "
                        + "with --grads, grad.{name} for every parameter (the gradient of that loss). n counts the --ids from 0.",
                "The loss (and so --grads) needs a sequence of at least two tokens; without one, loss is left out."})
final class DumpCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model folder (config.json + model.safetensors).")
    Path model;

    @Option(names = "--ids", required = true, paramLabel = "ID,ID,...",
            description = "One sequence of token ids, comma-separated; repeat for more sequences.")
    List<String> ids;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The .safetensors file to write.")
    Path out;

    @Mixin
    ForceOption force;

    @Option(names = "--grads", description = "Also write grad.{name}: the loss's gradient for every parameter.")
    boolean grads;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        ForceOption.check(() -> OutputPaths.checkFile("--out", out, force.existing()));
        int[][] sequences = new int[ids.size()][];
        for (int n = 0; n < sequences.length; n++) sequences[n] = parseIds(n, ids.get(n));
        boolean hasLoss = false;
        for (int[] s : sequences) hasLoss |= s.length >= 2;
        if (grads && !hasLoss) {
            throw new Main.UsageException("--grads needs a loss, and every sequence has one token: nothing to predict (give one of at least two)");
        }
        PrintWriter o = spec.commandLine().getOut();
        try (Backend backend = device.create(); LanguageModel m = Models.load(backend, model)) {
            ModelShape c = m.shape();
            for (int n = 0; n < sequences.length; n++) checkFits(n, sequences[n], c);
            int V = c.vocabSize(), H = c.heads();
            SafetensorsWriter w = new SafetensorsWriter()
                    .metadata("model", model.toAbsolutePath().normalize().toString())
                    .metadata("engine", new Main.Version().getVersion()[0])
                    .metadata("device", backend.name());

            Batch batch = Batch.of(sequences);
            // A training forward keeps every layer's attention maps; the loss below then overwrites the
            // logits with their gradient, so everything is read out first.
            Outputs outputs = m.forward(batch, ForwardOptions.forTraining());
            float[][] scores = m.hasClassifier() ? outputs.scores() : null;
            float[] values = m.hasValueHead() ? outputs.values() : null;
            for (int n = 0; n < sequences.length; n++) {
                int T = sequences[n].length, start = batch.start(n);
                long[] asLongs = new long[T];
                for (int t = 0; t < T; t++) asLongs[t] = sequences[n][t];
                w.add("ids." + n, new long[]{T}, asLongs);
                float[] logits = new float[T * V];
                backend.read(outputs.logits(), (long) start * V, logits);
                w.add("logits." + n, new long[]{T, V}, logits);
                for (int l = 0; l < c.layers(); l++) w.add("attn." + n + "." + l, new long[]{H, T, T}, outputs.attention(n, l));
                if (scores != null) w.add("score." + n, new long[]{scores[n].length}, scores[n]);
                if (values != null) w.add("values." + n, new long[]{T}, java.util.Arrays.copyOfRange(values, start, start + T));
            }
            if (hasLoss) {
                double loss = m.languageModelLoss(outputs);
                w.add("loss", new long[0], new float[]{(float) loss});
                if (grads) {
                    m.zeroGradients();
                    m.backward(outputs, null, null);
                    for (ParameterLayout.Entry e : m.layout().entries()) {
                        float[] g = new float[Math.toIntExact(e.length())];
                        backend.read(m.gradient(e.name()), 0, g);
                        w.add("grad." + e.name(), e.shape(), g);
                    }
                }
                o.printf("loss %.6f over %d predicted positions%n", loss, batch.tokenCount() - sequences.length);
            }
            w.write(out);
            List<String> names = w.names();
            o.printf("wrote %s: %d tensors for %d sequence%s (%d tokens)%s%n", out, names.size(), sequences.length,
                    sequences.length == 1 ? "" : "s", batch.tokenCount(), hasLoss ? "" : "; no loss: no sequence has two tokens");
        }
        o.flush();
        return 0;
    }

    /** "464,3290,318" to ids; any malformed or negative entry is a usage error naming the --ids occurrence. */
    static int[] parseIds(int n, String text) {
        String[] parts = text.split(",", -1);
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].strip();
            try {
                out[i] = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new Main.UsageException("--ids #" + n + ": '" + p + "' is not a token id (expected comma-separated integers like 464,3290,318)");
            }
            if (out[i] < 0) throw new Main.UsageException("--ids #" + n + ": token id " + out[i] + " is negative");
        }
        return out;
    }

    private void checkFits(int n, int[] seq, ModelShape c) {
        for (int id : seq) {
            if (id >= c.vocabSize()) {
                throw new Main.UsageException("--ids #" + n + ": token id " + id + " is outside the vocabulary [0, " + c.vocabSize() + ") of " + model);
            }
        }
        if (seq.length > c.maxSequenceLength()) {
            throw new Main.UsageException("--ids #" + n + ": " + seq.length + " tokens exceed the model's n_positions " + c.maxSequenceLength());
        }
    }
}
