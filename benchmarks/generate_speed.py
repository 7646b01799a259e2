"""Speed of the default `spacetime generate PROMPT`: seconds of compute per second of video.

    .venv/bin/python benchmarks/generate_speed.py [--model FOLDER] [--seconds S] [--bf16] [--threads N]

Runs in a fresh subprocess what `spacetime generate PROMPT` does at the model's default size,
fps and steps (at least 4 s of video): import, load the model, encode the prompt, denoise,
decode, write the .mp4. Every stage is timed; `seconds_per_video_second` is the whole
wall time (interpreter start to closed file) over the video's duration. Below 1 is faster
than real time (issue 8's goal on the 2-core CPU).

Model: `--model FOLDER`, else the embedded model if this build has it, else a stand-in
with random weights (VAE "embedded" preset, DiTConfig defaults, the bundled MiniLM text
encoder, 128x128 at 8 fps, 8 steps): speed does not depend on the weights' values.
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from spacetime.pipeline import Pipeline
model, seconds, out, bf16, threads = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
if threads:
    torch.set_num_threads(threads)
t1 = time.perf_counter()
pipe = Pipeline.from_pretrained(model).to("cpu", torch.bfloat16 if bf16 else None)
t2 = time.perf_counter()
seconds = max(seconds, float(pipe.defaults["seconds"]))
res = pipe.generate("a red ball bounces on a checkered floor", seconds=seconds, seed=0, output=out, overwrite=True,
                    progress=False)
t3 = time.perf_counter()
stages = dict(import_s=t1 - t0, load_s=t2 - t1, **{k + "_s": v for k, v in res.timings.items()})
stages["other_s"] = (t3 - t2) - sum(res.timings.values())
d = pipe.defaults
print(json.dumps(dict(video_seconds=seconds, width=d["width"], height=d["height"], fps=d["fps"], steps=d["steps"],
                      guidance=d["guidance"], threads=torch.get_num_threads(), in_process_s=t3 - t0, stages=stages)))
"""



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: embedded, else a random stand-in)")
    parser.add_argument("--seconds", type=float, default=4.0, help="video length (at least the model's default)")
    parser.add_argument("--bf16", action="store_true", help="run the transformer under bf16 autocast")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()

    from _model_choice import choose_model  # beside this script

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, label = choose_model(args.model, tmp)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, model, str(args.seconds), str(tmp / "out.mp4"), "1" if args.bf16 else "0",
             str(args.threads)],
            check=True, capture_output=True, text=True,
        )
        wall = time.perf_counter() - start
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"model: {label}; {r['width']}x{r['height']} at {r['fps']:g} fps, {r['video_seconds']:g} s, "
          f"{r['steps']} steps, guidance {r['guidance']:g}, {r['threads']} threads{', bf16' if args.bf16 else ''}")
    print(f"{'stage':>10} {'seconds':>9}")
    for name, value in r["stages"].items():
        print(f"{name[:-2]:>10} {value:9.2f}")
    print(f"{'total':>10} {wall:9.2f}  (subprocess wall time, interpreter start to closed file)")
    result = dict(model=label, seconds_per_video_second=round(wall / r["video_seconds"], 3), wall_s=round(wall, 2),
                  **{k: r[k] for k in ("video_seconds", "width", "height", "fps", "steps", "guidance", "threads")},
                  bf16=args.bf16, stages={k: round(v, 3) for k, v in r["stages"].items()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
