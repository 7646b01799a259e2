"""Speed of the default `spacetime generate PROMPT`: seconds of compute per second of video.

    .venv/bin/python benchmarks/generate_speed.py [--model FOLDER] [--seconds S] [--precision auto|bf16|fp32]
                                                  [--threads N] [--reps 3]

Runs in a fresh subprocess what `spacetime generate PROMPT` does at the model's default size,
fps and steps (at least 4 s of video): import, load the model, encode the prompt, denoise,
decode, write the .mp4. Every stage is timed; `seconds_per_video_second` is the whole
wall time (interpreter start to closed file) over the video's duration, the median of
`--reps` fresh subprocesses (after one warm-up run that fills the OS file cache, as a
user's second run would find it). Below 1 is faster than real time (issue 8's goal on the
2-core CPU). `--precision auto` is what `spacetime generate` does by default.

Model: `--model FOLDER`, else the embedded model if this build has it, else a stand-in
with random weights (VAE "embedded" preset, DiTConfig defaults, the bundled MiniLM text
encoder, 128x128 at 8 fps, 8 steps): speed does not depend on the weights' values.
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from spacetime.pipeline import PRECISIONS, Pipeline
model, seconds, out, precision, threads = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
if threads:
    torch.set_num_threads(threads)
t1 = time.perf_counter()
pipe = Pipeline.from_pretrained(model).to("cpu", PRECISIONS[precision])
t2 = time.perf_counter()
seconds = max(seconds, float(pipe.defaults["seconds"]))
res = pipe.generate("a red ball bounces on a checkered floor", seconds=seconds, seed=0, output=out, overwrite=True,
                    progress=False)
t3 = time.perf_counter()
stages = dict(import_s=t1 - t0, load_s=t2 - t1, **{k + "_s": v for k, v in res.timings.items()})
stages["other_s"] = (t3 - t2) - sum(res.timings.values())
d = pipe.defaults
print(json.dumps(dict(video_seconds=seconds, width=d["width"], height=d["height"], fps=d["fps"], steps=d["steps"],
                      guidance=d["guidance"], threads=torch.get_num_threads(), dtype=str(pipe.dtype).split(".")[-1],
                      in_process_s=t3 - t0, stages=stages)))
"""


def run_once(model: str, args, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(args.seconds), str(out), args.precision, str(args.threads)],
        check=True, capture_output=True, text=True,
    )
    return time.perf_counter() - start, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: embedded, else a random stand-in)")
    parser.add_argument("--seconds", type=float, default=4.0, help="video length (at least the model's default)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="transformer compute precision, as `spacetime generate --precision` (default auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--reps", type=int, default=3, help="timed runs after one warm-up (median reported)")
    args = parser.parse_args()

    from _model_choice import choose_model  # beside this script

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, label = choose_model(args.model, tmp)
        run_once(model, args, tmp / "out.mp4")  # warm-up: file cache
        runs = [run_once(model, args, tmp / "out.mp4") for _ in range(max(1, args.reps))]
    walls = [w for w, _ in runs]
    wall = statistics.median(walls)
    r = runs[walls.index(sorted(walls)[(len(walls) - 1) // 2])][1]  # the run whose wall is the (lower) median
    print(f"model: {label}; {r['width']}x{r['height']} at {r['fps']:g} fps, {r['video_seconds']:g} s, "
          f"{r['steps']} steps, guidance {r['guidance']:g}, {r['threads']} threads, {r['dtype']}")
    print(f"{'stage':>10} {'seconds':>9}   (the median run)")
    for name, value in r["stages"].items():
        print(f"{name[:-2]:>10} {value:9.2f}")
    print(f"{'total':>10} {wall:9.2f}  (subprocess wall time, interpreter start to closed file; "
          f"median of {len(walls)}, range {min(walls):.2f}-{max(walls):.2f})")
    result = dict(model=label, seconds_per_video_second=round(wall / r["video_seconds"], 3), wall_s=round(wall, 2),
                  wall_range_s=[round(min(walls), 2), round(max(walls), 2)], reps=len(walls),
                  **{k: r[k] for k in ("video_seconds", "width", "height", "fps", "steps", "guidance", "threads",
                                       "dtype")},
                  stages={k: round(v, 3) for k, v in r["stages"].items()})
    print(json.dumps(result))


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
