package org.densify.rlhf.run;

import java.nio.file.Path;

/** A separate process for {@code RunLockTest}: claims a run folder, says so, and holds it until killed or its input ends. */
public final class HoldLock {
    private HoldLock() {
    }

    public static void main(String[] args) throws Exception {
        try (RunLock _ = RunLock.inside(Path.of(args[0]))) {
            System.out.println("locked");
            System.out.flush();
            while (System.in.read() != -1) {
                // hold until the input closes or the process is killed
            }
        }
    }
}
