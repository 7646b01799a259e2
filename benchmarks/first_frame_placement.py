"""Does the first frame leave room for the motion the prompt asks? The image pass against the world.

    python benchmarks/first_frame_placement.py [--model FOLDER] [--prompts 200] [--guidance 3 6]
                                               [--one-pass] [--animate]

Text to video in two passes (`generate` with `first_image`, the embedded model's default) draws
the first frame from the prompt alone, then animates it. The world starts an object that moves
in a straight line where its path stays inside the frame: "moves right slowly" for 4 s starts it
in the left part. This reads, for the single-object scenes of `embedded_quality.py` (same seeds,
same prompts) whose object moves in a straight line, where the object starts along its
direction of motion (short-side units from the centre; negative = behind the centre, room
ahead): in the world's own scene, in the image pass's drawing (`Pipeline.image`, per guidance),
and with `--one-pass` in the first frame of the clip drawn in one pass.

`--animate` also animates each drawn first frame as `generate` does (same seed) and reads
whether the clip moves the asked way (the world evaluator's motion check), split by where the
first frame put the object: how much of the two-pass motion row the placement explains, and
what the failed clips were read as (backward: a straight line against the asked direction;
sideways: one at 90 degrees or less off it; still; another motion class).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from embedded_quality import quality_scene

# bins of the start along the direction (s): behind the centre, about central, ahead of it
BINS = ((-np.inf, -0.15), (-0.15, 0.05), (0.05, np.inf))


def direction_prompts(prompts: int, seconds: float, aspect: float):
    """(index, scene, prompt) of `embedded_quality.py`'s scenes 0..prompts-1 whose object moves in a line."""
    from spacetime.world import vocab

    for i in range(prompts):
        scene, prompt = quality_scene(i, seconds=seconds, aspect=aspect)
        if scene.objects[0].motion in vocab.DIRECTIONS:
            yield i, scene, prompt


def along(x: float, y: float, motion: str) -> float:
    """The position (x, y) projected on the unit direction of `motion` (y down)."""
    from spacetime.world import vocab

    dx, dy = vocab.DIRECTIONS[motion]
    return float((x * dx + y * dy) / np.hypot(dx, dy))


def start_along(frame: np.ndarray, obj) -> float | None:
    """Where the object of `obj`'s colour is in `frame` (H, W, 3) uint8, along its direction; None if unseen."""
    from spacetime.world.tracking import track_colors

    track = track_colors(frame[None], colors=(obj.color,)).get(obj.color)
    if track is None or not track.present[0]:
        return None
    return along(float(track.x[0]), float(track.y[0]), obj.motion)


def summary(values: list[float | None]) -> dict:
    seen = np.array([v for v in values if v is not None], dtype=float)
    return {"n": len(values), "missing": len(values) - len(seen),
            "mean": round(float(seen.mean()), 3) if seen.size else None,
            "share_ahead": round(float((seen > 0.05).mean()), 3) if seen.size else None}


def by_bin(starts: list[float | None], passed: list[bool], read_as: list[str]) -> list[dict]:
    """Per bin of the start: clips that pass the motion check, and what the others were read as."""
    out = []
    for lo, hi in BINS:
        inside = [(p, m) for s, p, m in zip(starts, passed, read_as) if s is not None and lo <= s < hi]
        failed: dict[str, int] = {}
        for p, m in inside:
            if not p:
                failed[m] = failed.get(m, 0) + 1
        out.append({"from": None if np.isinf(lo) else lo, "to": None if np.isinf(hi) else hi,
                    "passed": sum(p for p, _ in inside), "n": len(inside), "failed_read_as": failed})
    return out


def read_as(obj_result: dict, asked: str) -> str:
    """What a failed object's motion was read as: 'backward' (against the asked direction),
    'sideways' (another straight line at most 90 degrees off it), or the class it was read as (still, ...)."""
    from spacetime.world import vocab

    measured = obj_result["measured"].get("motion", "unseen")
    if measured not in vocab.DIRECTIONS:
        return measured
    (ax, ay), (mx, my) = vocab.DIRECTIONS[asked], vocab.DIRECTIONS[measured]
    return "backward" if ax * mx + ay * my < 0 else "sideways"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--prompts", type=int, default=200, help="scenes drawn (those with a straight line are read)")
    parser.add_argument("--guidance", type=float, nargs="+", default=None,
                        help="image-pass guidance scales (default: the model's)")
    parser.add_argument("--one-pass", action="store_true", help="also read the first frame of one-pass text to video")
    parser.add_argument("--animate", action="store_true",
                        help="animate each image-pass frame and read the motion, split by where it starts")
    args = parser.parse_args()

    from spacetime.pipeline import Pipeline
    from spacetime.world.evaluate import evaluate_video

    pipe = Pipeline.from_pretrained(args.model)
    d = pipe.defaults
    cases = list(direction_prompts(args.prompts, float(d["seconds"]), d["width"] / d["height"]))
    world = [along(*scene.objects[0].start, scene.objects[0].motion) for _, scene, _ in cases]
    result = {"model": args.model or "embedded", "prompts": args.prompts, "straight_line": len(cases),
              "world": summary(world), "image_pass": {}}
    print(f"{len(cases)} of {args.prompts} prompts move in a straight line")
    print(f"world: start along the direction {result['world']}")
    for guidance in args.guidance or [float(d["guidance"])]:
        starts, passed, reads = [], [], []
        for i, scene, prompt in cases:
            first = pipe.image(prompt, seed=i, guidance=guidance, progress=False).frames[0]
            starts.append(start_along(first, scene.objects[0]))
            if args.animate:
                video = pipe.animate(first, prompt, seed=i, guidance=guidance, progress=False)
                check = evaluate_video(video.frames, video.fps, scene, positions_known=False)
                passed.append(bool(check["objects"][0]["checks"].get("motion")))
                reads.append(read_as(check["objects"][0], scene.objects[0].motion))
        row = summary(starts)
        if args.animate:
            row["motion_passed"] = int(sum(passed))
            row["motion_by_start"] = by_bin(starts, passed, reads)
        result["image_pass"][str(guidance)] = row
        print(f"image pass, guidance {guidance}: {row}")
    if args.one_pass:
        starts = [start_along(pipe.generate(prompt, seed=i, first_image=False, progress=False).frames[0],
                              scene.objects[0]) for i, scene, prompt in cases]
        result["one_pass"] = summary(starts)
        print(f"one pass: {result['one_pass']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
