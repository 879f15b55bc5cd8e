package org.densify.rlhf.cli;

import org.densify.core.model.Heads;
import org.densify.core.Backend;
import org.densify.core.model.Generator;
import org.densify.core.model.LanguageModel;
import org.densify.core.model.Models;
import org.densify.core.model.Sampler;
import org.densify.loaders.io.InputFiles;
import org.densify.core.model.ModelShape;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * Samples continuations of a prompt and streams them to standard output as the tokens are drawn.
 * Several samples are drawn as one batch and printed in sample order: the first unfinished sample
 * streams, and each later one is held back until every sample before it has ended.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {
                "Samples continuations of a prompt from a language model (any family) and prints the prompt and each continuation as it is generated.",
                "With --num-samples > 1 the samples are generated together as one batch and printed in order, each under a "
                        + "'--- sample i ---' header: the first unfinished sample streams, the others are held until those before them end.",
                "--json prints instead one line per sample, when all are done: {\"ids\": [the new token ids, the <|endoftext|> that "
                        + "ended the sample included], \"text\": the decoded new tokens (an ending <|endoftext|> as its literal text)}."})
final class GenerateCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model folder (config.json + model.safetensors).")
    Path model;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The text to continue (not empty); a literal <|endoftext|> in it is the end-of-text token.")
    String prompt;

    @Option(names = "--tokenizer", paramLabel = "DIR", description = "Tokenizer folder (vocab.json + merges.txt) (default: the model folder).")
    Path tokenizer;

    @Option(names = "--max-new-tokens", defaultValue = "50", paramLabel = "N", description = "Tokens to generate per sample (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--min-new-tokens", defaultValue = "0", paramLabel = "N",
            description = "Fewest tokens per sample: <|endoftext|> is never drawn before N new tokens exist (Hugging Face's "
                    + "min_new_tokens); the log-probabilities stay the model's own (default: ${DEFAULT-VALUE}).")
    int minNewTokens;

    @Option(names = "--json", description = "One JSON object per sample per line ({\"ids\", \"text\"}) instead of the streamed text.")
    boolean json;

    @Option(names = "--temperature", defaultValue = "1.0", paramLabel = "T", description = "Softmax temperature; 0 is greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "Sample among the K most likely tokens; 0 keeps all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", paramLabel = "P", description = "Nucleus sampling mass; 1 keeps all (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Random seed: the same seed gives the same text (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--num-samples", defaultValue = "1", paramLabel = "N", description = "Continuations to draw (default: ${DEFAULT-VALUE}).")
    int numSamples;

    @Option(names = "--stop-at-eot", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Stop a sample at <|endoftext|> (not printed) (default: ${DEFAULT-VALUE}); --no-stop-at-eot prints it and goes on.")
    boolean stopAtEot;

    @Mixin
    DeviceOption device;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Main.requireSeed(seed);
        if (prompt.isEmpty()) throw new Main.UsageException("--prompt is empty: generation needs at least one token to start from");
        if (maxNewTokens < 0) throw new Main.UsageException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        if (numSamples < 1) throw new Main.UsageException("--num-samples must be >= 1, got " + numSamples);
        if (minNewTokens < 0 || minNewTokens > maxNewTokens) {
            throw new Main.UsageException("--min-new-tokens must be in [0, --max-new-tokens = " + maxNewTokens + "], got " + minNewTokens);
        }
        if (minNewTokens > 0 && !stopAtEot) {
            throw new Main.UsageException("--min-new-tokens holds off <|endoftext|>, which --no-stop-at-eot does not stop at: use one or the other");
        }
        Sampler sampler;
        try {
            sampler = new Sampler(temperature, topK, topP);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage().replace("temperature", "--temperature").replace("top-k", "--top-k").replace("top-p", "--top-p"));
        }
        InputFiles.requireFolder(model);
        Tokenizer tok = Tokenizers.open(tokenizer != null ? tokenizer : model);
        // A literal <|endoftext|> is the special token (as Hugging Face reads prompts), so a prompt can
        // start a fresh document the way the pre-training stream separates them.
        int[] promptIds = tok.encodeWithSpecial(prompt);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ModelShape config = ModelShape.read(model);
        int V = config.vocabSize(), maxT = config.maxSequenceLength();
        if (tok.vocabSize() > V) {
            throw new IllegalArgumentException("the tokenizer has " + tok.vocabSize() + " tokens but the model's vocab_size is " + V
                    + ": they do not belong together (--tokenizer)");
        }
        ContextCheck.fits("the prompt (" + promptIds.length + " tokens) plus --max-new-tokens " + maxNewTokens, promptIds.length + (long) maxNewTokens,
                "the model's", maxT);
        long positions = promptIds.length + (long) maxNewTokens;
        MemoryBudget budget = MemoryBudget.of("generate --num-samples " + numSamples)
                .add("parameters", MemoryBudget.parameters(config, Heads.NONE))
                .add("KV cache", MemoryBudget.kvCache(config, numSamples, positions))
                .add("activations", MemoryBudget.activations(config, (double) numSamples * promptIds.length, positions, numSamples, MemoryBudget.Pass.INFERENCE));
        try (Backend backend = device.create()) {
            budget.check(backend);
            generate(backend, tok, promptIds, sampler, out, err);
        }
        err.flush();
        return 0;
    }

    private void generate(Backend backend, Tokenizer tok, int[] promptIds, Sampler sampler, PrintWriter out, PrintWriter err)
            throws java.io.IOException {
        try (LanguageModel m = Models.load(backend, model)) {
            int stop = stopAtEot ? tok.eotId() : -1;
            Printer printer = json ? null : new Printer(out, tok, numSamples, maxNewTokens, stop);
            int[][] prompts = new int[numSamples][];
            Arrays.fill(prompts, promptIds);
            int[] lengths = new int[numSamples];
            Arrays.fill(lengths, maxNewTokens);
            int[] minimum = new int[numSamples];
            Arrays.fill(minimum, minNewTokens);
            long start = System.nanoTime();
            Generator.Result result = new Generator(m).generate(prompts, minimum, lengths, sampler, seed, stop, Generator.Recording.NONE,
                    printer == null ? null : (s, token, lp) -> printer.onToken(s, token));
            if (printer != null) {
                printer.finishAll();
            } else {
                for (int[] ids : result.tokens()) out.print(sampleJson(tok, ids) + "\n");
                out.flush();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            long tokens = Arrays.stream(result.tokens()).mapToLong(t -> t.length).sum();
            err.printf("densify: %d new token%s in %.2f s (%.1f tokens/s) on %s%n", tokens, tokens == 1 ? "" : "s", seconds,
                    tokens / Math.max(seconds, 1e-9), backend.name());
        }
    }

    /** {"ids": [...], "text": "..."}: the new tokens and their text (ids past the tokenizer have none: U+FFFD). */
    static String sampleJson(Tokenizer tok, int[] ids) {
        com.fasterxml.jackson.databind.node.ObjectNode o = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        com.fasterxml.jackson.databind.node.ArrayNode array = o.putArray("ids");
        Utf8Stream text = new Utf8Stream();
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            array.add(id);
            b.append(id < tok.vocabSize() ? text.append(tok.tokenBytes(id)) : "\uFFFD");
        }
        o.put("text", b.append(text.finish()).toString());
        return o.toString();
    }

    /** Prints samples in order: the first unfinished one token by token, the others held until they come first. */
    private final class Printer {
        final PrintWriter out;
        final Tokenizer tok;
        final int stop, maxNew;
        final Utf8Stream[] text;
        final StringBuilder[] held;
        final int[] produced;
        final boolean[] done;
        int printed; // samples 0 .. printed-1 are fully printed

        Printer(PrintWriter out, Tokenizer tok, int samples, int maxNew, int stop) {
            this.out = out;
            this.tok = tok;
            this.stop = stop;
            this.maxNew = maxNew;
            text = new Utf8Stream[samples];
            held = new StringBuilder[samples];
            produced = new int[samples];
            done = new boolean[samples];
            for (int s = 0; s < samples; s++) {
                text[s] = new Utf8Stream();
                held[s] = new StringBuilder();
            }
            header(0);
            out.print(prompt);
            out.flush();
        }

        void onToken(int s, int token) {
            produced[s]++;
            if (token != stop) {
                // Ids past the tokenizer (a model with a padded vocabulary) have no text.
                String piece = token < tok.vocabSize() ? text[s].append(tok.tokenBytes(token)) : "\uFFFD";
                if (s == printed) {
                    out.print(piece);
                    out.flush();
                } else {
                    held[s].append(piece);
                }
            }
            if (token == stop || produced[s] == maxNew) {
                done[s] = true;
                release();
            }
        }

        /** Ends every sample (those asked for 0 tokens, or cut short) and prints what is left. */
        void finishAll() {
            Arrays.fill(done, true);
            release();
        }

        /** Prints, in order, every finished sample whose predecessors are printed. */
        private void release() {
            while (printed < done.length && done[printed]) {
                out.print(held[printed].append(text[printed].finish()));
                out.print('\n');
                printed++;
                if (printed < done.length) {
                    header(printed);
                    out.print(prompt);
                    out.print(held[printed]);
                    held[printed].setLength(0);
                }
            }
            out.flush();
        }

        private void header(int s) {
            if (done.length > 1) out.print("--- sample " + s + " ---\n");
        }
    }

    /**
     * Turns a stream of byte chunks (token bytes) into text as it arrives: each call returns the text
     * of every complete UTF-8 character so far and holds back a trailing character whose bytes have
     * not all come yet. Malformed bytes become U+FFFD, as the tokenizer's own decode does.
     */
    static final class Utf8Stream {
        private byte[] pending = new byte[0];

        /** Appends {@code bytes} and returns the newly complete text (possibly empty). */
        String append(byte[] bytes) {
            byte[] all = Arrays.copyOf(pending, pending.length + bytes.length);
            System.arraycopy(bytes, 0, all, pending.length, bytes.length);
            int cut = completeLength(all);
            pending = Arrays.copyOfRange(all, cut, all.length);
            return decode(all, cut);
        }

        /** The text of whatever is still held back (an unfinished character becomes U+FFFD). */
        String finish() {
            String s = decode(pending, pending.length);
            pending = new byte[0];
            return s;
        }

        /**
         * The length of the prefix that ends on a character boundary: a lead byte among the last
         * three whose sequence would run past the end starts the held-back tail.
         */
        static int completeLength(byte[] b) {
            for (int i = b.length - 1; i >= Math.max(0, b.length - 3); i--) {
                int x = b[i] & 0xFF;
                if ((x & 0xC0) == 0x80) continue; // a continuation byte: its lead is further back
                int need = x >= 0xF0 && x <= 0xF4 ? 4 : x >= 0xE0 && x <= 0xEF ? 3 : x >= 0xC2 && x <= 0xDF ? 2 : 1;
                return i + need > b.length ? i : b.length;
            }
            return b.length;
        }

        private static String decode(byte[] b, int length) {
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPLACE)
                        .onUnmappableCharacter(CodingErrorAction.REPLACE)
                        .decode(ByteBuffer.wrap(b, 0, length)).toString();
            } catch (CharacterCodingException e) {
                throw new IllegalStateException(e); // cannot happen: errors are replaced
            }
        }
    }
}
