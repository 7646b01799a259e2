"""Quality of a model on fresh random world prompts, read back by the world evaluator (issue 8).

    .venv/bin/python benchmarks/embedded_quality.py [--model FOLDER] [--prompts 200] [--style short]

For each of N fresh scenes (seeded, never the training stream's seeds) a caption is written
(`spacetime.world.caption`, style short / descriptive / random), the model generates a
clip from it at its default size, length and fps, and `spacetime.world.evaluate` reads the
clip by colour against the scene's words (start positions are not judged: a caption does
not give them). Rates per check are printed as a table, then one JSON object as the last
line. `--out DIR` keeps the clips and a manifest.jsonl that `spacetime world eval` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCENE_SEED_BASE = 10_000_000  # far from the training stream's seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--style", default="random", choices=("short", "descriptive", "random"))
    parser.add_argument("--objects", type=int, nargs=2, default=(1, 1), metavar=("MIN", "MAX"))
    parser.add_argument("--scenarios", nargs="+", default=["single"], help="world scenarios to draw from")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--out", help="keep the clips and a manifest.jsonl here")
    args = parser.parse_args()

    from spacetime.pipeline import Pipeline
    from spacetime.video import write_video
    from spacetime.world.captions import caption
    from spacetime.world.evaluate import evaluate_many, summary_table
    from spacetime.world.scene import sample_scene

    pipe = Pipeline.from_pretrained(args.model)
    d = pipe.defaults
    seconds, aspect = float(d["seconds"]), d["width"] / d["height"]
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="spacetime_quality_"))
    out.mkdir(parents=True, exist_ok=True)
    items, manifest, started = [], [], time.perf_counter()
    for i in range(args.prompts):
        rng = np.random.default_rng(SCENE_SEED_BASE + i)
        scene = sample_scene(rng, num_objects=tuple(args.objects), scenarios=tuple(args.scenarios),
                             seconds=seconds, aspect=aspect)
        prompt = caption(scene, rng, args.style)
        video = pipe.generate(prompt, seed=i, steps=args.steps, progress=False)
        path = write_video(out / f"clip_{i:04d}.mp4", video.frames, video.fps, overwrite=True)
        items.append({"name": path.name, "frames": video.frames, "fps": video.fps, "expected": scene.to_dict(),
                      "positions_known": False})
        manifest.append({"path": path.name, "caption": prompt, "fps": video.fps, "frames": len(video.frames),
                         "width": video.frames.shape[2], "height": video.frames.shape[1], "scene": scene.to_dict()})
        print(f"[{i + 1}/{args.prompts}] {prompt}", file=sys.stderr)
    (out / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    report = evaluate_many(items)
    print(summary_table(report))
    print(f"clips and manifest: {out}")
    rates = {name: round(r["rate"], 4) for name, r in report["rates"].items() if r["n"]}
    print(json.dumps({"model": args.model or "embedded", "prompts": args.prompts, "style": args.style,
                      "rates": rates, "gravity_error_median": report.get("gravity_error_median"),
                      "seconds_per_clip": round((time.perf_counter() - started) / max(args.prompts, 1), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
