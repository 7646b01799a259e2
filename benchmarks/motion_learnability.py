"""Can a DiT learn motion words at all? Fine-tune it where nothing but the motion word explains the clip.

    python benchmarks/motion_learnability.py [--model FOLDER] [--minutes 10] [--threads 1] [--samples 45]
                                             [--motion-weight 0] [--motions left right] [--fixed] [--shift 1]

Clips of 17 frames (2 s at 8 fps, 128x128) of one large red square on black that keeps still or
moves in one of the eight directions at the normal speed, through the centre, captioned in the
world's short style ("red square moving left"): the motion is the only thing the words change.
The model folder's DiT (its other parts frozen) is trained for `--minutes` of wall time
(rectified flow, text to video only, batch 8, AdamW lr 1e-4, bf16 autocast, 10 % empty prompts,
the folder's noise correlation, EMA 0.995; `--motion-weight` as `train.motion_weight`), then
`--samples` clips are generated from its EMA with the folder's sampling defaults (the nine
motions in turn) and read by the world evaluator: the motion class and, coarser, whether the
square moves when it should (`moves`). The same reading before any training is printed first:
the baseline. Nothing is saved. Last line: one JSON object.

`--shift` shifts the training noise levels toward noise as sampling's shift does (3 puts 13 % of
the steps above t = 0.9, where sampling settles the layout; 1 puts 1.4 % there). `--motions` trains and reads only the motions named; `--fixed` draws every clip of a motion from
one start (the still square at the centre): with two motions, can the DiT even learn two clips?

The embedded DiTs draw nearly every object still, whatever the prompt asks. If this probe moves
them in minutes, the network can carry motion words and what the full world lacks is signal;
if not, the network (or its latents) cannot yet express a moving object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

FRAMES, FPS, SIZE = 17, 8.0, 128


def all_motions() -> tuple[str, ...]:
    from spacetime.world import vocab

    return ("still", *vocab.LINEAR_MOTIONS)


def scene_of(motion: str, rng: np.random.Generator, fixed: bool = False):
    """A large red square on black doing `motion`; a mover crosses the centre half-way through."""
    from spacetime.world import vocab
    from spacetime.world.scene import Scene, SceneObject

    jitter = np.zeros(2) if fixed else rng.uniform(-0.05, 0.05, 2)
    if motion == "still":
        start = np.zeros(2) if fixed else rng.uniform(-0.25, 0.25, 2)
    else:
        travel = vocab.SPEEDS["normal"] * (FRAMES - 1) / FPS  # s units over the clip
        start = -0.5 * travel * np.array(vocab.DIRECTIONS[motion]) + jitter
    obj = SceneObject(color="red", shape="square", size="large", motion=motion, start=(float(start[0]), float(start[1])))
    return Scene(background="black", objects=[obj])


def prompt_of(scene, rng: np.random.Generator) -> str:
    from spacetime.world.captions import short_caption

    return short_caption(scene, rng)


def read_motions(pipe, samples: int, motions: tuple[str, ...], fixed: bool = False) -> dict:
    """Generate `samples` clips (the motions in turn) and read them: rates and hits per asked motion."""
    from spacetime.world.evaluate import evaluate_many

    items = []
    for i in range(samples):
        rng = np.random.default_rng(i)
        scene = scene_of(motions[i % len(motions)], rng, fixed)
        video = pipe.generate(prompt_of(scene, rng), seed=i, frames=FRAMES, fps=FPS, width=SIZE, height=SIZE,
                              progress=False)
        items.append({"frames": video.frames, "fps": video.fps, "positions_known": False, "expected": scene.to_dict()})
    report = evaluate_many(items)
    rates = {k: round(r["rate"], 3) for k, r in report["rates"].items()
             if r["n"] and k in ("color", "motion", "moves", "presence")}
    hits = {m: 0 for m in motions}
    for item, result in zip(items, report["items"]):
        hits[item["expected"]["objects"][0]["motion"]] += sum(bool(o["checks"].get("motion")) for o in result["objects"])
    return {"rates": rates, "motion_hits": hits, "per_motion": samples // len(motions)}


def train(pipe, minutes: float, motions: tuple[str, ...], *, fixed: bool = False, motion_weight: float = 0.0,
          shift: float = 1.0, seed: int = 0):
    """Fine-tune pipe.dit on the probe's clips for `minutes`; returns (EMA model, steps)."""
    from _model_choice import finetune_on_clips

    def draw_batch(rng):
        scenes = [scene_of(motions[k], rng, fixed) for k in rng.integers(0, len(motions), 8)]
        return scenes, [prompt_of(scene, rng) for scene in scenes]

    return finetune_on_clips(pipe, minutes, draw_batch, (FRAMES, FPS, SIZE), shift=shift,
                             motion_weight=motion_weight, seed=seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=45)
    parser.add_argument("--motion-weight", type=float, default=0.0, help="as train.motion_weight")
    parser.add_argument("--motions", nargs="+", choices=all_motions(), default=list(all_motions()))
    parser.add_argument("--fixed", action="store_true", help="one start per motion")
    parser.add_argument("--shift", type=float, default=1.0, help="training noise-level shift (sampling uses 3)")
    args = parser.parse_args()
    motions = tuple(args.motions)
    torch.set_num_threads(args.threads)

    from spacetime.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model)
    before = read_motions(pipe, args.samples, motions, args.fixed)
    print(f"before: {before}")
    pipe.dit, steps = train(pipe, args.minutes, motions, fixed=args.fixed, motion_weight=args.motion_weight,
                            shift=args.shift)
    after = read_motions(pipe, args.samples, motions, args.fixed)
    print(f"after {steps} steps ({args.minutes:g} min): {after}")
    print(json.dumps({"model": args.model or "embedded", "minutes": args.minutes, "steps": steps,
                      "motion_weight": args.motion_weight, "motions": motions, "fixed": args.fixed, "shift": args.shift, "before": before, "after": after}))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
