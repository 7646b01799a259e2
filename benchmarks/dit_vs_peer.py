"""Time our DiT against diffusers' WanTransformer3DModel at the same size, in one run.

Same width, depth, heads, MLP width, text length and token count; same dtype (fp32, or
bf16 autocast for both); same threads. Each repetition times ours and the peer back to
back (so both see the same machine load), after warm-up; medians are reported.
The peer gets one timestep per clip (the cheapest form it accepts); ours gets one per
latent frame, as it always does.

With other work on the machine, wall times swing; the CPU-time ratios (process time)
are printed beside them, and the 1-minute load average says how busy the machine was.

MFU = analytic matmul FLOPs of our forward (`spacetime.dit.forward_flops`; x3 for a
training step) / time / the matmul peak measured in this run for the same dtype.

    python benchmarks/dit_vs_peer.py                  # width 256, 8 layers, 1584 tokens, fp32
    python benchmarks/dit_vs_peer.py --dtype bf16
    python benchmarks/dit_vs_peer.py --dtype bf16 --compile    # both models' blocks compiled

Prints a table, then one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import nullcontext

import torch

from spacetime.dit import DiT, DiTConfig, forward_flops


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 7) -> float:
    """Best FLOP/s of an n x n x n matmul in `dtype` (the machine's practical peak)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--mlp-ratio", type=float, default=4.0)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--latent", type=int, nargs=3, default=(11, 12, 48), metavar=("T", "H", "W"),
                   help="latent frames, height, width (default 11 12 48: 11 x 6 x 24 = 1584 tokens)")
    p.add_argument("--text-len", type=int, default=64)
    p.add_argument("--text-dim", type=int, default=384)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: what torch uses already)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile each transformer block of both models first (as train.compile does)")
    args = p.parse_args()

    from diffusers import WanTransformer3DModel

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if dtype == torch.bfloat16 else nullcontext

    config = DiTConfig(
        in_channels=args.channels, text_dim=args.text_dim, dim=args.dim, depth=args.depth, heads=args.heads,
        mlp_ratio=args.mlp_ratio,
    )
    ours = DiT(config)
    peer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=args.heads, attention_head_dim=args.dim // args.heads,
        in_channels=args.channels, out_channels=args.channels, text_dim=args.text_dim, freq_dim=256,
        ffn_dim=config.mlp_dim, num_layers=args.depth,
    )
    if args.compile:  # both sides alike; compiling happens in the warm-up calls
        for block in [*ours.blocks, *peer.blocks]:
            block.compile()
    T, H, W = args.latent
    B = args.batch
    tokens = T * (H // 2) * (W // 2)
    x = torch.randn(B, args.channels, T, H, W)
    text = torch.randn(B, args.text_len, args.text_dim)
    mask = torch.ones(B, args.text_len, dtype=torch.bool)
    t_frames = torch.full((B, T), 0.5)
    t_peer = torch.full((B,), 500.0)
    target = torch.randn_like(x)

    def ours_fwd():
        return ours(x, t_frames, text, mask)

    def peer_fwd():
        return peer(x, t_peer, text, return_dict=False)[0]

    def train_step(model, fwd, opt):
        def step():
            with autocast():
                v = fwd()
            loss = (v.float() - target).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    def forward_only(fwd):
        def run():
            with torch.no_grad(), autocast():
                fwd()

        return run

    jobs = {
        "fwd": (forward_only(ours_fwd), forward_only(peer_fwd)),
        "train": (
            train_step(ours, ours_fwd, torch.optim.AdamW(ours.parameters(), lr=1e-4)),
            train_step(peer, peer_fwd, torch.optim.AdamW(peer.parameters(), lr=1e-4)),
        ),
    }
    times, cpu_times = {}, {}
    for name, (ours_job, peer_job) in jobs.items():
        for _ in range(args.warmup):
            ours_job(), peer_job()
        ours_t, peer_t = [], []
        for _ in range(args.reps):
            ours_t.append(timed(ours_job))
            peer_t.append(timed(peer_job))
        times[name] = (statistics.median(w for w, _ in ours_t), statistics.median(w for w, _ in peer_t))
        cpu_times[name] = (statistics.median(c for _, c in ours_t), statistics.median(c for _, c in peer_t))

    peak = matmul_peak(dtype)
    flops = forward_flops(config, tokens, args.text_len, batch=B)
    fwd_ours, fwd_peer = times["fwd"]
    train_ours, train_peer = times["train"]
    result = {
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "tokens": tokens,
        "text_len": args.text_len,
        "batch": B,
        "params_ours": ours.num_params(),
        "params_peer": sum(p.numel() for p in peer.parameters()),
        "fwd_s_ours": round(fwd_ours, 4),
        "fwd_s_peer": round(fwd_peer, 4),
        "train_s_ours": round(train_ours, 4),
        "train_s_peer": round(train_peer, 4),
        "fwd_speedup": round(fwd_peer / fwd_ours, 3),
        "train_speedup": round(train_peer / train_ours, 3),
        # The same ratios from CPU time: steadier than wall time when others load the machine.
        "fwd_speedup_cpu_time": round(cpu_times["fwd"][1] / cpu_times["fwd"][0], 3),
        "train_speedup_cpu_time": round(cpu_times["train"][1] / cpu_times["train"][0], 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "fwd_gflop": round(flops / 1e9, 2),
        "peak_gflops": round(peak / 1e9, 1),
        "mfu": round(flops / fwd_ours / peak, 3),
        "train_mfu": round(3 * flops / train_ours / peak, 3),
        "reps": args.reps,
        "compiled": args.compile,
    }
    print(f"{'':10}{'ours':>10}{'peer':>10}{'speedup':>10}")
    print(f"{'fwd s':10}{fwd_ours:10.3f}{fwd_peer:10.3f}{result['fwd_speedup']:10.2f}")
    print(f"{'train s':10}{train_ours:10.3f}{train_peer:10.3f}{result['train_speedup']:10.2f}")
    print(f"params ours {result['params_ours'] / 1e6:.2f}M, peer {result['params_peer'] / 1e6:.2f}M; {tokens} tokens; "
          f"{args.dtype}; forward {result['fwd_gflop']} GFLOP; peak {result['peak_gflops']} GFLOP/s; "
          f"MFU fwd {result['mfu']:.2f}, train {result['train_mfu']:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
