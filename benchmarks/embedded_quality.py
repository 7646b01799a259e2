"""Quality of a model on fresh random world prompts, read back by the world evaluator (issue 8).

    .venv/bin/python benchmarks/embedded_quality.py [--model FOLDER] [--prompts 200]
                                                    [--style short|descriptive|random|paraphrase] [--image]
                                                    [--vae-ceiling | --two-pass | --one-pass | --true-first-frame]
                                                    [--null-pooled]

For each of N fresh scenes (seeded, never the training stream's seeds) a caption is written
(`spacetime.world.caption`, style short / descriptive / random), the model generates a
clip from it at its default size, length and fps, and `spacetime.world.evaluate` reads the
clip by colour against the scene's words (start positions are not judged: a caption does
not give them). Rates per check are printed as a table, then one JSON object as the last
line. `--out DIR` keeps the clips and a manifest.jsonl that `spacetime world eval` reads.

`--image` measures image generation instead: still scenes, one frame each (colour, shape,
size and presence; nothing moves).

`--two-pass` makes each clip in two passes: an image from the prompt (`Pipeline.image`), then
image to video from that image and the same prompt (`Pipeline.animate`): the layout is decided
before the motion, as in image-to-video systems that draw the first frame first. This is what
`generate` does by default for a model whose folder says `first_image` (the embedded model
from 0.7); `--one-pass` measures such a model drawing the whole clip at once.

`--null-pooled` is a diagnostic: the DiT's adaLN sees the empty prompt's pooled state (the mean of
the encoder's token states) for every prompt, so that the prompt reaches it through cross-attention
alone: what of a row the model reads from the pooled state.

`--true-first-frame` is image to video from each scene's own first frame (rendered, not drawn):
the second pass alone, so that a motion row of two passes can be split into what the image pass
draws and what the animation follows.

`--vae-ceiling` generates nothing: each scene's own render, at the same size, length and fps,
after a VAE round trip, is read the same way: the rates no DiT can beat through this VAE.
With `--ceiling-blur W` each latent frame after the first is mixed with its neighbours (weight W
on their mean) and with `--ceiling-noise S` Gaussian noise of standard deviation S (in the DiT's
latent units) is added to them before decoding: which kinds of latent error cost which rates
(`latent_disturbance`).

`--style paraphrase` writes the prompt with held-out sentence templates that the training
captions never use (`paraphrase`, below): the world's words for colours, shapes, sizes,
speeds, motions and backgrounds are kept (they are the contract of ../shared/WORLD.md), the
sentence structure and connecting words are new ("Watch as a small red circle makes its way
right quickly, set against a black background."). `paraphrases_seen_in_training` confirms
that no training caption contains any fixed phrase of these templates (tests run it). With
`--style short` and `--style paraphrase` this measures issue 8's last row (short prompts and
paraphrases within 10 points of the rates of the training styles).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCENE_SEED_BASE = 10_000_000  # far from the training stream's seeds
STYLES = ("short", "descriptive", "random", "paraphrase")

# ---- held-out phrasings (--style paraphrase) ------------------------------------------------------
# Fields: {things} one or more object clauses (subject + finite verb), {background} "a black
# background" / "a checkered floor"; in motion phrases {dir} a direction, {speed} " slowly" /
# " quickly" / "". Every literal piece of two or more words is a fixed phrase that no training
# caption may contain (`paraphrases_seen_in_training`).
PARAPHRASE_TEMPLATES = (
    "Watch as {things}, set against {background}.",
    "In this clip, {things}; {background} fills the frame behind.",
    "Take a look: {things}, and the setting is {background}.",
    "Against {background}, {things} for the length of the shot.",
    "The footage opens on {background}, where {things}.",
)
PARAPHRASE_MOTIONS: dict[str, tuple[str, ...]] = {
    "linear": ("makes its way {dir}{speed}", "keeps going {dir}{speed}"),
    "still": ("stays perfectly still", "holds still in one spot"),
    "bounce": ("keeps bouncing off the bottom edge", "bounces again and again"),
    "grow": ("grows bigger and bigger", "keeps growing in size"),
    "shrink": ("shrinks smaller and smaller", "keeps shrinking in size"),
    "spin": ("spins round and round", "keeps spinning in place"),
    "orbit": ("orbits around the centre of the frame", "keeps orbiting the centre"),
}
PARAPHRASE_DIRECTIONS = {"left": "left", "right": "right", "up": "up", "down": "down", "up-left": "up and left",
                         "up-right": "up and right", "down-left": "down and left", "down-right": "down and right"}
PARAPHRASE_SPEEDS = {"slowly": " slowly", "normal": "", "quickly": " quickly"}
PARAPHRASE_EXTRAS = {
    "trail": " and leaves a stripe of its own colour behind",
    "crossing": " and disappears for a moment behind a pillar",
    "pillar": "{things}, with a pillar standing at the centre of the frame",
    "collide": "{a} {move_a} and {b} {move_b} run into one another",
    "camera": "{things} as the camera sweeps {dir}",
    "join": "{first} and at the same time {second}",
}
PARAPHRASE_BACKGROUNDS = {"black": "a black background", "gray": "a gray background",
                          "white": "a white background", "checkered": "a checkered floor"}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _noun(obj) -> str:
    words = ([] if obj.size == "medium" else [obj.size]) + [obj.color, obj.shape]
    return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


def _paraphrase_motion(obj, rng) -> str:
    if obj.motion in PARAPHRASE_DIRECTIONS:
        return _pick(rng, PARAPHRASE_MOTIONS["linear"]).format(dir=PARAPHRASE_DIRECTIONS[obj.motion],
                                                               speed=PARAPHRASE_SPEEDS[obj.speed])
    return _pick(rng, PARAPHRASE_MOTIONS[obj.motion])


def paraphrase(scene, rng: np.random.Generator) -> str:
    """A prompt for `scene` in the held-out templates: the world's words, new sentences.

    Names every object's colour, shape, motion, size (when not medium) and speed (when not
    normal), the background, a camera pan, the pillar, trails and a collision.
    """
    objs = list(scene.objects)
    clauses = []
    rest = range(len(objs))
    if scene.collide and len(objs) >= 2:
        a, b = objs[:2]
        moves = [f"going {PARAPHRASE_DIRECTIONS[o.motion]}{PARAPHRASE_SPEEDS[o.speed]}"
                 if o.motion in PARAPHRASE_DIRECTIONS else "that " + _paraphrase_motion(o, rng) for o in (a, b)]
        clauses.append(PARAPHRASE_EXTRAS["collide"].format(a=_noun(a), b=_noun(b), move_a=moves[0], move_b=moves[1]))
        rest = range(2, len(objs))
    crossing = False
    for i in rest:
        obj = objs[i]
        clause = f"{_noun(obj)} {_paraphrase_motion(obj, rng)}"
        if obj.trail:
            clause += PARAPHRASE_EXTRAS["trail"]
        if scene.pillar and obj.motion in ("left", "right"):
            clause += PARAPHRASE_EXTRAS["crossing"]
            crossing = True
        clauses.append(clause)
    things = clauses[0] if clauses else "nothing moves"
    for clause in clauses[1:]:
        things = PARAPHRASE_EXTRAS["join"].format(first=things, second=clause)
    if scene.pillar and not crossing:
        things = PARAPHRASE_EXTRAS["pillar"].format(things=things)
    if scene.camera is not None:
        things = PARAPHRASE_EXTRAS["camera"].format(things=things, dir=PARAPHRASE_DIRECTIONS[scene.camera])
    text = _pick(rng, PARAPHRASE_TEMPLATES).format(things=things, background=PARAPHRASE_BACKGROUNDS[scene.background])
    return text[0].upper() + text[1:]


def paraphrase_fixed_phrases() -> list[str]:
    """The literal pieces (two or more words, lower case) of every held-out template."""
    texts = [*PARAPHRASE_TEMPLATES, *PARAPHRASE_EXTRAS.values()]
    texts += [t for options in PARAPHRASE_MOTIONS.values() for t in options]
    phrases = set()
    for text in texts:
        for piece in re.split(r"\{[a-z_]+\}|[,.;:]", text):
            words = piece.lower().split()
            if len(words) >= 2:
                phrases.add(" ".join(words))
    return sorted(phrases)


def paraphrases_seen_in_training(num_captions: int = 5000, num_scenes: int = 500,
                                 seed: int = 0) -> list[tuple[str, str]]:
    """(fixed phrase, training caption or phrase) pairs where a training caption uses a held-out phrase.

    Draws `num_captions` captions in each style a training config may use ("random", which
    earlier versions trained on, and "framed", which "varied" adds), every scenario, 1-3 objects;
    `num_scenes` scenes, several captions each, and also checks every phrase of the caption tables
    in spacetime.world.captions, so rare options are covered too.
    Empty means the paraphrases are held out. Also fails (raises) if a template has no fixed phrase.
    """
    from spacetime.world import captions as cap
    from spacetime.world.scene import sample_scene

    phrases = paraphrase_fixed_phrases()
    for text in (*PARAPHRASE_TEMPLATES, *(t for o in PARAPHRASE_MOTIONS.values() for t in o)):
        if not any(p in text.lower() for p in phrases):
            raise AssertionError(f"held-out template {text!r} has no fixed phrase of two or more words")
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(np.random.default_rng((seed, k))) for k in range(num_scenes)]
    seen = [cap.caption(scenes[k % num_scenes], rng, style).lower()
            for style in ("random", "framed") for k in range(num_captions)]
    tables = [cap.COLOR_WORDS, cap.SHAPE_WORDS, cap.SIZE_WORDS, cap.SPEED_WORDS, cap.BACKGROUND_WORDS,
              cap.BACKGROUND_NOUNS, cap.DIRECTION_WORDS, cap.PREFIX_PARTICIPLES]
    seen += [w.lower() for table in tables for words in table.values() for w in words]
    seen += [w.lower() for pair in cap.MOTION_PHRASES.values() for words in pair for w in words]
    seen += [w.lower() for w in (*cap.MOVE_PARTICIPLES, *cap.MOVE_VERBS, *cap.TRAIL_PHRASES, *cap.CAMERA_PHRASES,
                                 *cap.PILLAR_PHRASES, *cap.COLLIDE_PHRASES, *cap.MORE_MOVE_PARTICIPLES,
                                 *cap.MORE_MOVE_VERBS, *cap.PHRASE_FRAMES, *cap.SENTENCE_FRAMES,
                                 *cap.CLOSING_SENTENCES)]
    return [(p, text) for p in phrases for text in seen if p in text]


def write_prompt(scene, rng: np.random.Generator, style: str) -> str:
    """The prompt of `scene` in `style` (one of STYLES)."""
    from spacetime.world.captions import caption

    return paraphrase(scene, rng) if style == "paraphrase" else caption(scene, rng, style)


def quality_scene(i: int, *, seconds: float, aspect: float, style: str = "random", objects=(1, 1),
                  scenarios=("single",), image: bool = False):
    """(scene, prompt) number `i` of this benchmark's fresh scenes: the ones `measure` reads, for
    the probes that read the same scenes. image=True: a still scene of one frame (`--image`)."""
    from spacetime.world.scene import sample_scene

    rng = np.random.default_rng(SCENE_SEED_BASE + i)
    if image:  # what the training stream's one-frame buckets hold: nothing moves
        scene = sample_scene(rng, num_objects=tuple(objects), scenarios=tuple(scenarios), seconds=0.0,
                             aspect=aspect, motions=("still",))
    else:
        scene = sample_scene(rng, num_objects=tuple(objects), scenarios=tuple(scenarios), seconds=seconds,
                             aspect=aspect)
    return scene, write_prompt(scene, rng, style)


def latent_disturbance(noise: float = 0.0, blur: float = 0.0, seed: int = 0):
    """A map of latents (B, C, T, H, W) that leaves latent frame 0 (pixel frame 0 alone) as it is,
    mixes each later frame with the mean of its two neighbours (weight `blur`; frame 0 is no one's
    neighbour, and at the ends the frame itself stands in for the missing one), then adds
    N(0, noise^2) to them; None when both are 0."""
    import torch

    if not (noise >= 0.0 and 0.0 <= blur <= 1.0):
        raise ValueError(f"latent noise must be >= 0 and blur in [0, 1], got {noise} and {blur}")
    if noise == 0.0 and blur == 0.0:
        return None
    generator = torch.Generator().manual_seed(seed)

    def disturb(z):
        out = z.clone()
        last = z.shape[2] - 1
        for k in range(1, last + 1):
            before, after = max(1, k - 1), min(last, k + 1)
            out[:, :, k] = (1 - blur) * z[:, :, k] + blur * 0.5 * (z[:, :, before] + z[:, :, after])
        eps = torch.randn(z.shape, generator=generator).to(z)
        eps[:, :, 0] = 0
        return out + noise * eps

    return disturb


def render_through_vae(pipe, scene, frames: int | None = None, disturb=None):
    """The scene rendered at the pipeline's default size and fps (its default length, or `frames`),
    after a VAE round trip as the pipeline encodes given frames: a Video like generate's
    (`disturb`: a map of the latent before decoding, `latent_disturbance`)."""
    from types import SimpleNamespace

    from capability_quality import vae_round_trip  # beside this script
    from spacetime.world.render import render

    d = pipe.defaults
    fps = float(d["fps"])
    frames = frames or max(1, int(round(float(d["seconds"]) * fps)))
    rendered = render(scene, int(d["width"]), int(d["height"]), fps, frames)
    return SimpleNamespace(frames=vae_round_trip(pipe, rendered, 0, disturb), fps=fps)


def measure(pipe, prompts: int, *, style: str = "random", objects=(1, 1), scenarios=("single",),
            steps: int | None = None, out: Path | None = None, log=None, image: bool = False,
            vae_ceiling: bool = False, two_pass: bool | None = None,
            true_first_frame: bool = False, first_scene: int = 0, ceiling_noise: float = 0.0,
            ceiling_blur: float = 0.0) -> tuple[dict, dict]:
    """Generate from `prompts` fresh prompts and evaluate: (evaluate_many's report, the JSON line's dict).

    image=True: still scenes, one frame each (image generation: colour, shape, size, presence).
    vae_ceiling=True: no generation; each scene's own render at the default size, length and fps,
    encoded and decoded by the VAE, is read the same way: the most a DiT can reach through this VAE;
    ceiling_noise / ceiling_blur disturb its latents first (`latent_disturbance`).
    two_pass=True: text to video in two passes, an image from the prompt, then image to video from
    that image and the prompt (same seed), so the layout is decided before the motion; False: one
    pass; None: what `generate` does by default (the model folder's `first_image`).
    true_first_frame=True: image to video from each scene's own rendered first frame.
    first_scene: read scenes first_scene .. first_scene + prompts - 1 (seeds the same numbers), so that
    a choice made on scenes 0 to 199 can be checked on scenes no choice has seen."""
    from spacetime.video import write_video
    from spacetime.world.evaluate import evaluate_many
    from spacetime.world.render import render

    if first_scene < 0:
        raise ValueError(f"first_scene must be >= 0, got {first_scene}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    if (two_pass or true_first_frame) and (image or vae_ceiling):
        raise ValueError("two_pass and true_first_frame make clips: they cannot be combined with image or vae_ceiling")
    if (ceiling_noise or ceiling_blur) and not vae_ceiling:
        raise ValueError("ceiling_noise and ceiling_blur disturb the VAE round trip: they need vae_ceiling")
    disturb = latent_disturbance(ceiling_noise, ceiling_blur)
    if two_pass is not None and true_first_frame:
        raise ValueError("true_first_frame is the second pass alone: leave two_pass unset")
    log = log or (lambda text: print(text, file=sys.stderr))
    d = pipe.defaults
    seconds, aspect = float(d["seconds"]), d["width"] / d["height"]
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="spacetime_quality_"))
    out.mkdir(parents=True, exist_ok=True)
    items, manifest, started = [], [], time.perf_counter()
    for i in range(first_scene, first_scene + prompts):
        scene, prompt = quality_scene(i, seconds=seconds, aspect=aspect, style=style, objects=objects,
                                      scenarios=scenarios, image=image)
        if vae_ceiling:
            video = render_through_vae(pipe, scene, 1 if image else None, disturb)
        elif true_first_frame:
            first = render(scene, int(d["width"]), int(d["height"]), float(d["fps"]), 1)[0]  # (H, W, 3) uint8
            video = pipe.animate(first, prompt, seed=i, steps=steps, progress=False)
        elif two_pass:
            first = pipe.image(prompt, seed=i, steps=steps, progress=False)
            video = pipe.animate(first.frames[0], prompt, seed=i, steps=steps, progress=False)
        else:
            video = pipe.generate(prompt, seed=i, steps=steps, frames=1 if image else None, progress=False,
                                  first_image=None if image else two_pass)
        name = f"image_{i:04d}.png" if image else f"clip_{i:04d}.mp4"
        path = write_video(out / name, video.frames[0] if image else video.frames, video.fps, overwrite=True)
        items.append({"name": path.name, "frames": video.frames, "fps": video.fps, "expected": scene.to_dict(),
                      "positions_known": False})
        manifest.append({"path": path.name, "caption": prompt, "fps": video.fps, "frames": len(video.frames),
                         "width": video.frames.shape[2], "height": video.frames.shape[1], "scene": scene.to_dict()})
        log(f"[{i - first_scene + 1}/{prompts}] {prompt}")
    (out / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    report = evaluate_many(items)
    rates = {name: round(r["rate"], 4) for name, r in report["rates"].items() if r["n"]}
    if two_pass is None:
        two_pass = not (image or vae_ceiling or true_first_frame) and bool(pipe.defaults.get("first_image", False))
    result = {"prompts": prompts, "first_scene": first_scene, "style": style, "image": image, "vae_ceiling": vae_ceiling,
              **({"ceiling_noise": ceiling_noise, "ceiling_blur": ceiling_blur} if disturb else {}),
              "two_pass": two_pass, "true_first_frame": true_first_frame,
              "rates": rates, "motion_by_word": motion_by_word(report),
              "gravity_error_median": report.get("gravity_error_median"),
              "seconds_per_clip": round((time.perf_counter() - started) / max(prompts, 1), 2), "out": str(out)}
    return report, result


def motion_by_word(report: dict) -> dict[str, dict[str, int]]:
    """The motion check per motion word of the prompts: {word: {"passed", "n"}}, from
    evaluate_many's items (an object is counted where its motion was judged). Tells a model
    that follows some words (e.g. directions from a first frame) from one that follows none."""
    tally: dict[str, list[int]] = {}
    for item in report["items"]:
        for obj in item["objects"]:
            ok = obj["checks"].get("motion")
            if ok is not None:
                counts = tally.setdefault(obj["expected"]["motion"], [0, 0])
                counts[0] += bool(ok)
                counts[1] += 1
    return {word: {"passed": p, "n": n} for word, (p, n) in sorted(tally.items())}


def null_pooled_state(pipe) -> None:
    """Make pipe's DiT see the empty prompt's pooled state whatever the prompt (cross-attention still
    reads the prompt's tokens): patches `spacetime.dit.pooled_text` for this process."""
    from spacetime import dit

    reference = dit.pooled_text(*pipe.text_encoder.encode([""]))  # (1, D)
    dit.pooled_text = lambda text, text_mask: reference.to(text).expand(text.shape[0], -1)


def main() -> int:
    from _model_choice import add_world_quality_arguments  # beside this script

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--style", default="random", choices=STYLES)
    parser.add_argument("--image", action="store_true", help="still scenes, one frame each (image generation)")
    parser.add_argument("--vae-ceiling", action="store_true",
                        help="read the scenes' own renders after a VAE round trip instead of generating (the ceiling)")
    parser.add_argument("--ceiling-noise", type=float, default=0.0, metavar="S",
                        help="with --vae-ceiling: add N(0, S^2) to the latent frames after the first before decoding")
    parser.add_argument("--ceiling-blur", type=float, default=0.0, metavar="W",
                        help="with --vae-ceiling: mix each latent frame after the first with its neighbours, weight W")
    passes = parser.add_mutually_exclusive_group()
    passes.add_argument("--one-pass", dest="two_pass", action="store_false", default=None,
                        help="text to video in one pass, whatever the model's default")
    passes.add_argument("--two-pass", dest="two_pass", action="store_true", default=None,
                        help="text to video as an image from the prompt, then image to video from it")
    passes.add_argument("--true-first-frame", action="store_true",
                        help="image to video from each scene's own rendered first frame (the second pass alone)")
    parser.add_argument("--null-pooled", action="store_true",
                        help="give the DiT's adaLN the empty prompt's pooled state for every prompt (a diagnostic: "
                             "what the model reads from the pooled state rather than through cross-attention)")
    parser.add_argument("--first-scene", type=int, default=0, metavar="N",
                        help="start at scene N (default 0): scenes 200 onward are held out from choices made on 0-199")
    add_world_quality_arguments(parser, out_help="keep the clips and a manifest.jsonl here")
    args = parser.parse_args()
    if (args.ceiling_noise or args.ceiling_blur) and not args.vae_ceiling:
        parser.error("--ceiling-noise and --ceiling-blur disturb the VAE round trip: add --vae-ceiling")
    try:
        latent_disturbance(args.ceiling_noise, args.ceiling_blur)  # the one place the ranges are checked
    except ValueError as e:
        parser.error(f"--ceiling-noise / --ceiling-blur: {e}")

    from spacetime.pipeline import Pipeline
    from spacetime.world.evaluate import summary_table

    pipe = Pipeline.from_pretrained(args.model)
    if args.null_pooled:
        null_pooled_state(pipe)
    report, result = measure(pipe, args.prompts, style=args.style, objects=args.objects, scenarios=args.scenarios,
                             steps=args.steps, out=args.out, image=args.image,
                             vae_ceiling=args.vae_ceiling, two_pass=args.two_pass,
                             true_first_frame=args.true_first_frame, first_scene=args.first_scene,
                             ceiling_noise=args.ceiling_noise, ceiling_blur=args.ceiling_blur)
    print(summary_table(report))
    words = result["motion_by_word"]
    if words:
        print("motion per prompt word: " + ", ".join(f"{w} {c['passed']}/{c['n']}" for w, c in words.items()))
    print(f"clips and manifest: {result.pop('out')}")
    print(json.dumps({"model": args.model or "embedded", "null_pooled": args.null_pooled, **result}))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
