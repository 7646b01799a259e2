"""Frames per second of the world renderer on one CPU thread.

    python benchmarks/world_render.py [--size 128x128] [--frames 48] [--fps 12] [--scenes 8]

For each scenario of `sample_scene` (and a mix of all), renders --scenes random scenes of
--frames frames and reports frames/s (wall time of `render`, best of 3 per scene). Prints a
table, then one JSON object as the last line. Target (issue 5): >= 200 frames/s at 128x128.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread; set before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from spacetime.world.render import render  # noqa: E402
from spacetime.world.scene import SCENARIOS, sample_scene  # noqa: E402


def measure(scenarios, width, height, frames, fps, count, seed) -> float:
    rng = np.random.default_rng(seed)
    total_frames, total_time = 0, 0.0
    for _ in range(count):
        scene = sample_scene(rng, scenarios=scenarios, seconds=frames / fps, aspect=width / height)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            render(scene, width, height, fps, frames)
            best = min(best, time.perf_counter() - start)
        total_frames += frames
        total_time += best
    return total_frames / total_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="128x128")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rows = {name: measure((name,), width, height, args.frames, args.fps, args.scenes, args.seed) for name in SCENARIOS}
    rows["mix"] = measure(SCENARIOS, width, height, args.frames, args.fps, args.scenes * 2, args.seed)
    print(f"world renderer, {width}x{height}, {args.frames} frames at {args.fps:g} fps, one thread, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'scenario':<10} {'frames/s':>10}")
    for name, fps in rows.items():
        print(f"{name:<10} {fps:>10.0f}")
    print(json.dumps({"benchmark": "world_render", "width": width, "height": height, "frames": args.frames,
                      "frames_per_second": {k: round(v, 1) for k, v in rows.items()},
                      "min_frames_per_second": round(min(rows.values()), 1), "target": 200}))


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
