#!/usr/bin/env python3
"""The PyTorch side of the PPO-step benchmark: one RLHF step at the paper's IMDb setting, in float32.

Per step (docs/design.md sections 2-3), with scripts/fixtures/torch_gpt2.py as the model and
scripts/fixtures/torch_ppo.py as TRL 0.7.4's step:
  generation  batch 16, prompts of 2..8 random tokens, 8..16 new tokens per sequence (drawn per
              sequence), pure sampling at temperature 1 through a KV cache. Prompts are left-padded
              with masked pad keys and per-row positions from 0 (what Hugging Face's generate does),
              so all 16 go through each forward together; every row runs max(N) steps and keeps its own N.
              (The paper's rlhf_imdb.py draws N with LengthSampler(8, 16), i.e. 8..15, and calls
              generate one prompt at a time.)
  reward      the reward model (a GPT-2 classifier, 2 labels) on q ++ r, right-padded, read at each
              row's last token: R = logit[1] - logit[0]. With --capture the dense ABC credit is made
              from the head-mean last row of the last layer's attention (beta 0.8); without, R goes on
              the last token (sparse).
  reference   the rollout forward (policy logprobs and values) and the frozen reference forward,
              rewards, GAE and whitening (torch_ppo.prepare)
  update      ppo_epochs 4 over minibatches of 1: forward, loss, backward, Adam (lr 1.41e-5), each
              minibatch cut to its own length; then the adaptive KL update
Random weights, GPT-2 124M shapes by default (--layers/--d/--heads/--vocab for small ones).

Threads (CPU): --threads sets torch.set_num_threads; --openblas-threads sets OPENBLAS_NUM_THREADS
before torch loads (Debian's torch does its GEMMs in OpenBLAS; docs/design.md section 9 found torch 1 +
OpenBLAS 2 best on the 2-core machine). CUDA: float32, TF32 off unless --tf32.

Prints one line per step, then the median seconds per step of each phase as one JSON line.
  /usr/bin/python3 benchmarks/compare/torch_ppo_peer.py --device cpu --steps 3 --threads 1 --openblas-threads 2
  /usr/bin/python3 benchmarks/compare/torch_ppo_peer.py --layers 2 --d 64 --heads 2 --vocab 512 --steps 2  # tiny
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

PHASES = ("generation", "reward", "reference", "update")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--steps", type=int, default=3, help="timed PPO steps (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--openblas-threads", type=int, default=None,
                   help="OPENBLAS_NUM_THREADS (default: the environment's, else 2)")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--positions", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--capture", action="store_true", help="ABC credit from the reward model's attention")
    p.add_argument("--beta", type=float, default=0.8, help="ABC's beta (with --capture)")
    p.add_argument("--epochs", type=int, default=4, help="ppo_epochs (default 4)")
    p.add_argument("--mini-batch", type=int, default=1, help="mini_batch_size (default 1)")
    p.add_argument("--forward-chunk", type=int, default=None,
                   help="rows per rollout/reference forward (default all; TRL uses mini_batch_size)")
    p.add_argument("--tf32", action="store_true", help="CUDA: allow TF32 matmuls")
    p.add_argument("--check", action="store_true",
                   help="first check the padded batched sampling against unpadded single-sequence forwards")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    return p.parse_args()


def main():
    args = parse_args()
    if args.openblas_threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.openblas_threads)
    else:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
    import numpy as np
    import torch  # after OPENBLAS_NUM_THREADS: OpenBLAS reads it once, when it loads
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "fixtures"))
    import torch_ppo as ppo
    from torch_gpt2 import GPT2, GPT2Config

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def init(model):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ".ln_" in name or name.startswith("ln_f."):
                    p.copy_(torch.ones_like(p) if name.endswith(".weight") else torch.zeros_like(p))
                else:
                    p.normal_(0.0, 0.02)
        return model.to(device)

    shape = dict(vocab_size=args.vocab, n_positions=args.positions, n_embd=args.d, n_layer=args.layers,
                 n_head=args.heads)
    policy = init(GPT2(GPT2Config(**shape, value_head=True)))
    ref = GPT2(GPT2Config(**shape)).to(device)
    ref.load_state_dict({k: v for k, v in policy.state_dict().items() if not k.startswith("v_head.")})
    reward_model = init(GPT2(GPT2Config(**shape, num_labels=2)))
    for m in (ref, reward_model):
        m.requires_grad_(False)
    hp = ppo.PPOHyper(ppo_epochs=args.epochs, mini_batch_size=args.mini_batch, batch_size=args.batch)
    optimizer = ppo.make_optimizer(policy, hp)
    kl_ctl = ppo.AdaptiveKLController(hp.init_kl_coef, hp.target, hp.horizon)
    sampler = torch.Generator(device=device).manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    class Cache:
        """One layer's keys and values on the device: k, v [B, H, capacity, hs], `length` filled."""

        def __init__(self, B, capacity):
            hs = args.d // args.heads
            self.k = torch.empty(B, args.heads, capacity, hs, device=device)
            self.v = torch.empty_like(self.k)
            self.length = 0

        def append(self, k, v):
            end = self.length + k.shape[2]
            self.k[:, :, self.length:end], self.v[:, :, self.length:end] = k, v
            self.length = end
            return self.k[:, :, :end], self.v[:, :, :end]

    def ragged_forward(model, idx, pos, key_ok, caches):
        """torch_gpt2's forward with a key padding mask and per-row positions: idx, pos [B, T];
        key_ok [B, T_past + T] (False on pad keys) -> h [B, T, d] after ln_f. Pad keys get the
        dtype's lowest finite score, so an all-pad query row stays finite (and is never read)."""
        x = model.wte(idx) + model.wpe(pos)
        B, T, d = x.shape
        for block, cache in zip(model.h, caches):
            attn, H = block.attn, args.heads
            q, k, v = attn.c_attn(block.ln_1(x)).split(d, dim=2)
            q, k, v = (t.view(B, T, H, d // H).transpose(1, 2) for t in (q, k, v))
            k, v = cache.append(k, v)
            t_past = k.shape[2] - T
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // H)          # [B, H, T, t_past + T]
            scores = scores.masked_fill(~key_ok[:, None, None, :], torch.finfo(scores.dtype).min)
            future = torch.ones(T, t_past + T, dtype=torch.bool, device=device).triu(t_past + 1)
            probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
            x = x + attn.c_proj((probs @ v).transpose(1, 2).reshape(B, T, d))
            x = x + block.mlp(block.ln_2(x))
        return model.ln_f(x)

    def draw(probs):
        """One token per row by inverse CDF (torch.multinomial is far slower on the CPU)."""
        cdf = probs.cumsum(dim=-1)
        u = torch.rand(probs.shape[0], 1, generator=sampler, device=device) * cdf[:, -1:]
        return torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[-1] - 1)   # [B, 1]

    def generate(prompts, n_new, record=None):
        """-> the new tokens of each row; record (a list) receives each step's logits [B, V]."""
        B, P = len(prompts), [len(q) for q in prompts]
        Pmax, steps = max(P), max(n_new)
        with torch.no_grad():
            idx = torch.zeros(B, Pmax, dtype=torch.int64, device=device)
            key_ok = torch.ones(B, Pmax + steps, dtype=torch.bool, device=device)
            for b, q in enumerate(prompts):
                idx[b, Pmax - P[b]:] = q
                key_ok[b, :Pmax - P[b]] = False
            start = torch.tensor(P, device=device)[:, None]                                  # [B, 1]
            pos = (torch.arange(Pmax, device=device)[None] - (Pmax - start)).clamp(min=0)    # [B, Pmax]
            caches = [Cache(B, Pmax + steps) for _ in range(args.layers)]
            h = ragged_forward(policy, idx, pos, key_ok[:, :Pmax], caches)                  # prefill
            out = []
            for i in range(steps):
                logits = policy.lm_logits(h[:, -1])                                          # [B, V]
                if record is not None:
                    record.append(logits)
                tok = draw(torch.softmax(logits, dim=-1))
                out.append(tok)
                if i + 1 < steps:
                    h = ragged_forward(policy, tok, start + i, key_ok[:, :Pmax + i + 1], caches)
            out = torch.cat(out, dim=1)                                                      # [B, steps]
        return [out[b, :n_new[b]] for b in range(B)]

    def reward(queries, responses):
        """-> per-token scores [N_b] per row: ABC credit with --capture, else R on the last token."""
        ids, _, lengths = ppo.pad_batch(queries, responses)
        with torch.no_grad():
            h, probs = reward_model(ids)
            last = torch.tensor(lengths, device=device) - 1
            rows = torch.arange(len(queries), device=device)
            logits = h[rows, last] @ reward_model.score.weight.t()                          # [B, 2]
            R = logits[:, 1] - logits[:, 0]
            if args.capture:
                last_row = probs[-1].mean(dim=1)[rows, last]                                # [B, T]
            scores = []
            for b, (q, r) in enumerate(zip(queries, responses)):
                s = torch.zeros(len(r), device=device)
                if args.capture:
                    alpha = last_row[b, len(q):lengths[b]]
                    s = args.beta * R[b] * alpha / alpha.sum()
                    s[-1] += (1 - args.beta) * R[b]
                else:
                    s[-1] = R[b]
                scores.append(s)
        return scores

    def one_step():
        times = {}
        sync()
        t = time.perf_counter()

        def mark(phase):
            nonlocal t
            sync()
            now = time.perf_counter()
            times[phase] = now - t
            t = now

        P = rng.randint(2, 9, size=args.batch).tolist()
        N = rng.randint(8, 17, size=args.batch).tolist()
        queries = [torch.randint(0, args.vocab, (p,), device=device) for p in P]
        responses = generate(queries, N)
        mark("generation")
        scores = reward(queries, responses)
        mark("reward")
        orders = [rng.permutation(args.batch).tolist() for _ in range(hp.ppo_epochs)]
        batch = ppo.step(policy, ref, optimizer, kl_ctl, queries, responses, scores, hp, orders,
                         chunk=args.forward_chunk, mark=mark)
        times["total"] = sum(times.values())
        return times, dict(prompt_tokens=sum(P), new_tokens=sum(N), mean_kl=ppo.mean_kl(batch),
                           kl_coef=kl_ctl.value,
                           loss=torch.stack([s["loss"] for s in batch.minibatch_stats]).mean().item())

    setting = {"torch": torch.__version__, "device": str(device), "torch_threads": torch.get_num_threads(),
               "OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"], "cpus": os.cpu_count(),
               "loadavg_1min_before": os.getloadavg()[0]}
    if device.type == "cuda":
        setting.update(gpu=torch.cuda.get_device_name(device), tf32=torch.backends.cuda.matmul.allow_tf32)
    print("setting: " + ", ".join(f"{k} {v}" for k, v in setting.items()), flush=True)

    if args.check:
        P = rng.randint(2, 9, size=args.batch).tolist()
        N = rng.randint(8, 17, size=args.batch).tolist()
        queries = [torch.randint(0, args.vocab, (p,), device=device) for p in P]
        record = []
        responses = generate(queries, N, record)
        record = torch.stack(record, dim=1)                                                  # [B, steps, V]
        worst = 0.0
        with torch.no_grad():
            for b, (q, r) in enumerate(zip(queries, responses)):
                alone = policy.lm_logits(policy(torch.cat([q, r])[None])[0][0])[len(q) - 1:-1]  # [N, V]
                worst = max(worst, (alone - record[b, :len(r)]).abs().max().item())
        print(f"check: padded batched sampling vs one sequence at a time, max |logits difference| {worst:.2e}")
        if not worst < 1e-4:
            sys.exit("check failed")

    runs = []
    for i in range(args.warmup + args.steps):
        times, info = one_step()
        tag = "warmup" if i < args.warmup else "step"
        print(f"{tag} {i}: " + ", ".join(f"{k} {v:.3f} s" for k, v in times.items())
              + f"  ({info['prompt_tokens']} prompt + {info['new_tokens']} new tokens, mean_kl {info['mean_kl']:.4f}, "
              f"kl_coef {info['kl_coef']:.6f}, mean loss {info['loss']:.4f})", flush=True)
        if i >= args.warmup:
            runs.append(times)
    setting["loadavg_1min_after"] = os.getloadavg()[0]
    result = {
        "what": "torch PPO step (TRL 0.7.4 math)", "setting": setting,
        "model": dict(layers=args.layers, d=args.d, heads=args.heads, vocab=args.vocab, value_head=True,
                      reward_model="same shape, 2 labels", weights="random float32"),
        "ppo": dict(batch=args.batch, prompt_tokens="2..8", new_tokens="8..16", epochs=args.epochs,
                    mini_batch=args.mini_batch, credit="abc" if args.capture else "sparse", lr=hp.learning_rate),
        "steps": args.steps, "warmup": args.warmup,
        "seconds_per_step": {k: statistics.median(r[k] for r in runs) for k in PHASES + ("total",)},
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(result, runs=runs), f, indent=1)
            f.write("\n")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
