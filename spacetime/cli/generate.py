"""`spacetime generate | image | animate | extend | loop | connect | edit | keyframes`.

Each command turns its arguments into one `Pipeline` call. Everything that can be
checked before sampling (sizes, times, input files, the output path) is checked first,
so a bad request fails in a second with one line instead of after minutes of work.
Heavy modules (torch, the pipeline) are imported inside the command functions.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from spacetime.errors import RequestError, VideoReadError
from spacetime.sizes import ASPECTS, resolve_size

SAMPLERS = ("euler", "heun", "dpmpp_2m")  # spacetime.model_folder.SAMPLERS, without importing torch

OUTPUT_SUFFIXES = (".mp4", ".webm", ".gif", ".png")

COMMON_EPILOG = """
common options: --model PATH (a model folder; default: the embedded model), --seed N (same
seed, same output), --steps N, --guidance G, --guidance-min-sigma S, --sampler euler|heun|dpmpp_2m,
--shift S, --size WxH or --aspect A:B [--short-side N], --seconds S or --frames N, --fps F,
-o/--output FILE (.mp4 .webm .gif .png), --overwrite. Defaults for size, length, fps, steps,
guidance, guidance-min-sigma, sampler and shift come from the model folder.
"""

COMMANDS = {
    "generate": (
        "text to video",
        """examples:
  spacetime generate "a red ball bounces on a checkered floor"
  spacetime generate "a blue cube slides left" --aspect 16:9 --short-side 128 --seconds 6 --fps 8
  spacetime generate "a green ball rolls" --size 320x192 --frames 33 --seed 7 -o ball.webm
  spacetime generate "a camera pans over shapes" --seconds 60     # long video, memory flat in length
""",
    ),
    "image": (
        "text to image (one frame, up to 2048x2048, PNG)",
        """examples:
  spacetime image "a yellow star on a black background"
  spacetime image "three red balls" --size 512x512 -o balls.png
""",
    ),
    "animate": (
        "image to video: the image becomes the first frame",
        """examples:
  spacetime animate start.png "the ball rolls to the right"
  spacetime animate photo.jpg --seconds 3 --seed 1 -o moving.mp4
""",
    ),
    "extend": (
        "extend a video forward (--after), backward (--before) or both",
        """examples:
  spacetime extend clip.mp4 "the ball keeps bouncing" --after 4
  spacetime extend clip.mp4 --before 2                  # a new beginning leading into the clip
  spacetime extend clip.mp4 --before 2 --after 2 -o longer.mp4
The original frames are written unchanged; the new ones are attached before/after them.
""",
    ),
    "loop": (
        "a seamless loop from a prompt, or make a video loop",
        """examples:
  spacetime loop "a red ball circles the center" --seconds 4     # the last frame leads into the first
  spacetime loop clip.mp4 --seconds 1                            # the clip, then a 1 s transition back to its start
  spacetime loop clip.mp4 "smoothly" --seconds 2
A source that is an existing file is a video to loop; anything else is a prompt.
""",
    ),
    "connect": (
        "a transition from the end of video A to the start of video B",
        """examples:
  spacetime connect a.mp4 b.mp4 --seconds 2                   # output: A, the transition, B
  spacetime connect a.mp4 b.mp4 "the ball flies over" --seconds 3 --transition-only
""",
    ),
    "edit": (
        "re-render a video toward a prompt, keeping its motion (SDEdit)",
        """examples:
  spacetime edit clip.mp4 "the ball is blue" --strength 0.6
  spacetime edit clip.mp4 "on a white background" --strength 0.8 --seed 3 -o edited.mp4
Strength 0 keeps the input, 1 ignores it; 0.4-0.7 changes looks and keeps motion.
""",
    ),
    "keyframes": (
        "images or clips pinned at any times, the rest generated around them",
        """examples:
  spacetime keyframes "a ball moves between two poses" --at start.png@0 --at end.png@-1f --seconds 4
  spacetime keyframes "" --at a.png@0 --at b.png@2s --at c.mp4@3.5 --seconds 6
  spacetime keyframes "a red ball" --at pose.png@1s:0.5          # strength 0.5: a softer guide
TIME is seconds (2, 2.5s) or frames (12f); negative counts from the end (-1f is the last frame).
""",
    ),
}


def register(subparsers) -> None:
    for name, (help_text, examples) in COMMANDS.items():
        p = subparsers.add_parser(
            name,
            help=help_text,
            description=f"spacetime {name}: {help_text}.",
            epilog=examples + COMMON_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _ARGUMENTS[name](p)
        _add_common(p, image=name == "image")
        p.set_defaults(func=run, command_name=name)


def _add_generate(p):
    p.add_argument("prompt", help="what to show (may be empty: \"\")")
    p.add_argument("--first-image", action=argparse.BooleanOptionalAction, default=None,
                   help="two passes: draw the first frame as an image, then animate it "
                        "(default: the model's; the embedded model does)")


def _add_image(p):
    p.add_argument("prompt", help="what to show (may be empty: \"\")")


def _add_animate(p):
    p.add_argument("image", help="the first frame (an image file, or a video whose first frame is used)")
    p.add_argument("prompt", nargs="?", default="", help="what happens next")
    p.add_argument("--strength", type=float, default=1.0, help="how strictly the image is kept (0-1, default 1)")


def _add_extend(p):
    p.add_argument("video", help="the video to extend")
    p.add_argument("prompt", nargs="?", default="", help="what happens in the new part")
    p.add_argument("--before", type=float, default=0.0, metavar="S", help="seconds to add before the video")
    p.add_argument("--after", type=float, default=0.0, metavar="S", help="seconds to add after the video")
    p.add_argument("--context", type=float, default=1.0, metavar="S",
                   help="seconds of the video the new part sees (default 1)")


def _add_loop(p):
    p.add_argument("source", help="a prompt, or a video file to make loop")
    p.add_argument("prompt", nargs="?", default=None, help="with a video: what the transition shows")


def _add_connect(p):
    p.add_argument("a", help="video A (the transition starts as it ends)")
    p.add_argument("b", help="video B (the transition ends as it starts)")
    p.add_argument("prompt", nargs="?", default="", help="what the transition shows")
    p.add_argument("--transition-only", action="store_true", help="write only the transition, not A and B")
    p.add_argument("--context", type=float, default=1.0, metavar="S",
                   help="seconds of A and B the transition sees (default 1)")


def _add_edit(p):
    p.add_argument("video", help="the video to re-render")
    p.add_argument("prompt", help="what it should become")
    p.add_argument("--strength", type=float, default=0.6, help="0 keeps the input, 1 ignores it (default 0.6)")


def _add_keyframes(p):
    p.add_argument("prompt", help="what happens around the keyframes (may be empty)")
    p.add_argument("--at", action="append", required=True, metavar="FILE@TIME[:STRENGTH]", dest="pins",
                   help="an image or clip pinned at TIME (seconds, or frames with f; negative from the end)")


_ARGUMENTS = {
    "generate": _add_generate, "image": _add_image, "animate": _add_animate, "extend": _add_extend,
    "loop": _add_loop, "connect": _add_connect, "edit": _add_edit, "keyframes": _add_keyframes,
}


def _add_common(p, image: bool = False) -> None:
    g = p.add_argument_group("model and sampling")
    g.add_argument("--model", metavar="PATH", help="model folder (default: the embedded model)")
    g.add_argument("--seed", type=int, help="random seed (printed; the same seed gives the same output)")
    g.add_argument("--steps", type=int, help="denoising steps")
    g.add_argument("--guidance", type=float, help="classifier-free guidance scale (1 = none)")
    g.add_argument("--guidance-min-sigma", type=float, metavar="S",
                   help="guide only at noise levels >= S (0..1); below, one pass instead of two "
                        "(default: the model's, else 0)")
    g.add_argument("--sampler", choices=SAMPLERS, help="ODE sampler (dpmpp_2m: DPM-Solver++(2M), one model call per step)")
    g.add_argument("--shift", type=float, help="timestep shift: more steps at high noise, where layout is decided "
                                                "(default: the model's, else from the token count)")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="transformer compute precision (default auto: bf16 where the CPU/GPU runs it natively)")
    g = p.add_argument_group("size and length")
    g.add_argument("--size", metavar="WxH", help="frame size in pixels, e.g. 256x144 (any size)")
    g.add_argument("--aspect", metavar="A:B", help=f"aspect ratio, e.g. {', '.join(ASPECTS)}")
    g.add_argument("--short-side", type=int, metavar="N", help="short side in pixels with --aspect")
    if not image:
        g.add_argument("--seconds", type=float, help="duration in seconds")
        g.add_argument("--frames", type=int, help="duration in frames")
        g.add_argument("--fps", type=float, help="frames per second")
    g = p.add_argument_group("output")
    g.add_argument("-o", "--output", metavar="FILE", help="output file: .mp4 (default), .webm, .gif or .png")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


# ---- argument helpers (sizes and pins are parsed by spacetime.sizes and spacetime.conditioning) -------


def _size_from_args(args, defaults: dict) -> tuple[int | None, int | None]:
    """--size, or --aspect with --short-side; flag conflicts are refused here, by flag name."""
    if args.size and args.aspect:
        raise RequestError("give --size or --aspect, not both")
    if args.short_side is not None and not args.aspect:
        raise RequestError("--short-side goes with --aspect (or give --size WxH)")
    return resolve_size(args.size, args.aspect, args.short_side, defaults)


def slug(text: str, limit: int = 40) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = "-".join(words)[:limit].strip("-")
    return out or "untitled"


def default_output(name: str, seed: int, suffix: str = ".mp4") -> Path:
    return Path(f"{slug(name)}-{seed}{suffix}")


def _check_input(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"{path}: no such file")
    if not p.is_file():
        raise VideoReadError(f"{path}: not a file")
    return p


def _probe_input(path: str):
    """Read the header now, so an unreadable input fails before the model loads."""
    from spacetime.video import probe

    _check_input(path)
    return probe(path)


# ---- the command --------------------------------------------------------------------------------------


def run(args) -> int:
    import random
    import sys

    from spacetime.conditioning import parse_pin  # imports numpy: kept out of `spacetime --help`

    name = args.command_name
    inputs = _inputs(args)
    for path in inputs:
        _probe_input(path)
    pins = [parse_pin(t) for t in args.pins] if name == "keyframes" else []
    for value, flag in ((getattr(args, "seconds", None), "--seconds"), (getattr(args, "fps", None), "--fps")):
        if value is not None and value <= 0:
            raise RequestError(f"{flag} must be positive, got {value:g}")
    if getattr(args, "frames", None) is not None and args.frames < 1:
        raise RequestError(f"--frames must be >= 1, got {args.frames}")
    if name == "edit" and not 0.0 < args.strength <= 1.0:
        raise RequestError(f"--strength must be in (0, 1], got {args.strength:g}")
    # A malformed size is refused before the model loads; a stand-in short side checks the
    # aspect's syntax, the model's own default short side is applied after loading.
    _size_from_args(args, {"width": 16, "height": 16})

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31 - 1)
    label = _label(args, inputs)
    output = Path(args.output) if args.output else default_output(label, seed, ".png" if name == "image" else ".mp4")
    from spacetime.pipeline import check_output_path

    one_frame = name == "image" or (name in ("generate", "keyframes") and getattr(args, "frames", None) == 1)
    check_output_path(output, overwrite=args.overwrite, num_frames=1 if one_frame else 2)

    from spacetime.pipeline import PRECISIONS, Pipeline

    pipe = Pipeline.from_pretrained(args.model).to(args.device, PRECISIONS[args.precision])
    width, height = _size_from_args(args, pipe.defaults)
    kw = dict(width=width, height=height, steps=args.steps, guidance=args.guidance, seed=seed,
              sampler=args.sampler, shift=args.shift, guidance_min_sigma=args.guidance_min_sigma,
              progress=not args.quiet)
    if name != "image":
        kw["fps"] = args.fps
    length = {} if name == "image" else dict(seconds=args.seconds, frames=args.frames)
    print(f"seed: {seed}", file=sys.stderr)
    out = dict(output=output, overwrite=args.overwrite)

    if name == "generate":
        result = pipe.generate(args.prompt, **length, **kw, **out, first_image=args.first_image)
    elif name == "image":
        result = pipe.image(args.prompt, **kw, **out)
    elif name == "animate":
        result = pipe.animate(args.image, args.prompt, strength=args.strength, **length, **kw, **out)
    elif name == "keyframes":
        result = pipe.generate(args.prompt, conditions=pins, **length, **kw, **out)
    elif name == "edit":
        result = pipe.generate(args.prompt, edit=args.video, edit_strength=args.strength, **length, **kw, **out)
    elif name == "extend":
        _no_length(args, "extend", "--before/--after")
        result = pipe.extend(args.video, args.prompt, before=args.before, after=args.after,
                             context_seconds=args.context, **kw, **out)
    elif name == "connect":
        _no_length(args, "connect", "--seconds", allow_seconds=True)
        result = pipe.connect(args.a, args.b, args.prompt, seconds=args.seconds or 2.0, context_seconds=args.context,
                              transition_only=args.transition_only, **kw, **out)
    elif name == "loop":
        if inputs:
            _no_length(args, "loop VIDEO", "--seconds (the transition)", allow_seconds=True)
            result = pipe.loop_video(args.source, args.prompt or "", seconds=args.seconds or 1.0, **kw, **out)
        else:
            if args.prompt is not None:
                raise RequestError(f"loop: {args.source!r} is not a file, so it is the prompt; give one prompt only")
            result = pipe.generate(args.source, loop=True, **length, **kw, **out)
    else:  # pragma: no cover - argparse only dispatches the names above
        raise RequestError(f"unknown command {name}")

    print(f"wrote {result.path} (seed {seed})")
    return 0


def _inputs(args) -> list[str]:
    name = args.command_name
    if name in ("animate",):
        return [args.image]
    if name in ("extend", "edit"):
        return [args.video]
    if name == "connect":
        return [args.a, args.b]
    if name == "loop":
        source = Path(args.source)
        looks_like_file = source.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v")
        if source.is_file():
            return [args.source]
        if looks_like_file and " " not in args.source:
            raise VideoReadError(f"{args.source}: no such file (to loop a prompt, write it in words)")
    return []


def _label(args, inputs: list[str]) -> str:
    prompt = getattr(args, "prompt", None)
    if args.command_name == "loop" and not inputs:
        prompt = args.source
    if prompt:
        return prompt
    if inputs:
        return f"{Path(inputs[0]).stem}-{args.command_name}"
    return args.command_name


def _no_length(args, command: str, what: str, allow_seconds: bool = False) -> None:
    if getattr(args, "frames", None) is not None or (args.seconds is not None and not allow_seconds):
        raise RequestError(f"{command} takes its length from {what}, not --frames/--seconds")
