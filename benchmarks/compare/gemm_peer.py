#!/usr/bin/env python3
"""numpy/OpenBLAS peer for GemmBenchmark: the same shapes, float32, GFLOP/s = 2MNK / time.

Shapes are written M x K x N with a suffix for the stored layouts: "" is X[M,K] @ W[K,N],
":NT" multiplies by the transpose of a stored [N, K] matrix, ":TN" is a stored [K, M] transposed
times [K, N] accumulated into c (dW += X^T dY). Threads: OPENBLAS_NUM_THREADS (default 2), set
before numpy loads. Timing mirrors GemmBenchmark's JMH settings: 3 warm-up rounds then 5 measured
rounds of about 1 s each, reporting the mean time per op over the measured rounds (JMH's average
time). Prints one "shape GFLOP/s" line per shape; with --json, one JSON object instead; with
--kernel, only which OpenBLAS core runs (and the OPENBLAS_* settings it saw).
"""
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
import numpy as np  # noqa: E402  (after the thread setting)

SHAPES = [
    "256x768x768", "256x768x2304", "256x768x3072",
    "256x2304x768", "256x2304x2304", "256x2304x3072",
    "256x3072x768", "256x3072x2304", "256x3072x3072",
    "256x3072x768:NT", "256x768x2304:NT", "768x256x3072:TN", "3072x256x768:TN",
    "256x768x50257:NT", "50257x256x768:TN",
    "16x768x2304", "16x768x3072", "16x3072x768", "16x768x50257:NT",
    "2048x2048x2048",
]


def gflops(shape, seconds=1.0, warmups=3, rounds=5):
    dims, _, layout = shape.partition(":")
    m, k, n = (int(x) for x in dims.split("x"))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m) if layout == "TN" else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if layout == "NT" else (k, n), dtype=np.float32)
    c = np.zeros((m, n), dtype=np.float32)
    if layout == "NT":
        op = lambda: np.matmul(a, b.T, out=c)
    elif layout == "TN":
        # numpy has no fused beta=1 call; matmul into a scratch and add is what a caller pays
        t = np.empty_like(c)
        op = lambda: np.add(c, np.matmul(a.T, b, out=t), out=c)
    else:
        op = lambda: np.matmul(a, b, out=c)
    total, count = 0.0, 0
    for round_ in range(warmups + rounds):
        start = time.perf_counter()
        reps = 0
        while time.perf_counter() - start < seconds:
            op()
            reps += 1
        if round_ >= warmups:
            total += time.perf_counter() - start
            count += reps
    return 2.0 * m * n * k * count / total / 1e9


def openblas_kernel():
    """Which OpenBLAS core numpy's bundled library runs, from threadpoolctl when installed, else
    from the library's own openblas_get_config / openblas_get_corename (numpy wheels bundle
    scipy-openblas, whose symbols carry a scipy_ prefix and 64_ suffix)."""
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("internal_api") in ("openblas", "scipy_openblas"):
                return f"{info.get('version')} {info.get('architecture')} ({info.get('num_threads')} threads, threadpoolctl)"
    except ImportError:
        pass
    import ctypes
    import glob
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*.so*"))
    libs += glob.glob(os.path.join(os.path.dirname(np.__file__), ".libs", "*openblas*.so*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for config, core in (("scipy_openblas_get_config64_", "scipy_openblas_get_corename64_"),
                             ("openblas_get_config64_", "openblas_get_corename64_"),
                             ("openblas_get_config", "openblas_get_corename")):
            if hasattr(lib, config) and hasattr(lib, core):
                getattr(lib, config).restype = ctypes.c_char_p
                getattr(lib, core).restype = ctypes.c_char_p
                return (f"core {getattr(lib, core)().decode()}, config '{getattr(lib, config)().decode()}' "
                        f"({os.path.basename(path)}, openblas_get_corename)")
    return "unknown (no threadpoolctl and no OpenBLAS library found next to numpy)"


def main(argv):
    as_json = "--json" in argv
    if "--kernel" in argv:
        coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
        l2 = os.environ.get("OPENBLAS_L2_SIZE", "unset")
        print(f"numpy {np.__version__}, OpenBLAS {openblas_kernel()}; OPENBLAS_CORETYPE={coretype}, "
              f"OPENBLAS_L2_SIZE={l2}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
        return
    shapes = [s for s in argv if not s.startswith("--")] or SHAPES
    results = {}
    for s in shapes:
        results[s] = gflops(s)
        if not as_json:
            print(f"{s} {results[s]:.1f}", flush=True)
    if as_json:
        print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
