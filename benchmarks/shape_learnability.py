"""Can a DiT learn shape words at all? Fine-tune it where nothing but the shape word explains the image.

    python benchmarks/shape_learnability.py [--model FOLDER] [--minutes 10] [--threads 1] [--samples 60]

Still 128x128 world scenes of one large red object on black at a random position, captioned
"a large red {circle|square|triangle} on a black background": the shape is the only word that
changes. The model folder's DiT (its other parts frozen) is trained for `--minutes` of wall time
(rectified flow, batch 16, AdamW lr 1e-4, bf16 autocast, 10 % empty prompts, EMA 0.995), then
`--samples` images are generated from its EMA with the folder's sampling defaults (a third per
shape) and read by the world evaluator. The same reading before any training is printed first:
the baseline. Nothing is saved. Last line: one JSON object.

With the full vocabulary (eight colours, three sizes, four backgrounds, motion) the embedded
DiTs draw shapes at chance; if this probe moves them well above chance in minutes, the network
and the text path can carry shape words, and what is missing is training signal, not capacity.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time

import numpy as np
import torch

SHAPES = ("circle", "square", "triangle")


def scene_of(shape: str, rng: np.random.Generator):
    from spacetime.world.scene import Scene, SceneObject

    start = (float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.25, 0.25)))
    return Scene(background="black", objects=[SceneObject(color="red", shape=shape, size="large", start=start)])


def prompt_of(shape: str) -> str:
    return f"a large red {shape} on a black background"


def read_shapes(pipe, samples: int) -> dict:
    """Generate `samples` images (shapes in turn) and read them: rates and shape hits per asked shape."""
    from spacetime.world.evaluate import evaluate_many

    items = []
    for i in range(samples):
        shape = SHAPES[i % len(SHAPES)]
        video = pipe.generate(prompt_of(shape), seed=i, frames=1, progress=False)
        items.append({"frames": video.frames, "fps": video.fps, "positions_known": False,
                      "expected": scene_of(shape, np.random.default_rng(i)).to_dict()})
    report = evaluate_many(items)
    rates = {k: round(r["rate"], 3) for k, r in report["rates"].items() if r["n"] and k in ("color", "shape", "size", "presence")}
    hits = {s: 0 for s in SHAPES}
    for item, result in zip(items, report["items"]):
        hits[item["expected"]["objects"][0]["shape"]] += sum(bool(o["checks"].get("shape")) for o in result["objects"])
    return {"rates": rates, "shape_hits": hits, "per_shape": samples // len(SHAPES)}


def train(pipe, minutes: float, batch: int = 16, seed: int = 0) -> tuple[torch.nn.Module, int]:
    """Fine-tune pipe.dit on the shape-only task for `minutes`; returns (EMA model, steps)."""
    from spacetime import flow
    from spacetime.world.render import render

    dit = pipe.dit
    dit.train()
    for p in dit.parameters():
        p.requires_grad_(True)
    ema = copy.deepcopy(dit).eval()
    opt = torch.optim.AdamW(dit.parameters(), lr=1e-4, weight_decay=0.0)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    null_text, null_mask = pipe.text_encoder.encode([""])
    encoded = {s: pipe.text_encoder.encode([prompt_of(s)]) for s in SHAPES}
    known = torch.zeros(batch, 1, dtype=torch.bool)
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < minutes * 60:
        shapes = [SHAPES[i] for i in rng.integers(0, len(SHAPES), batch)]
        pixels = np.stack([render(scene_of(s, rng), 128, 128, 8.0, 1)[0] for s in shapes])  # (B, H, W, 3)
        video = torch.from_numpy(pixels).permute(0, 3, 1, 2)[:, :, None].float() / 127.5 - 1  # (B, 3, 1, H, W)
        with torch.no_grad():
            x0 = pipe.vae.encode_latents(video).float()  # (B, C, 1, h, w)
        text = torch.cat([encoded[s][0] for s in shapes])
        mask = torch.cat([encoded[s][1] for s in shapes])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = flow.training_loss(dit, x0, text, mask, known_mask=known, generator=generator, shift=1.0,
                                         text_drop=0.1, null_text=null_text, null_mask=null_mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), dit.parameters()):
                p_ema.lerp_(p, 0.005)
        steps += 1
        if steps % 100 == 0:
            print(f"step {steps}, {time.perf_counter() - started:.0f} s, loss {float(loss):.4f}", file=sys.stderr)
    return ema, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from spacetime.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model)
    before = read_shapes(pipe, args.samples)
    print(f"before: {before}")
    pipe.dit, steps = train(pipe, args.minutes)
    after = read_shapes(pipe, args.samples)
    print(f"after {steps} steps ({args.minutes:g} min): {after}")
    print(json.dumps({"model": args.model or "embedded", "minutes": args.minutes, "steps": steps,
                      "before": before, "after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
