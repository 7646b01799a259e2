"""Peak memory of streaming (chunked causal) VAE decoding: 2 s vs 60 s of video at a fixed size.

    .venv/bin/python benchmarks/vae_memory.py [--width 256 --height 144 --fps 24 --chunk 4]

Each measurement runs in a fresh Python subprocess, which builds the embedded-preset VAE
(random weights: memory does not depend on them), makes the latent of the clip, and
decodes it with `iter_decode_latents`, consuming each pixel chunk as a writer would
(here: converting it to uint8 and dropping it). Reported: the process's peak resident
memory (ru_maxrss) before decoding and at the end, and the decode time. The claim under
test: the 60 s peak is within 10% of the 2 s peak. Prints a table, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
from spacetime.vae import VAEConfig, VideoVAE, latent_frames
seconds, width, height, fps, chunk = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
vae = VideoVAE(VAEConfig.preset("embedded")).eval()
frames = round(seconds * fps)
z = torch.randn(1, vae.config.latent_channels, latent_frames(frames), -(-height // 8), -(-width // 8))
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
decoded = 0
with torch.inference_mode():
    for piece in vae.iter_decode_latents(z, chunk_latent_frames=chunk, height=height, width=width):
        frames_u8 = ((piece + 1) * 127.5).round().to(torch.uint8)
        decoded += frames_u8.shape[2]
        del piece, frames_u8
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(seconds=seconds, frames=decoded, latent_frames=z.shape[2], peak_rss_mib=rss / 1024,
                      rss_before_decode_mib=rss_before / 1024, decode_s=elapsed)))
"""


def measure(seconds: float, args) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(seconds), str(args.width), str(args.height), str(args.fps), str(args.chunk)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--chunk", type=int, default=4, help="latent frames per decode chunk")
    args = parser.parse_args()
    short, long = measure(2.0, args), measure(60.0, args)
    ratio = long["peak_rss_mib"] / short["peak_rss_mib"]
    print(f"streaming decode, {args.width}x{args.height} at {args.fps:g} fps, chunk {args.chunk} latent frames")
    print("seconds | frames | peak RSS MiB | RSS before decode MiB | decode s")
    for r in (short, long):
        print(f"{r['seconds']:g} | {r['frames']} | {r['peak_rss_mib']:.1f} | {r['rss_before_decode_mib']:.1f} | {r['decode_s']:.2f}")
    print(f"peak ratio 60 s / 2 s: {ratio:.3f} (claim: <= 1.10)")
    print(json.dumps(dict(width=args.width, height=args.height, fps=args.fps, chunk_latent_frames=args.chunk,
                          short=short, long=long, peak_ratio=ratio, within_10_percent=ratio <= 1.10)))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
