package org.densify.loaders.safetensors;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Named tensors read from one safetensors file ({@link SafetensorsFile}) or a sharded folder
 * ({@link ShardedSafetensors}). Lookups of a name that is not there, and reads that the tensor's
 * dtype cannot satisfy, throw {@link SafetensorsException}; any read after {@link #close()} throws
 * {@link IllegalStateException}.
 */
public interface TensorSource extends AutoCloseable {

    /** The file, or for a sharded model the index file, this source reads. */
    Path path();

    /** Every tensor by name, in data order (shard by shard); unmodifiable. */
    Map<String, TensorInfo> tensors();

    /** The {@code __metadata__} string map (merged over shards); empty when absent; unmodifiable. */
    Map<String, String> metadata();

    default boolean has(String name) {
        return tensors().containsKey(name);
    }

    /** The header entry of {@code name}. */
    TensorInfo info(String name) throws SafetensorsException;

    /** The raw little-endian bytes of {@code name}: a zero-copy, read-only slice of the mapping. */
    MemorySegment segment(String name) throws SafetensorsException;

    /**
     * The tensor's elements converted to float (F32 is copied, F16/BF16/F8 widened, F64 rounded,
     * integers and BOOL converted). The tensor must fit in a Java array.
     */
    float[] readFloats(String name) throws SafetensorsException;

    /**
     * Like {@link #readFloats(String)} but into {@code dest}, which must be exactly
     * {@code numElements * 4} bytes and receives native-order floats (any alignment) — for loading
     * straight into an off-heap parameter block.
     */
    void readFloats(String name, MemorySegment dest) throws SafetensorsException;

    /** The elements of an integer or BOOL tensor as longs (U64 values must fit in a signed long). */
    long[] readLongs(String name) throws SafetensorsException;

    /** The elements of an integer or BOOL tensor as ints; every value must fit in an int. */
    int[] readInts(String name) throws SafetensorsException;

    /** Unmaps every file; idempotent. */
    @Override
    void close();

    /**
     * Opens a {@code .safetensors} file, a {@code model.safetensors.index.json}, or a folder holding
     * either (see {@link SafetensorsFolder#open(Path)}).
     */
    static TensorSource open(Path fileOrFolder) throws IOException {
        if (Files.isDirectory(fileOrFolder)) return SafetensorsFolder.open(fileOrFolder);
        if (fileOrFolder.getFileName() != null && fileOrFolder.getFileName().toString().endsWith(".index.json")) {
            return ShardedSafetensors.open(fileOrFolder);
        }
        return SafetensorsFile.open(fileOrFolder);
    }
}
