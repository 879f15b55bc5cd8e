#!/usr/bin/env python3
"""The PyTorch side of the GPT-2 model benchmarks: the same work the Java engine does, in float32.

GPT-2 124M shape (12 layers, d 768, 12 heads, vocab 50257, 1024 positions), random weights, with
scripts/fixtures/torch_gpt2.py as the model (explicit attention that keeps its probabilities, as the
engine does):
  forward_lm     B=1, T=256: forward with the tied LM head (logits for every position)
  forward_body   B=1, T=256: forward without the LM head
  forward_backward  B=1, T=256: forward, mean next-token cross-entropy, backward into parameter
                 gradients (zeroed in place before each run)
  sample         batch 16, 16-token prompts, 64 new tokens each: prefill, then one token at a time
                 through a preallocated KV cache, multinomial sampling at temperature 1 (by
                 inverse CDF, see draw());
                 reported as tokens/s = 16 * 64 / seconds
Each is run --warmup times, then --repeat times; the median is reported.

Threads: --threads sets torch.set_num_threads (intra-op, OpenMP); --openblas-threads sets
OPENBLAS_NUM_THREADS before torch loads (Debian's torch does its GEMMs in OpenBLAS). Both are reported,
with the thread count OpenBLAS itself answers. docs/design.md §9 found torch 1 thread + OpenBLAS 2 best on
the 2-core reference machine.

Run from the repository root with Debian's torch (system Python):
  /usr/bin/python3 benchmarks/compare/torch_peer.py --threads 1 --openblas-threads 2 --json peer.json
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

WORK = ("forward_lm", "forward_body", "forward_backward", "sample")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--openblas-threads", type=int, default=None,
                   help="OPENBLAS_NUM_THREADS (default: the environment's, else 2)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    p.add_argument("--only", default=",".join(WORK), help="comma-separated subset of " + ",".join(WORK))
    p.add_argument("--seq-len", type=int, default=256, help="T for the forward/backward runs (default 256)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args()
    unknown = set(args.only.split(",")) - set(WORK)
    if unknown:
        p.error(f"--only: unknown {sorted(unknown)} (expected some of {','.join(WORK)})")
    return args


def openblas_info():
    """(threads, config) of the OpenBLAS this process loaded, or (None, None) when there is none."""
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "blas" in line and line.rstrip().endswith((".so.0", ".so.3"))})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib.openblas_get_num_threads(), lib.openblas_get_config().decode()
        except (OSError, AttributeError):
            continue
    return None, None


def timed(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main():
    args = parse_args()
    if args.openblas_threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.openblas_threads)
    else:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
    import torch  # after OPENBLAS_NUM_THREADS is set: OpenBLAS reads it once, when it loads
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "fixtures"))
    from torch_gpt2 import GPT2, GPT2Config, next_token_loss_sum

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    blas_threads, blas_config = openblas_info()
    setting = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
               "OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"],
               "openblas_threads": blas_threads, "openblas_config": blas_config, "cpus": os.cpu_count(),
               "loadavg_1min_before": os.getloadavg()[0]}
    print("setting: " + ", ".join(f"{k} {v}" for k, v in setting.items()), flush=True)

    cfg = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
    model = GPT2(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("ln_f."):
                p.copy_(torch.ones_like(p) if name.endswith(".weight") else torch.zeros_like(p))
            else:
                p.normal_(0.0, 0.02)
    T = args.seq_len
    idx = torch.randint(0, cfg.vocab_size, (1, T))

    def forward_lm():
        with torch.no_grad():
            return model.lm_logits(model(idx)[0])  # [1, T, V]

    def forward_body():
        with torch.no_grad():
            return model(idx)[0]  # [1, T, d]

    def forward_backward():
        model.zero_grad(set_to_none=False)
        loss = next_token_loss_sum(model.lm_logits(model(idx)[0])[0], idx[0]) / (T - 1)
        loss.backward()
        return loss

    batch, prompt_len, new_tokens = 16, 16, 64
    prompts = torch.randint(0, cfg.vocab_size, (batch, prompt_len))
    sampler = torch.Generator().manual_seed(args.seed)

    def draw(probs):
        """One token per row, by inverse CDF: the first id whose cumulative probability exceeds u.
        The same distribution as torch.multinomial, which is ~25 ms per call here against ~1 ms."""
        cdf = probs.cumsum(dim=-1)                                  # [16, V]
        u = torch.rand(probs.shape[0], 1, generator=sampler) * cdf[:, -1:]
        return torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[-1] - 1)

    def sample():
        with torch.no_grad():
            cache = model.new_cache(batch, prompt_len + new_tokens)
            h = model(prompts, cache)[0]                           # prefill: [16, 16, d]
            out = []
            for i in range(new_tokens):
                probs = torch.softmax(model.lm_logits(h[:, -1]), dim=-1)  # temperature 1: [16, V]
                tok = draw(probs)                                   # [16, 1]
                out.append(tok)
                if i + 1 < new_tokens:
                    h = model(tok, cache)[0]                        # one position: [16, 1, d]
            return torch.cat(out, dim=1)                            # [16, 64]

    results = {}
    for name in WORK:
        if name not in args.only.split(","):
            continue
        times = timed(locals()[name], args.warmup, args.repeat)
        med = statistics.median(times)
        r = {"median_s": med, "times_s": times}
        line = f"{name:18s} median {med:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times)})"
        if name == "sample":
            r["tokens_per_s"] = batch * new_tokens / med
            line += f"  {r['tokens_per_s']:.1f} tokens/s"
        results[name] = r
        print(line, flush=True)

    # Other work on the machine shows here: a load well above the threads in use means contended figures.
    setting["loadavg_1min_after"] = os.getloadavg()[0]
    print(f"load average (1 min): {setting['loadavg_1min_before']:.2f} before, {setting['loadavg_1min_after']:.2f} after")
    if args.json:
        doc = {"setting": setting, "model": "gpt2-124M shape, random float32 weights", "seq_len": T,
               "sample": {"batch": batch, "prompt_len": prompt_len, "new_tokens": new_tokens, "temperature": 1.0},
               "warmup": args.warmup, "repeat": args.repeat, "results": results}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
