package org.densify.rlhf.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.densify.loaders.model.ModelFolders;
import org.densify.loaders.model.ModelFolder;
import org.densify.loaders.safetensors.SafetensorsFile;
import org.densify.loaders.safetensors.ShardedSafetensors;
import org.densify.loaders.safetensors.TensorInfo;
import org.densify.loaders.safetensors.TensorSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code densify inspect FILE|DIR}: what a safetensors file or model folder holds. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {
                "Lists the tensors of a safetensors file, a sharded index or a model folder (name, dtype, "
                        + "shape, bytes), the totals, the __metadata__ and, for a model folder, its config.json.",
                "A model folder is first checked against its config.json: every tensor present with the shape "
                        + "the config implies, and none it does not explain."})
final class InspectCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "FILE|DIR",
            description = "A .safetensors file, a model.safetensors.index.json, or a model folder.")
    Path path;

    @Option(names = "--raw", description = "For a folder with config.json: show config.json as it is (raw JSON, not "
            + "interpreted, so any model type shows) and list the tensors without checking them against it.")
    boolean raw;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (!Files.exists(path)) throw new FileNotFoundException(path + ": no such file or folder");
        boolean modelFolder = Files.isDirectory(path) && Files.isRegularFile(path.resolve(ModelFolder.CONFIG_FILE));
        if (modelFolder && !raw) {
            ModelFolders.Description d = ModelFolders.describe(path);
            try (TensorSource source = TensorSource.open(path)) {
                describeSource(out, source);
                printConfig(out, d.configRows());
                printTensors(out, source);
                out.printf("model: %s, %s parameters (mask buffers excluded)%n", d.kind(), n(d.parameters()));
            }
        } else {
            try (TensorSource source = TensorSource.open(path)) {
                describeSource(out, source);
                if (modelFolder) printRawConfig(out, path.resolve(ModelFolder.CONFIG_FILE));
                printTensors(out, source);
            }
        }
        out.flush();
        return 0;
    }

    private static void describeSource(PrintWriter out, TensorSource source) throws IOException {
        if (source instanceof ShardedSafetensors s) {
            out.printf("%s: %d shards%n", source.path(), s.shards().size());
            for (SafetensorsFile f : s.shards()) out.printf("  %s (%s bytes)%n", f.path().getFileName(), n(Files.size(f.path())));
        } else if (source instanceof SafetensorsFile f) {
            out.printf("%s: %s bytes, header %s bytes%n", f.path(), n(Files.size(f.path())), n(f.dataStart() - 8));
        }
        Map<String, String> meta = source.metadata();
        out.println(meta.isEmpty() ? "__metadata__: none" : "__metadata__:");
        meta.forEach((k, v) -> out.printf("  %s = %s%n", k, v));
    }

    private static void printConfig(PrintWriter out, List<String[]> rows) {
        out.println("config.json:");
        int w = rows.stream().mapToInt(r -> r[0].length()).max().orElse(0);
        for (String[] r : rows) out.printf("  %-" + w + "s  %s%n", r[0], r[1]);
    }

    /**
     * {@code config.json} as strictly parsed JSON, pretty-printed and not interpreted — a config this
     * engine refuses (another model type, say) still shows — or, if it is not JSON, the reason in one
     * line. Either way the tensors are listed after it.
     */
    private static void printRawConfig(PrintWriter out, Path file) {
        out.println("config.json (raw, not checked):");
        try {
            JsonNode json = ModelFolders.readConfigJson(file);
            json.toPrettyString().lines().forEach(l -> out.println("  " + l));
        } catch (IOException e) {
            out.println("  unreadable: " + e.getMessage().replaceAll("\\s*\\R\\s*", " "));
        }
    }

    /** The aligned table and the totals. */
    private static void printTensors(PrintWriter out, TensorSource source) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"NAME", "DTYPE", "SHAPE", "BYTES"});
        long elements = 0, bytes = 0;
        for (TensorInfo t : source.tensors().values()) {
            rows.add(new String[]{t.name(), t.dtype().name(), TensorInfo.shapeString(t.shape()), n(t.byteSize())});
            elements += t.numElements();
            bytes += t.byteSize();
        }
        int[] w = new int[4];
        for (String[] r : rows) for (int i = 0; i < 4; i++) w[i] = Math.max(w[i], r[i].length());
        for (String[] r : rows) {
            out.printf("%-" + w[0] + "s  %-" + w[1] + "s  %-" + w[2] + "s  %" + w[3] + "s%n", r[0], r[1], r[2], r[3]);
        }
        int count = rows.size() - 1;
        out.printf("total: %s tensor%s, %s elements, %s bytes%n", n(count), count == 1 ? "" : "s", n(elements), n(bytes));
    }

    private static String n(long v) {
        return String.format(Locale.ROOT, "%,d", v);
    }
}
