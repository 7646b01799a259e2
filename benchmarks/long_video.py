"""Long video: peak memory and wall time of `Pipeline.generate` streamed to an .mp4 for 5, 20 and 60 s.

    .venv/bin/python benchmarks/long_video.py [--model FOLDER] [--seconds 5 20 60] [--steps N] [--reps 3]

Each length runs in a fresh Python subprocess that loads the model, generates the video
window by window (spacetime.long_video) and streams the decoded frames into a VideoWriter.
Reported per length: the process's peak resident memory (ru_maxrss) and the peak after
the model is loaded (so the growth due to the video itself shows); the generation wall
time and CPU time (prompt to closed file, model loading excluded; on a shared machine the
CPU time is the steadier of the two), medians of `--reps` runs taken in turns (5, 20, 60,
5, 20, 60, ...) so that a slow spell of the machine reaches every length: a single 5 s run
varied by a third between runs, and the ratios with it; and the transformer FLOPs the window plan implies
(noise-free: shows the cost of the windows' overlap and of attention's quadratic term).

Model: `--model FOLDER`, else the embedded model if this build has it, else a stand-in
with random weights (VAE "embedded" preset, DiTConfig defaults, the bundled MiniLM text
encoder, 128x128 at 8 fps): speed and memory do not depend on the weights' values.
Goals (issue 7): rss_ratio_60_to_5 <= 1.2 and time_ratio_60_to_5 <= 13 (linear).
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, math, resource, sys, time
from spacetime.conditioning import latent_frames
from spacetime.dit import forward_flops
from spacetime.long_video import plan_windows
from spacetime.pipeline import Pipeline
model, seconds, out, steps = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
pipe = Pipeline.from_pretrained(model)
steps = int(steps) if steps != "default" else int(pipe.defaults["steps"])
rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
cpu0, start = cpu(), time.perf_counter()
res = pipe.generate("a red ball bounces on a checkered floor while the camera pans", seconds=seconds, seed=0,
                    steps=steps, output=out, overwrite=True, progress=False)
elapsed, cpu_s = time.perf_counter() - start, cpu() - cpu0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# The transformer's matmul FLOPs implied by the window plan (classifier-free guidance: batch 2).
d = pipe.defaults
per_frame = math.ceil(d["height"] / 16) * math.ceil(d["width"] / 16)
windows = plan_windows(latent_frames(round(seconds * d["fps"])), window=pipe.window, context=pipe.context,
                       anchor=pipe.anchor)
gflop = steps * sum(forward_flops(pipe.dit.config, len(w.frames) * per_frame, 16, batch=2) for w in windows) / 1e9
print(json.dumps(dict(seconds=seconds, wall_s=elapsed, cpu_s=cpu_s, dit_gflop=gflop, windows=len(windows),
                      peak_rss_mib=rss / 1024, loaded_rss_mib=rss_loaded / 1024, timings=res.timings,
                      window=pipe.window, context=pipe.context, anchor=pipe.anchor, steps=steps)))
"""



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: embedded, else a random stand-in)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--steps", default="default", help="denoising steps (default: the model's)")
    parser.add_argument("--reps", type=int, default=3, help="runs per length, taken in turns; medians reported")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be >= 1")

    from _model_choice import choose_model  # beside this script

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, label = choose_model(args.model, tmp)
        runs: dict[float, list[dict]] = {seconds: [] for seconds in args.seconds}
        for _ in range(args.reps):
            for seconds in args.seconds:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, model, str(seconds), str(tmp / f"{seconds:g}s.mp4"), args.steps],
                    check=True, capture_output=True, text=True,
                )
                runs[seconds].append(json.loads(out.stdout.strip().splitlines()[-1]))
        rows = []
        for seconds, reps in runs.items():
            row = dict(reps[0])
            for key in ("wall_s", "cpu_s"):
                row[key] = statistics.median(r[key] for r in reps)
                row[key + "_runs"] = [round(r[key], 2) for r in reps]
            row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in reps)
            rows.append(row)

    r0 = rows[0]
    print(f"model: {label}; window {r0['window']} latent frames, context {r0['context']}, anchor {r0['anchor']}, "
          f"{r0['steps']} steps")
    print(f"{'seconds':>8} {'windows':>8} {'wall s':>8} {'cpu s':>8} {'DiT GFLOP':>10} {'peak RSS MiB':>13} "
          f"{'after load MiB':>15}")
    for r in rows:
        print(f"{r['seconds']:8g} {r['windows']:8d} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} {r['dit_gflop']:10.0f} "
              f"{r['peak_rss_mib']:13.0f} {r['loaded_rss_mib']:15.0f}")
    by = {r["seconds"]: r for r in rows}
    result = dict(model=label, rows=rows)
    if 5 in by and 60 in by:
        result["rss_ratio_60_to_5"] = round(by[60]["peak_rss_mib"] / by[5]["peak_rss_mib"], 3)
        result["time_ratio_60_to_5"] = round(by[60]["wall_s"] / by[5]["wall_s"], 2)
        result["cpu_time_ratio_60_to_5"] = round(by[60]["cpu_s"] / by[5]["cpu_s"], 2)
        result["dit_flop_ratio_60_to_5"] = round(by[60]["dit_gflop"] / by[5]["dit_gflop"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
