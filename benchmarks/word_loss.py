"""Does the DiT use a word? Its flow-matching loss with the right caption against the same caption
with that one word swapped, on moving world clips, per noise level. No sampling, no evaluator.

    python benchmarks/word_loss.py [--model FOLDER] [--clips 48] [--t 0.5 0.7 0.85 0.95]
                                   [--first-known [--centred] | --middle-known] [--threads 2] [--train-minutes 0]
                                   [--absolute-position] [--world-captions] [--train-masks world] [--sample N]

Clips of 17 frames (2 s at 8 fps, 128x128) of one medium or large object of a random colour and
shape on a plain background, moving left, right, up or down at the normal speed through the
centre. Every clip is captioned from one template, "[large] red square moving left on a black
background", and re-captioned with one word changed: the colour (another colour), the shape
(another shape) or the direction (the opposite one); "empty" is the empty prompt. For each clip
and noise level the same two noise draws (at the model's noise correlation) are used for every
caption, so the differences are paired.

Reported per word and t: `gap_pct`, how much higher the loss is with the wrong word than with the
right one, in % of the right caption's loss (with its standard error over clips), and `wins`, the
share of clips where the right caption gives the lower loss. A word the DiT ignores gives a gap
near 0 and wins near 0.5 (a model that never reads the text: exactly 0 and 0). `--first-known`: the first latent frame is given clean (image to video)
and only the others are scored. Add `--centred` to it: by default an object starts on the side
it moves away from, so a model that knows where on the canvas the first frame's object is can
read the direction from it and need not read the word; `--centred` clips start within 0.15 s of
the centre whatever their direction and move slowly (captioned "... moving left slowly ..."), so
given where the object starts, only the word tells where it is later. `--middle-known` gives the
middle latent frame instead: the default clips pass the centre mid-clip whatever their direction,
but that latent frame spans four pixel frames (the causal VAE), so it shows the motion and the
word is not needed there (MODEL.md, "The first frame from the centre").

`--train-minutes M` first fine-tunes the folder's DiT for M minutes of wall time on clips of the
same kind (fresh ones, the right captions; the first latent frame given with `--first-known`;
rectified flow at the folder's noise correlation, 10 % empty prompts, batch 8, AdamW lr 1e-4, EMA
0.995, as the learnability probes; `--lr` and `--shift` change the rate and the training noise
levels) and measures its EMA: a probe of how fast a recipe teaches a
word. `--absolute-position` first gives the DiT DiTConfig.absolute_position (a zero-initialised
projection of each token's place in the clip and on the canvas: it computes the same until
trained). `--world-captions` and `--train-masks world` train with the world stream's captions (random
style, synonyms, `spacetime.world.captions`) or known-frame masks (`flow.DEFAULT_MASK_PROBS`)
instead of the template and the measured mask: which of the probe's differences from
`spacetime train` matters; `--train-masks none=0.5 first_frame=0.5` trains on another mix of
`flow.MASK_KINDS`. `--sample N` then samples image to video (`Pipeline.animate`, the model's
sampling defaults) from the first frames of N fresh clips with their right captions and reports the
world evaluator's rates: does a word the loss uses reach the samples? Nothing is saved.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

FRAMES, FPS, SIZE = 17, 8.0, 128
DIRECTIONS = ("left", "right", "up", "down")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def clip_of(rng: np.random.Generator, centred: bool = False):
    """(scene, words): one object moving in a cardinal direction, and its caption words.

    By default it crosses the centre at the normal speed, so where it starts tells its direction.
    `centred`: it starts within 0.15 s of the centre whatever its direction and moves slowly (0.3 s
    in the clip, so it stays in frame), so a first frame does not give the direction away.
    """
    from spacetime.world import vocab
    from spacetime.world.scene import Scene, SceneObject

    color = str(rng.choice(list(vocab.COLORS)))
    shape = str(rng.choice(vocab.SHAPES))
    size = str(rng.choice(["medium", "large"]))
    direction = str(rng.choice(DIRECTIONS))
    background = str(rng.choice(["black", "gray", "white"]))
    speed = "slowly" if centred else "normal"
    travel = vocab.SPEEDS[speed] * (FRAMES - 1) / FPS
    start = (0.0 if centred else -0.5 * travel) * np.array(vocab.DIRECTIONS[direction]) + rng.uniform(-0.15, 0.15, 2)
    obj = SceneObject(color=color, shape=shape, size=size, motion=direction, speed=speed,
                      start=(float(start[0]), float(start[1])))
    words = {"size": size, "color": color, "shape": shape, "motion": direction, "speed": speed, "background": background}
    return Scene(background=background, objects=[obj]), words


def caption_of(words: dict) -> str:
    size = "large " if words["size"] == "large" else ""
    speed = " slowly" if words["speed"] == "slowly" else ""
    return f"{size}{words['color']} {words['shape']} moving {words['motion']}{speed} on a {words['background']} background"


def swapped(words: dict, word: str, rng: np.random.Generator) -> dict:
    """The same words with `word` changed: another colour or shape, or the opposite direction."""
    from spacetime.world import vocab

    if word == "motion":
        return {**words, "motion": OPPOSITE[words["motion"]]}
    options = [w for w in (vocab.COLORS if word == "color" else vocab.SHAPES) if w != words[word]]
    return {**words, word: str(rng.choice(options))}


def measure(pipe, clips: int, levels: list[float], first_known: bool = False, batch: int = 8, seed: int = 0,
            centred: bool = False, middle_known: bool = False) -> dict:
    """Paired losses per caption variant, clip and noise level -> gap and wins per swapped word.

    first_known / middle_known: that latent frame is given clean and the others are scored."""
    from spacetime import flow
    from spacetime.video.convert import frames_to_tensor
    from spacetime.world.render import render

    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    rho = pipe.defaults.get("noise_correlation", 0.0)
    variants = ("right", "color", "shape", "motion", "empty")
    losses = {v: {t: [] for t in levels} for v in variants}  # per clip
    for start in range(0, clips, batch):
        drawn = [clip_of(rng, centred) for _ in range(min(batch, clips - start))]
        video = torch.stack([frames_to_tensor(render(scene, SIZE, SIZE, FPS, FRAMES)) for scene, _ in drawn])
        with torch.no_grad():
            x0 = pipe.vae.encode_latents(video).float()  # (B, C, T, h, w)
        B, _, T = x0.shape[:3]
        captions = {"right": [caption_of(w) for _, w in drawn], "empty": [""] * B}
        for word in ("color", "shape", "motion"):
            captions[word] = [caption_of(swapped(w, word, rng)) for _, w in drawn]
        texts = {v: pipe.text_encoder.encode(captions[v]) for v in variants}
        given = 0 if first_known else T // 2 if middle_known else None  # the clean latent frame
        scored = torch.ones(T, dtype=torch.bool)  # (T,) the frames the loss counts
        if given is not None:
            scored[given] = False
        for t in levels:
            total = {v: torch.zeros(B) for v in variants}
            for _ in range(2):
                eps = flow.frame_correlated_noise(x0.shape, rho, generator)
                t_frames = torch.full((B, T), t)
                if given is not None:
                    t_frames[:, given] = 0.0
                x_t = flow.noise(x0, eps, t_frames)
                for v in variants:
                    text, mask = texts[v]
                    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                        velocity = pipe.dit(x_t, t_frames, text, mask)
                    error = (velocity.float() - (eps - x0)).pow(2)[:, :, scored]  # (B, C, T', h, w)
                    total[v] += error.mean(dim=(1, 2, 3, 4)) / 2
            for v in variants:
                losses[v][t].extend(total[v].tolist())
    report = {}
    for t in levels:
        right = np.array(losses["right"][t])
        row = {"loss": round(float(right.mean()), 5)}
        for v in ("color", "shape", "motion", "empty"):
            diff = np.array(losses[v][t]) - right
            row[v] = {"gap_pct": round(100 * float(diff.mean() / right.mean()), 2),
                      "se_pct": round(100 * float(diff.std(ddof=1) / np.sqrt(len(diff)) / right.mean()), 2),
                      "wins": round(float((diff > 0).mean()), 3)}
        report[str(t)] = row
    return report


def sample_motion(pipe, clips: int, centred: bool = False, seed: int = 1) -> dict:
    """Image to video on fresh clips of clip_of's kind: each clip's first frame and right caption go
    to Pipeline.animate (the model's sampling defaults, 17 frames), and the world evaluator reads each
    sample against the clip's scene. Returns the evaluator's rates (motion: the asked direction)."""
    from spacetime.world.evaluate import evaluate_many
    from spacetime.world.render import render

    rng, items = np.random.default_rng(10_000 + seed), []
    for i in range(clips):
        scene, words = clip_of(rng, centred)
        video = pipe.animate(render(scene, SIZE, SIZE, FPS, 1)[0], caption_of(words), seed=seed + i, frames=FRAMES,
                             width=SIZE, height=SIZE, fps=FPS, progress=False)
        items.append({"frames": video.frames, "fps": video.fps, "positions_known": False, "expected": scene.to_dict()})
    return {name: round(r["rate"], 3) for name, r in evaluate_many(items)["rates"].items() if r["n"]}


def finetune(pipe, minutes: float, first_known: bool = False, lr: float = 1e-4, shift: float = 1.0,
             seed: int = 123, centred: bool = False, world_captions: bool = False,
             mask_probs: dict[str, float] | None = None) -> int:
    """Train pipe.dit on fresh clips of clip_of's kind for `minutes`; pipe.dit becomes its EMA. Returns steps.

    world_captions: caption each clip as the world stream does (`world.captions.caption`, random
    style, synonyms) instead of the one template; mask_probs: random known-frame masks of these
    kinds (`flow.random_known_mask`; `flow.DEFAULT_MASK_PROBS` as `spacetime train` draws them)
    instead of the first frame given or none.
    """
    from _model_choice import finetune_on_clips

    from spacetime.world.captions import caption

    def draw_batch(rng):
        drawn = [clip_of(rng, centred) for _ in range(8)]
        captions = [caption(scene, rng) if world_captions else caption_of(words) for scene, words in drawn]
        return [scene for scene, _ in drawn], captions

    pipe.dit, steps = finetune_on_clips(pipe, minutes, draw_batch, (FRAMES, FPS, SIZE), first_known=first_known,
                                        mask_probs=mask_probs,
                                        shift=shift, lr=lr, seed=seed, log_every=100)
    return steps


def parse_mask_probs(parser, items: list[str] | None) -> dict[str, float] | None:
    """--train-masks: None, flow.DEFAULT_MASK_PROBS for 'world', else {kind: share}; errors name the item."""
    from spacetime import flow

    if not items:
        return None
    if items == ["world"]:
        return dict(flow.DEFAULT_MASK_PROBS)
    probs = {}
    for item in items:
        kind, _, share = item.partition("=")
        try:
            probs[kind] = float(share)
        except ValueError:
            parser.error(f"--train-masks takes 'world' or KIND=SHARE items, got {item!r}")
    try:
        flow.check_mask_probs(probs)
    except ValueError as e:
        parser.error(f"--train-masks: {e}")
    return probs


def print_report(report: dict, label: str) -> None:
    print(f"{label}: loss gap with one word swapped, % of the right caption's loss (+- s.e.; wins)")
    for t, row in report.items():
        cells = "  ".join(f"{v} {row[v]['gap_pct']:+6.2f} +-{row[v]['se_pct']:.2f} ({row[v]['wins']:.2f})"
                          for v in ("color", "shape", "motion", "empty"))
        print(f"  t={t:<5} loss {row['loss']:.4f}  {cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--t", type=float, nargs="+", default=[0.5, 0.7, 0.85, 0.95])
    parser.add_argument("--first-known", action="store_true", help="give the first latent frame (image to video)")
    parser.add_argument("--middle-known", action="store_true",
                        help="give the middle latent frame (measurement only; the default clips cross the centre then)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-minutes", type=float, default=0.0, help="fine-tune first, for this long")
    parser.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate of --train-minutes")
    parser.add_argument("--shift", type=float, default=1.0,
                        help="training noise-level shift of --train-minutes (3: 13.5 %% of steps above t = 0.9)")
    parser.add_argument("--centred", action="store_true",
                        help="clips start near the centre whatever their direction, moving slowly (use with --first-known)")
    parser.add_argument("--world-captions", action="store_true",
                        help="--train-minutes with the world's captions (styles, synonyms) instead of the template")
    parser.add_argument("--train-masks", nargs="+", metavar="KIND=SHARE",
                        help="--train-minutes with random known-frame masks instead of --first-known's: 'world' "
                             "(flow.DEFAULT_MASK_PROBS, as spacetime train) or shares of flow.MASK_KINDS, "
                             "e.g. none=0.5 first_frame=0.5")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="also sample image to video on N fresh clips and report the evaluator's motion rate")
    parser.add_argument("--absolute-position", action="store_true",
                        help="add DiTConfig.absolute_position (zero-initialised) to the DiT first")
    args = parser.parse_args()
    if args.clips < 2:
        parser.error("--clips must be at least 2 (the standard error needs two)")
    if args.middle_known and (args.first_known or args.centred):
        parser.error("--middle-known replaces --first-known [--centred]: give one of them")
    if not all(0 < t <= 1 for t in args.t):
        parser.error("--t takes noise levels in (0, 1]")
    mask_probs = parse_mask_probs(parser, args.train_masks)
    torch.set_num_threads(args.threads)

    from spacetime.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model)
    label, steps = args.model or "embedded", 0
    if args.absolute_position:
        from spacetime.train.tasks import with_overrides

        pipe.dit, _ = with_overrides(pipe.dit, {"absolute_position": True})
        label += " + absolute positions"
    if args.train_minutes > 0:
        steps = finetune(pipe, args.train_minutes, args.first_known, args.lr, args.shift, centred=args.centred,
                         world_captions=args.world_captions, mask_probs=mask_probs)
        given = f", masks {' '.join(args.train_masks)}" if mask_probs else ", first frame given" if args.first_known else ""
        label += (f", after {steps} steps ({args.train_minutes:g} min, lr {args.lr:g}, shift {args.shift:g}{given}"
                  f"{', world captions' if args.world_captions else ''})")
    if args.centred:
        label += ", centred slow clips"
    if args.middle_known:
        label += ", middle frame given"
    report = measure(pipe, args.clips, args.t, args.first_known, centred=args.centred, middle_known=args.middle_known)
    print_report(report, label)
    sampled = sample_motion(pipe, args.sample, args.centred) if args.sample else None
    if sampled:
        print(f"  image to video on {args.sample} clips, the right caption: " +
              ", ".join(f"{name} {rate:.3f}" for name, rate in sampled.items()))
    print(json.dumps({"model": args.model or "embedded", "train_minutes": args.train_minutes, "lr": args.lr, "shift": args.shift,
                      "absolute_position": args.absolute_position, "steps": steps, "clips": args.clips, "first_known": args.first_known,
                      "middle_known": args.middle_known, "centred": args.centred, "world_captions": args.world_captions, "train_masks": mask_probs,
                      "by_t": report, "sampled": sampled}))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
