package org.densify.rlhf.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.densify.loaders.io.InputFiles;
import org.densify.loaders.io.Utf8Lines;
import org.densify.loaders.tokenizer.Tokenizer;
import org.densify.loaders.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Encodes JSON-string lines to JSON arrays of token ids, or (with {@code --decode}) the reverse.
 * One output line per input line, so outputs line up with inputs. Decoded strings are written with
 * non-ASCII characters escaped, so the output is valid JSON whatever the console's encoding.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {
                "Encodes text with a GPT-2 or Hugging Face tokenizer.json tokenizer: each input line is a JSON string, each output line the JSON array of its token ids.",
                "With --decode, the reverse: each input line is a JSON array of ids, each output line a JSON string."})
final class TokenizeCommand implements Callable<Integer> {

    @Option(names = "--tokenizer", required = true, paramLabel = "DIR",
            description = "Tokenizer folder: tokenizer.json (with tokenizer_config.json), else vocab.json + merges.txt or encoder.json + vocab.bpe.")
    Path tokenizer;

    @Option(names = "--input", defaultValue = "-", paramLabel = "FILE",
            description = "Input file (UTF-8), or - for standard input (default).")
    String input;

    @Option(names = "--decode", description = "Decode lines of JSON id arrays into JSON strings.")
    boolean decode;

    @Option(names = "--special",
            description = "Hugging Face's add_special_tokens=True: added tokens written in the text (<|endoftext|>) become those tokens and the post-processor's own (a BOS) are added. "
                    + "Default: Hugging Face's add_special_tokens=False for tokenizer.json; for GPT-2's files a literal <|endoftext|> is text, as GPT-2's reference encoder reads it.")
    boolean special;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonWriteFeature.ESCAPE_NON_ASCII)
            .build();

    @Override
    public Integer call() throws IOException {
        if (decode && special) throw new Main.UsageException("--special applies to encoding, not to --decode");
        Tokenizer tok = Tokenizers.open(tokenizer);
        boolean stdin = input.equals("-");
        String name = stdin ? "standard input" : input;
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        // Standard input is not ours to close: wrap it so that closing the reader leaves it open.
        InputStream in = stdin ? new java.io.FilterInputStream(System.in) {
            @Override
            public void close() {
            }
        } : InputFiles.open(Path.of(input));
        try (Utf8Lines lines = new Utf8Lines(in, name, warning -> {
            err.println("densify: warning: " + warning);
            err.flush();
        })) {
            for (String line; (line = lines.next()) != null; ) {
                int lineNo = Math.toIntExact(lines.lineNumber());
                // println flushes: each answer goes out as soon as its line is read, also through a pipe.
                out.println(decode ? decodeLine(tok, line, name, lineNo) : encodeLine(tok, line, name, lineNo));
            }
        }
        return 0;
    }

    private String encodeLine(Tokenizer tok, String line, String name, int lineNo) {
        JsonNode node = parse(line, name, lineNo, "a JSON string");
        if (!node.isTextual()) throw bad(name, lineNo, "a JSON string", line);
        String text = node.textValue();
        int[] ids = special ? tok.encodeWithSpecial(text) : tok.encode(text);
        StringBuilder sb = new StringBuilder(ids.length * 6 + 2).append('[');
        for (int i = 0; i < ids.length; i++) {
            if (i > 0) sb.append(',');
            sb.append(ids[i]);
        }
        return sb.append(']').toString();
    }

    private String decodeLine(Tokenizer tok, String line, String name, int lineNo) throws JsonProcessingException {
        String expected = "a JSON array of token ids in [0, " + tok.vocabSize() + ")";
        JsonNode node = parse(line, name, lineNo, expected);
        if (!node.isArray()) throw bad(name, lineNo, expected, line);
        int[] ids = new int[node.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = node.get(i);
            if (!id.isInt() || id.intValue() < 0 || id.intValue() >= tok.vocabSize()) {
                throw bad(name, lineNo, expected, line);
            }
            ids[i] = id.intValue();
        }
        return JSON.writeValueAsString(tok.decode(ids));
    }

    private static JsonNode parse(String line, String name, int lineNo, String expected) {
        try {
            return JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw bad(name, lineNo, expected, line);
        }
    }

    private static IllegalArgumentException bad(String name, int lineNo, String expected, String line) {
        String shown = line.length() > 60 ? line.substring(0, 60) + "..." : line;
        return new IllegalArgumentException(name + " line " + lineNo + ": expected " + expected + ", got: " + shown);
    }
}
