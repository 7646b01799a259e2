"""Where one DiT training step's time goes: text encoding, VAE encoding, forward, backward, optimizer.

    python benchmarks/train_step_parts.py                         # GPU if there is one, else CPU
    python benchmarks/train_step_parts.py --batch 64 256 --text-encoder /path/to/minilm

A batch of world clips (4 s of 128x128 at 8 fps, rendered once) goes through the parts of a
step of `configs/embedded_dit_gpu.toml` (the embedded model's VAE and DiT size, bf16
autocast, shared-frame noise), each timed on its own over `--reps` repetitions after a
warm-up, synchronised on a GPU: the text encoder, the VAE encoder, the DiT's forward alone,
`flow.training_loss` with its backward pass, gradient clipping + AdamW + EMA; then the whole step. The difference between the whole step
and the sum of its parts' device time is what the host adds (Python, kernel launches). On an
H200 (session 7) a step of 64 clips took 110 ms, of which the backward pass 83 ms against a
14 ms forward: the step was bound by per-kernel host work, not by the GPU (MODEL.md).
Prints one line per batch size, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256], help="clips per step")
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--text-encoder", default="default", help="text encoder folder (default: bundled MiniLM)")
    parser.add_argument("--vae", default=str(ROOT / "spacetime/weights/embedded/vae"))
    args = parser.parse_args()

    from spacetime import flow
    from spacetime.dit import DiT, DiTConfig
    from spacetime.train.ema import EMA
    from spacetime.train.tasks import load_frozen_vae, load_text_encoder, unit_video
    from spacetime.world.dataset import WorldClips

    device = torch.device(args.device)
    vae = load_frozen_vae(args.vae, device)
    text_encoder = load_text_encoder(args.text_encoder, device)
    model = DiT(DiTConfig(in_channels=vae.config.latent_channels, text_dim=text_encoder.dim)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = EMA(model, 0.999)
    null_text, null_mask = text_encoder.encode([""])
    clips = WorldClips(shapes=[(33, 128, 128)], fps=8, batch_size=min(args.batch), seed=5, pixels="uint8").batch(0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    generator = torch.Generator().manual_seed(0)

    def timed(fn):
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(args.reps):
            out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) / args.reps * 1000, out

    rows = []
    for batch in args.batch:
        reps = -(-batch // clips["video"].shape[0])
        video = clips["video"].repeat(reps, 1, 1, 1, 1)[:batch]
        captions = (clips["caption"] * reps)[:batch]

        def encode_text():
            return text_encoder.encode(captions)

        def encode_video():
            return vae.encode_latents(unit_video(video, device))

        with torch.no_grad(), autocast:
            text_ms, (text, mask) = timed(encode_text)
            vae_ms, x0 = timed(encode_video)

        def loss_of(latents, states, states_mask):
            with autocast:
                loss, _ = flow.training_loss(model, latents, states, states_mask, generator=generator, shift=1.5,
                                             image_prob=0.15, text_drop=0.1, null_text=null_text,
                                             null_mask=null_mask, noise_correlation=0.8)
            return loss

        def forward():  # the DiT alone, at random times
            t = torch.rand(x0.shape[0], x0.shape[2], device=device)
            with torch.no_grad(), autocast:
                return model(x0, t, text, mask)

        def forward_backward():
            loss_of(x0, text, mask).backward()

        def update():
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            ema.update(model)
            optimizer.zero_grad(set_to_none=True)

        def whole_step():
            with torch.no_grad(), autocast:
                states, states_mask = encode_text()
                latents = encode_video()
            loss_of(latents, states, states_mask).backward()
            update()

        forward_ms, _ = timed(forward)
        forward_backward_ms, _ = timed(forward_backward)
        update_ms, _ = timed(update)
        step_ms, _ = timed(whole_step)
        row = {"batch": batch, "text_ms": text_ms, "vae_encode_ms": vae_ms, "forward_ms": forward_ms,
               "forward_backward_ms": forward_backward_ms, "update_ms": update_ms, "step_ms": step_ms,
               "clips_per_s": batch / step_ms * 1000}
        rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
        print(f"batch {batch}: text {text_ms:.1f} ms, VAE encode {vae_ms:.1f}, forward {forward_ms:.1f}, "
              f"forward+backward {forward_backward_ms:.1f}, clip+AdamW+EMA {update_ms:.1f}, whole step {step_ms:.1f} "
              f"({row['clips_per_s']:.0f} clips/s)", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
