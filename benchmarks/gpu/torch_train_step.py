#!/usr/bin/env python3
"""The PyTorch peer of org.densify.benchmarks.gpu.TrainStepBenchmark: the same GPT-2 training step in eager mode.

  train   random-init GPT-2 (124M: 12 layers, d 768, 12 heads, vocab 50257, or --model tiny), B sequences
          of T random tokens (the same batch every step, so the loss must fall), forward with every logit,
          mean next-token cross-entropy, backward, clip_grad_norm_(1.0), torch.optim.AdamW (lr 1e-4,
          betas 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices and embeddings, none on biases and
          layer norms, as the engine). Warm-up steps, then timed steps; tokens/s = B T / median step.
  reward  a one-label classifier on the same body, forward under no_grad, scores copied to the host;
          "capture" also copies the last layer's last attention row (mean over heads) to the host.
          The explicit attention of torch_gpt2.py computes the probabilities either way, so the
          capture costs only the gather here; the figure is the reward pass's time.

The model is scripts/fixtures/torch_gpt2.py (explicit attention keeping its probabilities, as the
engine does). --sdpa swaps its attention core for F.scaled_dot_product_attention (fused/flash, torch
>= 2.0): what a tuned PyTorch reaches, a yardstick beyond the like-for-like figure.
fp32 throughout; --tf32 sets torch.backends.cuda.matmul.allow_tf32 = True (TF32 tensor-core GEMMs).
Each timed step ends with loss.item() and torch.cuda.synchronize(), so queued work is counted.

  python3 benchmarks/gpu/torch_train_step.py --device cuda [--tf32] [--json out.json]
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="cuda or cpu (default cuda)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 tensor-core matmuls")
    p.add_argument("--sdpa", action="store_true", help="attention through F.scaled_dot_product_attention")
    p.add_argument("--model", default="gpt2", choices=("gpt2", "tiny"))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--work", default="train", choices=("train", "reward", "all"))
    p.add_argument("--reward-batch", type=int, default=16)
    p.add_argument("--reward-seqs", default="24,512")
    p.add_argument("--reward-reps", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (cpu)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    if not 2 <= args.seq <= 1024:
        p.error("--seq must be within [2, 1024]")
    return args


def config(model, labels):
    from torch_gpt2 import GPT2Config
    if model == "gpt2":
        return GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, num_labels=labels)
    return GPT2Config(vocab_size=2048, n_positions=1024, n_embd=128, n_layer=2, n_head=4, num_labels=labels)


def initialize(model, n_layer):
    """GPT-2's initialisation, as Gpt2Model.initialize: normal(0, 0.02), c_proj scaled by 1/sqrt(2 L), biases 0, LN 1."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("ln_f."):
                p.fill_(1.0 if name.endswith(".weight") else 0.0)
            elif p.dim() >= 2:
                p.normal_(0.0, 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02)
            else:
                p.zero_()


def use_sdpa():
    """Replaces torch_gpt2.Attention.forward (no cache) by fused scaled-dot-product attention."""
    import torch.nn.functional as F
    import torch_gpt2
    if not hasattr(F, "scaled_dot_product_attention"):
        sys.exit("--sdpa needs torch >= 2.0")

    def forward(self, x, cache=None):
        B, T, d = x.shape
        H = self.n_head
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (t.view(B, T, H, d // H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, d)), None

    torch_gpt2.Attention.forward = forward


def main():
    args = parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "fixtures"))
    import torch
    import torch.nn.functional as F
    from torch_gpt2 import GPT2

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    if args.sdpa:
        use_sdpa()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    card = torch.cuda.get_device_name(device) if cuda else "cpu"
    doc = {"impl": "torch" + ("-sdpa" if args.sdpa else ""), "device": args.device, "card": card, "tf32": args.tf32,
           "model": args.model, "torch": torch.__version__}
    cfg = config(args.model, 0)
    print(f"torch {torch.__version__}: device {args.device} ({card}), tf32 {'on' if args.tf32 else 'off'}, "
          f"attention {'sdpa' if args.sdpa else 'explicit'}, model {args.model} ({cfg.n_layer} layers, d {cfg.n_embd}, "
          f"{cfg.n_head} heads, vocab {cfg.vocab_size})", flush=True)

    if args.work in ("train", "all"):
        torch.manual_seed(args.seed)
        model = GPT2(cfg).to(device)
        initialize(model, cfg.n_layer)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
        idx = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), device=device)
        losses, seconds = [], []
        for i in range(args.warmup + args.steps):
            sync()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            h, _ = model(idx)
            logits = model.lm_logits(h)                                      # [B, T, V]
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, cfg.vocab_size), idx[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            sync()
            s = time.perf_counter() - t0
            if i >= args.warmup:
                seconds.append(s)
            print(f"  {'warm-up' if i < args.warmup else 'timed'} step {i + 1}: {s:.4f} s, loss {losses[-1]:.4f}", flush=True)
        med = statistics.median(seconds)
        tps = args.batch * args.seq / med
        print(f"train step: B {args.batch} x T {args.seq}, median {med:.4f} s over {args.steps} steps, {tps:.0f} tokens/s, "
              f"loss {losses[0]:.4f} -> {losses[-1]:.4f}", flush=True)
        doc["train"] = {"batch": args.batch, "seq": args.seq, "warmup": args.warmup, "steps": args.steps, "median_s": med,
                        "tokens_per_s": tps, "loss_first": losses[0], "loss_last": losses[-1], "step_s": seconds}
        if cuda:
            doc["train"]["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
        del model, opt, logits, loss, h
        if cuda:
            torch.cuda.empty_cache()

    if args.work in ("reward", "all"):
        rcfg = config(args.model, 1)
        torch.manual_seed(args.seed)
        model = GPT2(rcfg).to(device).eval()
        initialize(model, rcfg.n_layer)
        rows = []
        for T in (int(t) for t in args.reward_seqs.split(",")):
            idx = torch.randint(0, rcfg.vocab_size, (args.reward_batch, T), device=device)

            def plain():
                with torch.no_grad():
                    return model.classify(model(idx)[0]).cpu()

            def capture():
                with torch.no_grad():
                    h, probs = model(idx)
                    scores = model.classify(h).cpu()
                    last = None if probs[-1] is None else probs[-1][:, :, -1, :].mean(dim=1).cpu()  # [B, T]
                    return scores, last

            warm = max(5, args.reward_reps // 2)
            a, b = [], []
            for i in range(-warm, args.reward_reps):
                t0 = time.perf_counter()
                plain()
                t1 = time.perf_counter()
                capture()
                t2 = time.perf_counter()
                if i >= 0:
                    a.append(t1 - t0)
                    b.append(t2 - t1)
            ma, mb = statistics.median(a), statistics.median(b)
            print(f"reward pass: B {args.reward_batch} x T {T}, capture none {ma * 1e3:.3f} ms, last row {mb * 1e3:.3f} ms, "
                  f"overhead {(mb - ma) / ma * 100:+.2f}%", flush=True)
            rows.append({"batch": args.reward_batch, "seq": T, "reps": args.reward_reps, "none_s": ma, "last_row_s": mb,
                         "overhead_pct": (mb - ma) / ma * 100})
        doc["reward"] = rows

    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
