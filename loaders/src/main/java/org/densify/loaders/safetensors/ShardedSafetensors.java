package org.densify.loaders.safetensors;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import org.densify.loaders.io.StrictJson;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A model split over several safetensors files, as Hugging Face saves large models: a
 * {@code model.safetensors.index.json} of the form
 * {@code {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}} beside the
 * shards. Opening checks that the index and the shards agree exactly: every mapped tensor is in the
 * shard named for it, every shard tensor is in the map, and no tensor is in two shards.
 */
public final class ShardedSafetensors implements TensorSource {
    private final Path index;
    private final Map<String, Object> indexMetadata;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> owner;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private ShardedSafetensors(Path index, Map<String, Object> indexMetadata, List<SafetensorsFile> shards) {
        this.index = index;
        this.indexMetadata = indexMetadata;
        this.shards = shards;
        Map<String, SafetensorsFile> owner = new HashMap<>();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (SafetensorsFile shard : shards) {
            for (TensorInfo t : shard.tensors().values()) {
                owner.put(t.name(), shard);
                tensors.put(t.name(), t);
            }
            shard.metadata().forEach(metadata::putIfAbsent);
        }
        this.owner = owner;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Opens the index file and every shard it names (in file-name order), validating both. The index
     * is read as strict UTF-8 and strict JSON (see {@link StrictJson}); every problem with it or a
     * shard is a {@link SafetensorsException} naming the file. Only failures to read the files
     * themselves (missing index, permissions, I/O errors) are other {@link IOException}s.
     */
    public static ShardedSafetensors open(Path indexFile) throws IOException {
        JsonNode root;
        try {
            root = StrictJson.parse(Files.readAllBytes(indexFile));
        } catch (StrictJson.Malformed e) {
            throw new SafetensorsException(indexFile + ": " + e.getMessage(), e);
        }
        if (!root.isObject()) throw SafetensorsException.of(indexFile, "the index must be a JSON object");
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw SafetensorsException.of(indexFile, "'weight_map' must be an object mapping tensor names to shard file names");
        }
        if (map.isEmpty()) {
            throw SafetensorsException.of(indexFile, "'weight_map' is empty (an index must name at least one tensor and its shard)");
        }
        JsonNode meta = root.get("metadata");
        if (meta != null && !meta.isObject() && !meta.isNull()) {
            throw SafetensorsException.of(indexFile, "'metadata' must be an object");
        }
        Map<String, Object> indexMetadata = meta == null || meta.isNull() ? Map.of()
                : Collections.unmodifiableMap(StrictJson.MAPPER.convertValue(meta, new TypeReference<LinkedHashMap<String, Object>>() {
                }));

        // tensor -> shard file name, and the shard file names in order
        Map<String, String> weightMap = new LinkedHashMap<>();
        TreeMap<String, List<String>> byShard = new TreeMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            JsonNode v = e.getValue();
            if (!v.isTextual() || !isPlainFileName(v.textValue())) {
                throw SafetensorsException.of(indexFile, "weight_map entry for '" + e.getKey()
                        + "' must be the file name of a shard in the same folder, found " + v);
            }
            weightMap.put(e.getKey(), v.textValue());
            byShard.computeIfAbsent(v.textValue(), k -> new ArrayList<>()).add(e.getKey());
        }

        Path dir = indexFile.toAbsolutePath().getParent();
        List<SafetensorsFile> shards = new ArrayList<>();
        try {
            Map<String, String> seenIn = new HashMap<>();
            for (Map.Entry<String, List<String>> s : byShard.entrySet()) {
                String shardName = s.getKey();
                Path p = dir.resolve(shardName);
                if (!Files.isRegularFile(p)) {
                    throw SafetensorsException.of(indexFile, "shard '" + shardName + "' (which the weight_map names for "
                            + s.getValue().size() + " tensors, e.g. '" + s.getValue().getFirst() + "') does not exist");
                }
                SafetensorsFile shard = SafetensorsFile.open(p);
                shards.add(shard);
                for (String name : shard.tensors().keySet()) {
                    String first = seenIn.putIfAbsent(name, shardName);
                    if (first != null) {
                        throw SafetensorsException.of(indexFile, name, "stored in both shard '" + first + "' and shard '" + shardName + "'");
                    }
                    String mapped = weightMap.get(name);
                    if (mapped == null) {
                        throw SafetensorsException.of(indexFile, name, "stored in shard '" + shardName + "' but missing from the weight_map");
                    }
                    if (!mapped.equals(shardName)) {
                        throw SafetensorsException.of(indexFile, name, "stored in shard '" + shardName + "' but the weight_map says '" + mapped + "'");
                    }
                }
                for (String name : s.getValue()) {
                    if (!shard.has(name)) {
                        throw SafetensorsException.of(indexFile, name, "the weight_map puts it in shard '" + shardName + "', which does not hold it");
                    }
                }
            }
            return new ShardedSafetensors(indexFile, indexMetadata, List.copyOf(shards));
        } catch (IOException | RuntimeException | Error e) {
            shards.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** A bare file name: no folder parts, so an index cannot point outside its folder. */
    private static boolean isPlainFileName(String s) {
        return !s.isEmpty() && !s.equals(".") && !s.equals("..") && s.indexOf('/') < 0 && s.indexOf('\\') < 0
                && s.indexOf('\0') < 0;
    }

    @Override
    public Path path() {
        return index;
    }

    /** The shards, in file-name order. */
    public List<SafetensorsFile> shards() {
        return shards;
    }

    /** The index's own {@code "metadata"} object (e.g. {@code total_size}); JSON values as Java objects. */
    public Map<String, Object> indexMetadata() {
        return indexMetadata;
    }

    @Override
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    @Override
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The shard holding {@code name}. */
    public SafetensorsFile shardOf(String name) throws SafetensorsException {
        SafetensorsFile f = owner.get(name);
        if (f == null) throw SafetensorsFile.notFound(index, name, tensors.keySet());
        return f;
    }

    @Override
    public TensorInfo info(String name) throws SafetensorsException {
        return shardOf(name).info(name);
    }

    @Override
    public MemorySegment segment(String name) throws SafetensorsException {
        return shardOf(name).segment(name);
    }

    @Override
    public float[] readFloats(String name) throws SafetensorsException {
        return shardOf(name).readFloats(name);
    }

    @Override
    public void readFloats(String name, MemorySegment dest) throws SafetensorsException {
        shardOf(name).readFloats(name, dest);
    }

    @Override
    public long[] readLongs(String name) throws SafetensorsException {
        return shardOf(name).readLongs(name);
    }

    @Override
    public int[] readInts(String name) throws SafetensorsException {
        return shardOf(name).readInts(name);
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }

    @Override
    public String toString() {
        return "ShardedSafetensors[" + index + ", " + shards.size() + " shards, " + tensors.size() + " tensors]";
    }
}
