package org.densify.rlhf.cli;

import org.densify.rlhf.run.OutputPaths;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.densify.core.Backend;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.core.model.Generator;
import org.densify.core.model.Heads;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.loaders.io.AtomicFiles;
import org.densify.core.model.ModelShape;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import org.densify.rlhf.credit.Credit;
import org.densify.rlhf.credit.CreditInput;
import org.densify.rlhf.credit.RewardModel;
import org.densify.rlhf.credit.RewardScorer;
import org.densify.rlhf.credit.ScoredCompletion;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code densify score}: the reward of one completion and the credit each of its tokens receives. */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = {
                "Scores PROMPT + COMPLETION with a reward model and prints the reward and each completion token with its credit.",
                "The completion is tokenised on its own, after the prompt, by the policy's tokenizer when --policy is given, else by the "
                        + "reward model's. --html writes the same as a page with tokens shaded by credit (where the reward model looked); "
                        + "--json prints {\"reward\", \"tokens\": [{\"id\", \"text\", \"credit\"}]} for scripts.",
                "The methods that read the policy's attention during generation are given it by feeding the completion "
                        + "to the policy token by token through the same cached passes (teacher forcing), which records the rows that "
                        + "generating exactly this completion would have."})
final class ScoreCommand implements Callable<Integer> {

    @Option(names = "--reward-model", required = true, paramLabel = "DIR", description = "Sequence classifier folder (any family) with its tokenizer.")
    Path rewardModel;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The prompt.")
    String prompt;

    @Option(names = "--completion", required = true, paramLabel = "TEXT", description = "The completion to score and credit.")
    String completion;

    @Mixin
    CreditOptions credit;

    @Option(names = "--policy", paramLabel = "DIR",
            description = "A policy folder: its tokenizer defines the tokens credited; the methods that read the policy's attention need it.")
    Path policy;

    @Option(names = "--html", paramLabel = "FILE", description = "Also write an HTML page with the tokens shaded by credit.")
    Path html;

    @Mixin
    ForceOption force;

    @Option(names = "--json", description = "Print JSON instead of the table.")
    boolean json;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (html != null) ForceOption.check(() -> OutputPaths.checkFile("--html", html, force.existing()));
        Credit method = credit.method();
        if (method.method().readsPolicy() && policy == null) {
            throw new Main.UsageException("--credit " + method.name() + " reads the policy's attention: it needs --policy DIR");
        }
        if (completion.isEmpty()) throw new Main.UsageException("--completion is empty: there is no token to credit");
        if (prompt.isEmpty()) throw new Main.UsageException("--prompt is empty: the reward model reads the completion after a prompt");
        PrintWriter out = spec.commandLine().getOut();
        try (Backend backend = device.create(); RewardModel rm = RewardModel.load(backend, rewardModel)) {
            Tokenizer tokenizer = policy == null ? rm.tokenizer() : Tokenizers.open(policy);
            int[] q = tokenizer.encode(prompt), y = tokenizer.encode(completion);
            ContextCheck.fits("--prompt plus --completion", rm.tokenizer().encode(prompt).length + (long) rm.tokenizer().encode(completion).length,
                    "the reward model's", rm.model().maxSequenceLength());
            if (method.inputs().contains(CreditInput.POLICY_ATTENTION)) {
                ContextCheck.fits("--prompt plus --completion", q.length + (long) y.length, "the policy's",
                        ModelShape.read(policy).maxSequenceLength());
            }
            ScoredCompletion scored = new RewardScorer(rm, tokenizer)
                    .score(new int[][] {q}, new int[][] {y}, method.inputs())[0];
            if (method.inputs().contains(CreditInput.POLICY_ATTENTION)) scored = scored.withPolicyAttention(policyAttention(backend, q, y));
            if (method.inputs().contains(CreditInput.GENERATION_ATTENTION)) scored = scored.withGenerationAttention(generationAttention(backend, q, y));
            float[] credits = method.assign(scored);
            requireFinite(scored.reward(), credits);
            String[] texts = new String[y.length];
            for (int t = 0; t < y.length; t++) texts[t] = tokenizer.decode(new int[] {y[t]});
            if (json) {
                out.println(toJson(scored.reward(), method, y, texts, credits));
            } else {
                out.printf(Locale.ROOT, "reward %.4f  (%s%s, %d completion tokens)%n", scored.reward(), method.name(),
                        Double.isNaN(method.beta()) ? "" : ", beta " + method.beta(), y.length);
                double max = 0;
                for (float c : credits) max = Math.max(max, Math.abs(c));
                for (int t = 0; t < y.length; t++) {
                    int cells = max == 0 ? 0 : (int) Math.round(20 * Math.abs(credits[t]) / max);
                    out.printf(Locale.ROOT, "%4d %6d  %-18s %+9.4f  %s%n", t, y[t], quote(texts[t]), credits[t],
                            (credits[t] < 0 ? "-" : "+").repeat(cells));
                }
            }
            if (html != null) {
                AtomicFiles.write(html, page(scored.reward(), method, tokenizer.decode(q), texts, credits).getBytes(StandardCharsets.UTF_8));
                if (!json) out.println("wrote " + html);
            }
        }
        return 0;
    }

    /** The policy's head-averaged last-layer attention from its last token over the completion. */
    private float[] policyAttention(Backend backend, int[] q, int[] y) throws java.io.IOException {
        try (LanguageModel model = Models.load(backend, policy, Heads.NONE, 0)) {
            int[] ids = Arrays.copyOf(q, q.length + y.length);
            System.arraycopy(y, 0, ids, q.length, y.length);
            float[] row = model.forward(Batch.of(ids), ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)
                    .withCapture(ForwardOptions.Capture.LAST_ROW)).lastRowAttention()[0];
            return Arrays.copyOfRange(row, q.length, ids.length);
        }
    }

    /**
     * The policy's last-layer rows over the completion at each step, as generation records them: the
     * completion is fed through the generator's cached passes (teacher forcing).
     */
    private float[][] generationAttention(Backend backend, int[] q, int[] y) throws java.io.IOException {
        try (LanguageModel model = Models.load(backend, policy, Heads.NONE, 0)) {
            Generator.Result forced = new Generator(model).teacherForce(new int[][] {q}, new int[][] {y}, Generator.Recording.LAST_LAYER_ROWS);
            return ScoredCompletion.completionColumns(forced.attentionRows()[0], q.length);
        }
    }

    /** A NaN reward printed as a number looks like a result: refuse it (JSON has no NaN either). */
    static void requireFinite(float reward, float[] credits) {
        boolean finite = Float.isFinite(reward);
        for (float c : credits) finite &= Float.isFinite(c);
        if (!finite) {
            throw new IllegalStateException("the reward model gives a reward of " + reward + (Float.isFinite(reward) ? " but non-finite credits" : "")
                    + ": its outputs are not finite for this text");
        }
    }

    static String toJson(float reward, Credit method, int[] ids, String[] texts, float[] credits) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("reward", reward);
        root.put("credit", method.name());
        if (!Double.isNaN(method.beta())) root.put("beta", method.beta());
        ArrayNode tokens = root.putArray("tokens");
        for (int t = 0; t < ids.length; t++) tokens.addObject().put("id", ids[t]).put("text", texts[t]).put("credit", credits[t]);
        return root.toString();
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '\n') b.append("\\n");
            else if (c == '\t') b.append("\\t");
            else if (c == '"') b.append("\\\"");
            else if (c < 0x20) b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    /** Tokens shaded green (positive credit) or red (negative), opacity by |credit| / max |credit|; hover for the value. */
    static String page(float reward, Credit method, String promptText, String[] texts, float[] credits) {
        double max = 0;
        for (float c : credits) max = Math.max(max, Math.abs(c));
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>densify score</title>\n<style>")
                .append("body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:2}")
                .append(".prompt{color:#777}.tok{white-space:pre-wrap;border-radius:3px;padding:2px 0}")
                .append("table{border-collapse:collapse;font-size:90%}td{padding:0 1em 0 0}</style></head><body>\n");
        b.append(String.format(Locale.ROOT, "<h1>reward %.4f</h1>\n<p>credit: %s; %d completion tokens; shade = |credit| / %.4f</p>\n<p>",
                reward, escape(method.toString()), credits.length, max));
        b.append("<span class=\"prompt\">").append(escape(promptText)).append("</span>");
        for (int t = 0; t < texts.length; t++) {
            double alpha = max == 0 ? 0 : Math.abs(credits[t]) / max;
            String rgb = credits[t] >= 0 ? "0,160,60" : "220,40,40";
            b.append(String.format(Locale.ROOT, "<span class=\"tok\" title=\"%+.5f\" style=\"background:rgba(%s,%.3f)\">%s</span>", credits[t], rgb,
                    alpha, escape(texts[t])));
        }
        b.append("</p>\n<table><tr><th>#</th><th>token</th><th>credit</th></tr>\n");
        for (int t = 0; t < texts.length; t++) {
            b.append(String.format(Locale.ROOT, "<tr><td>%d</td><td><code>%s</code></td><td>%+.5f</td></tr>\n", t, escape(texts[t]), credits[t]));
        }
        return b.append("</table></body></html>\n").toString();
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
