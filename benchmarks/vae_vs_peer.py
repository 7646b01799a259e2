"""Encode/decode time of our VAE vs a Wan-2.1-style VAE at base width 32, and our PSNR.

    .venv/bin/python benchmarks/vae_vs_peer.py [--vae FOLDER] [--reps 5] [--peer-reps 3] [--no-peer]

Clip: 41 frames of 256x144 (11 latent frames of 32x18). Times are medians over
repetitions after one warm-up run, single process, all cores torch uses by default;
wall seconds and process CPU seconds (the machine may be shared; see the load average).
Peer: diffusers `AutoencoderKLWan(base_dim=32)` (14M parameters) with RANDOM weights:
its speed does not depend on its weights, so it is timed only (no peer PSNR).
Ours: `--vae FOLDER` (trained weights) or, without it, the embedded preset with random
weights: then the PSNR column measures nothing and is reported as null.
PSNR (dB, uint8 scale) on world clips (`spacetime.world`, 256x144, 24 fps, 41 frames) and
on the real clips of ../shared/testdata (first 41 frames, resized to 256x144).
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata" / "videos"
REAL_CLIPS = ("in.mp4", "flipping_a_pancake.mkv")
T, H, W = 41, 144, 256


def median_time(fn, reps: int) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds (all threads) over `reps` runs after a warm-up.

    CPU seconds are reported because this machine is shared: under load the wall time
    grows while the CPU time of the work stays about the same."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def world_clips(count: int) -> list[torch.Tensor]:
    from spacetime.video import frames_to_tensor
    from spacetime.world import render, sample_scene

    rng = np.random.default_rng(1234)
    clips = []
    for _ in range(count):
        scene = sample_scene(rng, seconds=T / 24, aspect=W / H)
        clips.append(frames_to_tensor(render(scene, W, H, fps=24, num_frames=T))[None])
    return clips


def real_clips() -> dict[str, torch.Tensor]:
    from spacetime.video import frames_to_tensor, read_video, resize_frames

    return {
        name: frames_to_tensor(resize_frames(read_video(TESTDATA / name, max_frames=T).frames, W, H))[None]
        for name in REAL_CLIPS
    }


def roundtrip_psnr(vae, video: torch.Tensor, autocast: bool) -> float:
    from spacetime.vae_loss import psnr
    from spacetime.video import frames_to_tensor, tensor_to_frames

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        recon = vae.decode_latents(vae.encode_latents(video), num_frames=video.shape[2])
    restored = frames_to_tensor(tensor_to_frames(recon.float()))[None]  # through uint8, as a user sees it
    return psnr(restored, video).item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", help="trained VAE folder; default: embedded preset, random weights (timing only)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--peer-reps", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--world-clips", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_grad_enabled(False)

    from spacetime.vae import VAEConfig, VideoVAE

    vae = VideoVAE.from_pretrained(args.vae) if args.vae else VideoVAE(VAEConfig.preset("embedded")).eval()
    trained = args.vae is not None
    x = torch.rand(1, 3, T, H, W) * 2 - 1
    z = vae.encode_latents(x)
    rows = []

    for label, autocast in (("ours fp32", False), ("ours bf16 autocast", True)):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            enc = median_time(lambda: vae.encode_latents(x), args.reps)
            dec = median_time(lambda: vae.decode_latents(z), args.reps)
        row = dict(model=label, params_m=vae.num_parameters() / 1e6, encode_s=enc[0], decode_s=dec[0],
                   encode_cpu_s=enc[1], decode_cpu_s=dec[1])
        if trained:
            world = [roundtrip_psnr(vae, clip, autocast) for clip in world_clips(args.world_clips)]
            row["psnr_world_db"] = statistics.mean(world)
            row["psnr_world_min_db"] = min(world)
            for name, clip in real_clips().items():
                row[f"psnr_{name}_db"] = roundtrip_psnr(vae, clip, autocast)
        rows.append(row)
        print(f"measured {label}", file=sys.stderr, flush=True)

    if not args.no_peer:
        from diffusers import AutoencoderKLWan

        peer = AutoencoderKLWan(base_dim=32).eval()  # random weights: timing only
        latent = peer.encode(x).latent_dist.mode()
        enc = median_time(lambda: peer.encode(x), args.peer_reps)
        dec = median_time(lambda: peer.decode(latent), args.peer_reps)
        rows.append(dict(
            model="diffusers AutoencoderKLWan base_dim=32 (random weights)",
            params_m=sum(p.numel() for p in peer.parameters()) / 1e6,
            encode_s=enc[0], decode_s=dec[0], encode_cpu_s=enc[1], decode_cpu_s=dec[1],
        ))

    keys = ["model", "params_m", "encode_s", "decode_s", "encode_cpu_s", "decode_cpu_s", "psnr_world_db", "psnr_world_min_db"] + [
        f"psnr_{n}_db" for n in REAL_CLIPS
    ]
    print(f"VAE round trip, {T} frames {W}x{H}, torch threads {torch.get_num_threads()}, ours trained: {trained}, "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(_fmt(row.get(k)) for k in keys))
    print(json.dumps(dict(frames=T, width=W, height=H, threads=torch.get_num_threads(), trained=trained,
                          load_average=os.getloadavg()[0],
                          reps=args.reps, peer_reps=args.peer_reps, rows=rows)))
    return 0


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
