"""Training throughput: samples/s and tokens/s of DiT training, 1 process vs 2 (DDP and FSDP2 on gloo).

    python benchmarks/train_throughput.py                      # DiTConfig's default size (9.3M), 17x128x128 clips
    python benchmarks/train_throughput.py --steps 20 --global-batch 8 --preset tiny

The same global batch in every setting: 1 process x B clips, or 2 processes x B/2 (torchrun,
gloo, OMP_NUM_THREADS = cores / processes). The data are fixed random latents and text
states (a latent cache's batches), so the numbers are the training system's: forward,
backward, gradient all-reduce or FSDP2 gathers, optimizer, EMA. Reported values are
medians over the steps after `--warmup`, read from each run's metrics.jsonl. Prints a
table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# name: (processes, strategy, threads per process; 0 = cores / processes)
SETTINGS = {"1 process": (1, "none", 0), "1 process 1 thread": (1, "none", 1),
            "2 x DDP": (2, "ddp", 0), "2 x FSDP2": (2, "fsdp", 0)}


class RandomLatents:
    """Micro-batch i: fixed random latents (B, C, T', h, w) + text states, the shape of a latent-cache batch."""

    def __init__(self, batch: int, shape: tuple, text_len: int, text_dim: int, rank: int):
        self.size, self.shape, self.text_len, self.text_dim, self.rank = batch, shape, text_len, text_dim, rank

    def batch(self, index: int) -> dict:
        g = torch.Generator().manual_seed(index * 1000 + self.rank)
        return {"latents": torch.randn(self.size, *self.shape, generator=g),
                "text": torch.randn(self.size, self.text_len, self.text_dim, generator=g),
                "text_mask": torch.ones(self.size, self.text_len, dtype=torch.bool)}

    def position(self, index: int) -> dict:
        return {"micro_batches": index}


def worker(args) -> None:
    from spacetime.train.config import load_config
    from spacetime.train.loop import train
    from spacetime.train.tasks import DiTTask

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    overrides = [f'run.dir="{args.run_dir}"', f"model.preset={args.preset}", "model.vae=tiny", "train.text_drop=0",
                 f"train.steps={args.steps}", "train.checkpoint_every=0", "train.peak_flops=" + str(args.peak_flops),
                 f"parallel.strategy={args.strategy}", "train.keep_checkpoints=1", "train.lr=1e-4",
                 f"data.batch_size={args.global_batch // world_size}"]
    config = load_config(None, overrides)
    task = DiTTask(config, torch.device("cpu"))
    frames, height, width = args.shape
    from spacetime.vae import latent_frames

    shape = (task.vae.config.latent_channels, latent_frames(frames), height // 8, width // 8)
    source = RandomLatents(args.global_batch // world_size, shape, 24, task.text_encoder.dim, rank)
    train(config, task=task, source=source, progress=False)


def run(setting: str, args, cores: int) -> dict:
    nproc, strategy, threads = SETTINGS[setting]
    threads = threads or max(1, cores // nproc)
    run_dir = Path(tempfile.mkdtemp(prefix="train_throughput_"))
    worker_args = ["--worker", "--run-dir", str(run_dir), "--strategy", strategy, "--steps", str(args.steps),
                   "--global-batch", str(args.global_batch), "--preset", args.preset,
                   "--shape", *map(str, args.shape), "--peak-flops", str(args.peak_flops / nproc)]
    script = str(Path(__file__).resolve())
    if nproc == 1:
        cmd = [sys.executable, script, *worker_args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-port", str(29500 + os.getpid() % 1000), script, *worker_args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    tic = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if out.returncode != 0:
        raise SystemExit(f"{setting} failed:\n{(out.stdout + out.stderr)[-3000:]}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = records[args.warmup:]
    return {
        "setting": setting, "processes": nproc, "threads_per_process": threads,
        "samples_per_s": statistics.median(r["samples_per_s"] for r in timed),
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in timed),
        "step_seconds": statistics.median(r["step_seconds"] for r in timed),
        "mfu": statistics.median(r["mfu"] for r in timed),
        "final_loss": records[-1]["loss"], "wall_seconds": wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=4, help="steps left out of the medians")
    p.add_argument("--global-batch", type=int, default=8)
    p.add_argument("--preset", default="", help='DiT preset ("" = DiTConfig defaults, the embedded size)')
    p.add_argument("--shape", type=int, nargs=3, default=[17, 128, 128], metavar=("FRAMES", "HEIGHT", "WIDTH"))
    p.add_argument("--peak-flops", type=float, default=180e9,
                   help="the machine's peak FLOP/s, shared by its processes, for MFU (this 2-core CPU, fp32: 180e9)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    p.add_argument("--strategy", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.global_batch % 2:
        raise SystemExit("--global-batch must be even (it is split over 2 processes)")
    cores = os.cpu_count() or 1
    results = [run(setting, args, cores) for setting in args.settings]
    print(f"DiT preset {args.preset or 'default'}, clips {tuple(args.shape)}, global batch {args.global_batch}, "
          f"{args.steps} steps ({args.warmup} warm-up), {cores} CPU cores, torch {torch.__version__}")
    print(f"{'setting':<19} {'procs':>5} {'threads':>7} {'samples/s':>10} {'tokens/s':>10} {'s/step':>8} {'MFU':>7}")
    for r in results:
        print(f"{r['setting']:<19} {r['processes']:>5} {r['threads_per_process']:>7} {r['samples_per_s']:>10.2f} "
              f"{r['tokens_per_s']:>10.0f} {r['step_seconds']:>8.3f} {r['mfu']:>7.1%}")
    print(json.dumps({"benchmark": "train_throughput", "preset": args.preset or "default", "shape": args.shape,
                      "global_batch": args.global_batch, "cores": cores, "results": results}))


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
