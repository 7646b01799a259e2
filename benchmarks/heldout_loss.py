"""Held-out velocity loss of a model folder's DiT on fresh world clips, and how much it uses time.

    .venv/bin/python benchmarks/heldout_loss.py [--model FOLDER] [--batches 4] [--t 0.5 0.7 0.9 0.98 1.0]

Fresh world clips (4 s of 128x128 at 8 fps, one to three objects, every scenario, captions in
both styles; a seed no training config uses) are encoded by the folder's VAE and captioned by
its text encoder. At each noise level t, every latent frame at t and no frame given, the
rectified-flow loss ||v - (eps - x0)||^2 is measured twice with the same noise: with the
frames in order, and with latent frames 1.. shuffled (frame 0 stays: the causal VAE encodes
it alone). `temporal_gain@t` = shuffled - ordered: how much worse the model denoises when the
order is wrong, i.e. how much it relies on motion being continuous. Zero would mean the
frames are denoised as independent images. At t = 1 the input is pure noise and holds no
order, so the gain there is 0 for any model; the loss there measures the prediction of the
mean clip for a prompt.

This is the training-side view of a model, without a sampler: `embedded_quality.py`
judges samples. The two can disagree (issue 8, session 5): longer training lowered this loss
at every t below 1 and doubled the temporal gain while the sampled clips got worse.
The noise has the correlation between frames that the folder samples with
(`noise_correlation` in its model_index.json, 0 if absent). bf16 autocast as in training;
one thread by default.
`object_loss@t` and `background_loss@t` split the ordered loss between the latent cells that
show an object (the clip against its scene rendered without objects) and the rest: objects are
a few per cent of the cells, so the plain loss is mostly the background's.
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

HELDOUT_SEED = 424242  # the training configs use small seeds (0 to 12)


def object_cells(batch: dict, latent_shape: tuple) -> torch.Tensor:
    """(B, 1, T', h, w) bool: latent cells whose pixels show an object (the clip against its own
    scene rendered with no objects: background, pillar and camera pan kept)."""
    import torch.nn.functional as F

    from spacetime.world.render import object_pixels
    from spacetime.world.scene import Scene

    pixels = ((batch["video"].permute(0, 2, 3, 4, 1) + 1) * 127.5).numpy()  # (B, T, H, W, 3) from [-1, 1]
    masks = [torch.from_numpy(object_pixels(Scene.from_json(text), pixels[b], 8.0)) for b, text in enumerate(batch["scene"])]
    mask = torch.stack(masks).float()[:, None]  # (B, 1, T, H, W)
    # a latent frame covers pixel frame 0 alone, then 4 frames each (the causal VAE); a cell 8x8 pixels
    first, rest = mask[:, :, :1], mask[:, :, 1:]
    pad = (-rest.shape[2]) % 4
    rest = F.pad(rest, (0, 0, 0, 0, 0, pad))
    mask = torch.cat([first, rest.unflatten(2, (-1, 4)).amax(dim=3)], dim=2) if rest.shape[2] else first
    mask = F.max_pool3d(mask, (1, 8, 8), ceil_mode=True)
    return mask[:, :, : latent_shape[2], : latent_shape[3], : latent_shape[4]] > 0


def measure(pipe, batches: int, noise_levels, batch_size: int = 8, shape=(33, 128, 128),
            noise_correlation: float = 0.0) -> dict:
    """{"clips", "loss@t", "temporal_gain@t", "object_loss@t", "background_loss@t", "object_cells"} of
    `pipe`'s DiT on held-out world clips (see the module doc), with noise correlated by
    `noise_correlation` between latent frames."""
    from spacetime import flow
    from spacetime.world.dataset import WorldClips

    clips = WorldClips(shapes=[shape], fps=8.0, batch_size=batch_size, seed=HELDOUT_SEED, rank=0, world_size=1)
    draw = torch.Generator().manual_seed(0)
    losses: dict[tuple[str, float], list[float]] = {}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for b in range(batches):
            batch = clips.batch(b)
            x0 = pipe.vae.encode_latents(batch["video"]).float()  # (B, C, T, h, w) normalised
            cells = object_cells(batch, x0.shape)  # (B, 1, T, h, w)
            losses.setdefault(("cells", 0.0), []).append(float(cells.float().mean()))
            text, mask = pipe.text_encoder.encode(list(batch["caption"]))
            B, _, T = x0.shape[:3]
            order = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(T - 1, generator=draw)])
            for t_value in noise_levels:
                eps = flow.frame_correlated_noise(x0.shape, noise_correlation, draw)
                t = torch.full((B, T), float(t_value))
                for name, x in (("ordered", x0), ("shuffled", x0[:, :, order])):
                    v = pipe.dit(flow.noise(x, eps, t), t, text, mask).float()  # same noise, same t
                    error = (v - (eps - x)).pow(2).mean(dim=1, keepdim=True)  # (B, 1, T, h, w)
                    losses.setdefault((name, t_value), []).append(float(error.mean()))
                    if name == "ordered":
                        for part, where in (("object", cells), ("background", ~cells)):
                            losses.setdefault((part, t_value), []).append(float(error[where].mean()))
    result: dict = {"clips": batch_size * batches, "object_cells": round(float(np.mean(losses["cells", 0.0])), 4)}
    for t_value in noise_levels:
        ordered, shuffled = (float(np.mean(losses[name, t_value])) for name in ("ordered", "shuffled"))
        result[f"loss@{t_value:g}"] = round(ordered, 5)
        result[f"temporal_gain@{t_value:g}"] = round(shuffled - ordered, 5)
        for part in ("object", "background"):
            result[f"{part}_loss@{t_value:g}"] = round(float(np.mean(losses[part, t_value])), 5)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder (default: the embedded model)")
    p.add_argument("--batches", type=int, default=4, help="batches of 8 clips")
    p.add_argument("--t", type=float, nargs="+", default=[0.5, 0.7, 0.9, 0.98, 1.0], help="noise levels")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.batches < 1 or not all(0 < t <= 1 for t in args.t):
        p.error("--batches must be >= 1 and every --t in (0, 1]")
    torch.set_num_threads(args.threads)

    from spacetime.pipeline import Pipeline

    started = time.perf_counter()
    pipe = Pipeline.from_pretrained(args.model)
    rho = pipe.defaults.get("noise_correlation", 0.0)  # the prior the model was trained with
    result = {"model": args.model or "embedded", "noise_correlation": rho,
              **measure(pipe, args.batches, args.t, noise_correlation=rho)}
    print(f"{'t':>6}{'ordered':>10}{'gain':>9}{'object':>10}{'background':>12}   (object cells: {result['object_cells']:.1%})")
    for t_value in args.t:
        print(f"{t_value:6g}{result[f'loss@{t_value:g}']:10.4f}{result[f'temporal_gain@{t_value:g}']:9.4f}"
              f"{result[f'object_loss@{t_value:g}']:10.4f}{result[f'background_loss@{t_value:g}']:12.4f}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
