package org.densify.loaders.model;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** The tensors of a model folder by canonical name, as a model of any family loads them. */
public interface StoredTensors {
    /** The folder, for messages. */
    Path dir();

    /** Whether a tensor of this canonical name is stored. */
    boolean hasTensor(String canonical);

    /** Reads the tensor as native floats into {@code dest} (exactly 4 x elements bytes); non-finite values are refused. */
    void floats(String canonical, MemorySegment dest) throws IOException;
}
