"""Are objects fainter in some frames of each latent frame? Drawn clips read by their place in the VAE's groups.

    python benchmarks/latent_phase.py DIR [DIR ...] [--frames-per-latent 4] [--faint 0.5] [--sizes-against REF]

DIR is a folder of clips with a manifest, as `embedded_quality.py --out DIR` writes (the
`--vae-ceiling` run's folder gives the VAE's own round trip of the scenes' renders). The causal
VAE codes pixel frame 0 alone and then each group of `--frames-per-latent` frames (1-4, 5-8, ...)
as one latent frame, so a pixel frame's *phase* is its place in its group: 1 is a group's first
frame, 0 its last. For every one-object scene this measures the object's colour coverage in each
frame after the first (`spacetime.world.tracking.color_coverage`: the area its colour covers, in
pixels, counting anti-aliased edges in part) over the clip's median, and reports per phase the mean
of that ratio and the share of *faint* frames (below `--faint` of the median), for all one-object
scenes and for those whose object is small or orbits. The world evaluator judges an object absent
when it is missed in more than 5 % of the frames where it should be, so a phase with more faint
frames than the others points at how the drawn latents decode rather than at the motion.
`--sizes-against REF` also compares each folder's objects with REF's, clip by clip (the same
scenes, e.g. the `--vae-ceiling` folders of two decoders): each one-object clip's median coverage
over REF's, reported as percentiles. A decoder that draws objects larger passes the presence check
more easily without drawing the scene better; this shows it.
Last line: one JSON object, per folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def object_areas(frames: np.ndarray, color: str) -> np.ndarray:
    """Coverage of `color` in each frame of `frames` (T, H, W, 3) uint8: (T,) in pixels."""
    from spacetime.world.tracking import COLOR_NAMES, color_coverage

    index, coverage = color_coverage(frames)
    return (coverage * (index == COLOR_NAMES.index(color))).sum(axis=(1, 2))


def _manifest(directory: Path) -> list[dict]:
    """The entries of `directory`'s manifest.jsonl, with a one-line error where it is missing or broken."""
    from spacetime.errors import RequestError

    manifest = directory / "manifest.jsonl"
    if not manifest.is_file():
        raise RequestError(f"{manifest} not found; give a folder written by `embedded_quality.py --out DIR`")
    entries = []
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        try:
            entries.append(json.loads(line) if line.strip() else {})
        except json.JSONDecodeError as e:
            raise RequestError(f"{manifest} line {number} is not JSON ({e}); fix or remove it") from None
    return entries


def size_ratios(directory: Path, reference: Path) -> dict:
    """Percentiles (10, 25, 50, 75, 90) of each one-object clip's median coverage in `directory` over
    the same clip's in `reference` (manifests of the same scenes, in the same order)."""
    from spacetime.errors import RequestError
    from spacetime.video.read import read_video

    ours, theirs = _manifest(directory), _manifest(reference)
    ratios = []
    if len(ours) != len(theirs):
        raise RequestError(f"{directory} holds {len(ours)} clips and {reference} {len(theirs)}; compare folders "
                           "of the same scenes")
    for a, b in zip(ours, theirs):
        objects = (a.get("scene") or {}).get("objects", [])
        if (b.get("scene") or {}).get("objects", []) != objects:
            raise RequestError(f"{directory} and {reference} do not hold the same scenes in the same order")
        if len(objects) != 1:
            continue
        color = objects[0]["color"]
        mine, ref = (float(np.median(object_areas(read_video(d / e["path"]).frames, color)))
                     for d, e in ((directory, a), (reference, b)))
        if ref > 0:
            ratios.append(mine / ref)
    if not ratios:
        return {"clips": 0}
    return {"clips": len(ratios), "percentiles": dict(zip(("10", "25", "50", "75", "90"),
                                                          np.percentile(ratios, [10, 25, 50, 75, 90]).round(3).tolist()))}


def phase_table(ratios: dict[int, list[float]], faint: float) -> dict:
    """Per phase: frames counted, mean area ratio, share of faint frames."""
    return {str(p): {"frames": len(v), "mean_ratio": round(float(np.mean(v)), 3) if v else None,
                     "faint_share": round(float(np.mean(np.asarray(v) < faint)), 3) if v else None}
            for p, v in sorted(ratios.items())}


def read_folder(directory: Path, frames_per_latent: int, faint: float) -> dict:
    """Per-phase tables (`phase_table`) of a clip folder's one-object clips: all, and small or orbiting."""
    from spacetime.video.read import read_video

    every = {p: [] for p in range(frames_per_latent)}
    small = {p: [] for p in range(frames_per_latent)}
    clips = 0
    for entry in _manifest(directory):
        objects = (entry.get("scene") or {}).get("objects", [])
        if len(objects) != 1:
            continue
        obj = objects[0]
        area = object_areas(read_video(directory / entry["path"]).frames, obj["color"])
        median = float(np.median(area[1:])) if len(area) > 1 else 0.0
        if median <= 0.0:
            continue  # never drawn: a motion or colour failure, not a faint frame
        clips += 1
        small_or_orbit = obj["size"] == "small" or obj["motion"] == "orbit"
        for t in range(1, len(area)):
            phase, ratio = t % frames_per_latent, area[t] / median
            every[phase].append(ratio)
            if small_or_orbit:
                small[phase].append(ratio)
    return {"folder": str(directory), "clips": clips, "all": phase_table(every, faint),
            "small_or_orbit": phase_table(small, faint)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--frames-per-latent", type=int, default=4, help="the VAE's temporal factor (4)")
    parser.add_argument("--faint", type=float, default=0.5, help="a frame below this share of its clip's median")
    parser.add_argument("--sizes-against", type=Path, metavar="REF",
                        help="a folder of the same scenes: report the objects' median coverage over REF's")
    args = parser.parse_args()
    if args.frames_per_latent < 1 or not 0.0 < args.faint < 1.0:
        parser.error("--frames-per-latent must be >= 1 and --faint in (0, 1)")
    from spacetime.errors import RequestError

    try:
        results = [read_folder(d, args.frames_per_latent, args.faint) for d in args.folders]
        if args.sizes_against is not None:
            for r, d in zip(results, args.folders):
                r["sizes_against"] = {"reference": str(args.sizes_against), **size_ratios(d, args.sizes_against)}
    except RequestError as e:
        parser.exit(2, f"error: {e}\n")
    for r in results:
        print(f"{r['folder']}: {r['clips']} one-object clips; per phase (1 = a group's first frame): "
              "faint share, all / small or orbit")
        for p in r["all"]:
            print(f"  phase {p}: {r['all'][p]['faint_share']} / {r['small_or_orbit'][p]['faint_share']}")
        if "sizes_against" in r:
            print(f"  objects' median coverage over {r['sizes_against']['reference']}'s, percentiles 10/25/50/75/90: "
                  f"{r['sizes_against'].get('percentiles')} ({r['sizes_against']['clips']} clips)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
