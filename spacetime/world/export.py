"""Export world clips as MP4 files plus a JSONL manifest, the format the real-data path reads.

    DIR/clips/000000.mp4 ...
    DIR/manifest.jsonl   one JSON object per clip:
        {"path": "clips/000000.mp4", "caption": str, "fps": float, "frames": int,
         "width": int, "height": int, "scene": {...}}

So world data also trains through the generic video path (spacetime.data). Clip i is
drawn from `np.random.default_rng([seed, i])`: an export is reproducible clip by clip.
The manifest is written to a temporary file and renamed when every clip is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from spacetime.errors import RequestError
from spacetime.world.captions import caption
from spacetime.world.render import MIN_SIDE, render
from spacetime.world.scene import SCENARIOS, sample_scene

MANIFEST = "manifest.jsonl"


def export_clip(index: int, *, seed: int, sizes, frames: int, fps: float, caption_style: str,
                num_objects, scenarios) -> tuple[dict, np.ndarray]:
    """The manifest record (without its path) and uint8 frames of clip `index`."""
    rng = np.random.default_rng([int(seed), int(index)])
    width, height = sizes[int(rng.integers(len(sizes)))]
    seconds = frames / fps
    if frames == 1:
        scene = sample_scene(rng, num_objects=num_objects, seconds=0.0, aspect=width / height, motions=("still",),
                             scenarios=[s for s in scenarios if s in ("single", "multi", "pillar")] or ["single"])
    else:
        scene = sample_scene(rng, num_objects=num_objects, scenarios=scenarios, seconds=seconds, aspect=width / height)
    text = caption(scene, rng, caption_style)
    pixels = render(scene, width, height, fps, frames)
    record = {"caption": text, "fps": float(fps), "frames": int(frames), "width": int(width),
              "height": int(height), "scene": scene.to_dict()}
    return record, pixels


def export_world(
    out_dir,
    clips: int,
    *,
    seed: int = 0,
    sizes=((128, 128),),
    frames: int = 48,
    fps: float = 12.0,
    caption_style: str = "random",
    num_objects=(1, 3),
    scenarios=SCENARIOS,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Render `clips` clips into `out_dir` and write its manifest; returns the manifest path.

    sizes: (width, height) pairs; each clip takes one at random. frames / fps set the length.
    """
    from tqdm import tqdm

    from spacetime.video import write_video

    out = Path(out_dir)
    if clips < 1:
        raise RequestError(f"--clips must be at least 1, got {clips}")
    if frames < 1 or not fps > 0:
        raise RequestError(f"frames must be >= 1 and fps > 0, got {frames} frames at {fps} fps")
    sizes = [(int(w), int(h)) for w, h in sizes]
    for w, h in sizes:
        if w < MIN_SIDE or h < MIN_SIDE:
            raise RequestError(f"size {w}x{h} is too small; width and height must be >= {MIN_SIDE}")
    manifest = out / MANIFEST
    if manifest.exists() and not overwrite:
        raise RequestError(f"{manifest} already exists; choose another folder or pass --overwrite")
    if out.exists() and not out.is_dir():
        raise RequestError(f"{out} exists and is not a folder; choose a folder to export into")
    (out / "clips").mkdir(parents=True, exist_ok=True)
    digits = max(6, len(str(clips - 1)))
    suffix = ".png" if frames == 1 else ".mp4"
    partial = out / f".{MANIFEST}.partial"
    with open(partial, "w") as f:
        for i in tqdm(range(clips), desc="world export", unit="clip", disable=not progress):
            record, pixels = export_clip(i, seed=seed, sizes=sizes, frames=frames, fps=fps,
                                         caption_style=caption_style, num_objects=num_objects, scenarios=scenarios)
            relative = f"clips/{i:0{digits}d}{suffix}"
            write_video(out / relative, pixels, fps)
            f.write(json.dumps({"path": relative, **record}) + "\n")
    os.replace(partial, manifest)
    return manifest
