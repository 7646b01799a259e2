"""Down to which noise level does a DiT see motion? Its one-step clean estimate of noised moving clips.

    python benchmarks/motion_estimate.py [--model FOLDER] [--clips 12] [--threads 2]
        [--motions bounce orbit spin] [--first-frame] [--sample]

Clips of 17 frames (2 s at 8 fps, 128x128) of one large red square on black moving one of six
ways through the centre (the clips of `motion_learnability.py`) are encoded, noised to t with the
folder's noise correlation, and the DiT's one-step estimate of the clean latent, x_t - t v (bf16
autocast, the clip's own caption), is decoded and read by the world evaluator: motion class,
`moves` and presence. The noised latent x_t itself, decoded, is read beside it: how much motion
the noise has left for the network to see. t = 0 is the VAE round trip. Last line: one JSON object.

`--motions` names other motions (the clips take them in turn; each level's reading is also given
per motion); those that are not a straight line or still (bounce, grow, shrink, spin, orbit) are
placed as the world places them. `--first-frame` keeps the first latent frame clean (t = 0 there),
as image to video and the second pass of `generate` do: whether the network continues a motion
it is shown the start of. `--sample` also animates each clip's own first frame with the model's
sampler and defaults (image to video, the clip's caption) and reads that: what sampling makes of
the same start.

If the estimate keeps the motion down to high noise while generated clips come out still, the
network denoises motion it is shown but does not start it: the layout that sampling settles on at
the highest noise levels is a still one.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from embedded_quality import motion_by_word
from motion_learnability import FPS, FRAMES, SIZE, prompt_of, scene_of

MOTIONS = ("left", "right", "up", "down", "up-right", "down-left")
LEVELS = (0.0, 0.5, 0.7, 0.85, 0.95, 1.0)


def scene_for(motion: str, rng: np.random.Generator):
    """`motion_learnability`'s clip for a straight line or still; the world's placement otherwise."""
    from spacetime.world import vocab
    from spacetime.world.scene import Scene, SceneObject, place_objects

    if motion == "still" or motion in vocab.DIRECTIONS:
        return scene_of(motion, rng)
    obj = SceneObject(color="red", shape="square", size="large", motion=motion)
    return place_objects(Scene(background="black", objects=[obj]), rng, seconds=(FRAMES - 1) / FPS)


def read(pipe, z: torch.Tensor, scenes) -> dict:
    """Decode latents z (B, C, t, h, w) and read them against `scenes` (`read_frames`)."""
    from spacetime.video.convert import tensor_to_frames

    videos = pipe.vae.decode_latents(z, num_frames=FRAMES)  # (B, 3, T, H, W) in [-1, 1]
    return read_frames([tensor_to_frames(video) for video in videos], scenes)


def read_frames(clips, scenes) -> dict:
    """Read uint8 clips (T, H, W, 3) against `scenes`: motion / moves / presence rates, motion per asked word."""
    from spacetime.world.evaluate import evaluate_many

    items = [{"frames": frames, "fps": FPS, "positions_known": False, "expected": scene.to_dict()}
             for frames, scene in zip(clips, scenes)]
    report = evaluate_many(items)
    rates = {k: round(r["rate"], 3) for k, r in report["rates"].items() if r["n"] and k in ("motion", "moves", "presence")}
    return {**rates, "motion_by_word": motion_by_word(report)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--motions", nargs="+", default=list(MOTIONS), metavar="MOTION",
                        help=f"the motions, taken in turn (default: {' '.join(MOTIONS)})")
    parser.add_argument("--first-frame", action="store_true", help="keep the first latent frame clean")
    parser.add_argument("--sample", action="store_true", help="also animate each clip's first frame and read it")
    args = parser.parse_args()
    from spacetime.world.scene import check_world_names

    check_world_names(motions=args.motions)
    torch.set_num_threads(args.threads)

    from spacetime import flow
    from spacetime.pipeline import Pipeline
    from spacetime.video.convert import frames_to_tensor
    from spacetime.world.render import render

    pipe = Pipeline.from_pretrained(args.model)
    rho = pipe.defaults.get("noise_correlation", 0.0)
    scenes, prompts = [], []
    for i in range(args.clips):
        rng = np.random.default_rng(i)
        scenes.append(scene_for(args.motions[i % len(args.motions)], rng))
        prompts.append(prompt_of(scenes[-1], rng))
    renders = [render(scene, SIZE, SIZE, FPS, FRAMES) for scene in scenes]  # uint8 (T, H, W, 3) each
    video = torch.stack([frames_to_tensor(frames) for frames in renders])  # (B, 3, T, H, W)
    generator = torch.Generator().manual_seed(args.seed)
    rows = {}
    with torch.no_grad():
        x0 = pipe.vae.encode_latents(video).float()  # (B, C, t, h, w)
        text, mask = pipe.text_encoder.encode(prompts)
        for level in LEVELS:
            eps = flow.frame_correlated_noise(x0.shape, rho, generator)
            t = torch.full(x0.shape[:1] + x0.shape[2:3], level)  # (B, t)
            if args.first_frame:
                t[:, 0] = 0.0
            x_t = flow.noise(x0, eps, t)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                v = pipe.dit(x_t, t, text, mask).float()
            estimate = x_t - t[:, None, :, None, None] * v  # (B, C, t, h, w)
            rows[level] = {"estimate": read(pipe, estimate, scenes), "x_t": read(pipe, x_t, scenes)}
            print(f"t = {level:g}: estimate {rows[level]['estimate']}, x_t {rows[level]['x_t']}")
    sampled = None
    if args.sample:
        clips = [pipe.animate(frames[0], prompt, frames=FRAMES, fps=FPS, width=SIZE, height=SIZE, seed=args.seed + i,
                              progress=False).frames
                 for i, (frames, prompt) in enumerate(zip(renders, prompts))]
        sampled = read_frames(clips, scenes)
        print(f"sampled from the first frame: {sampled}")
    print(json.dumps({"model": args.model or "embedded", "clips": args.clips, "motions": args.motions,
                      "first_frame": args.first_frame, "noise_correlation": rho,
                      "levels": {str(k): v for k, v in rows.items()}, "sampled": sampled}))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
