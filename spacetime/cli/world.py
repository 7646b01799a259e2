"""`spacetime world render|export|eval`: the synthetic world of WORLD.md from the command line."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  spacetime world render "a small blue square bounces on a white background" -o clip.mp4
  spacetime world render "red ball moving right, the camera pans left" -o wide.mp4 --size 512x256 --seconds 6
  spacetime world render "a large green triangle spins" -o still.png --frames 1
  spacetime world export data/world --clips 1000 --size 128x128 --size 192x96 --seconds 4
  spacetime world eval samples/ --report report.json

The world's words: colours red orange yellow green cyan blue purple pink; shapes circle (ball,
disc), square (box, block), triangle; sizes small medium large; motions still, left right up
down, up-left ..., bounce, grow, shrink, spin, orbit; speeds slowly quickly; backgrounds black
gray white checkered; "the camera pans left", "behind a pillar", "leaving a trail", "collide".
See docs/world.md.
"""

RENDER_EPILOG = """\
examples:
  spacetime world render "a small blue square bounces on a white background" -o clip.mp4
  spacetime world render "two balls collide" -o collide.gif --size 256x128 --fps 24
  spacetime world render --scene clip.json -o again.mp4 --frames 96

Writes the clip (format by suffix: .mp4 .webm .gif, or .png for one frame) and the scene as
JSON beside it (OUT with suffix .json), and prints that JSON.
"""

EXPORT_EPILOG = """\
examples:
  spacetime world export data/world --clips 1000
  spacetime world export data/world --clips 200 --size 128x128 --size 192x96 --size 96x192 --seconds 4 --fps 12
  spacetime world export data/images --clips 500 --frames 1 --size 128x128

Writes DIR/clips/NNNNNN.mp4 (.png for one-frame clips) and DIR/manifest.jsonl, one JSON object
per clip: path, caption, fps, frames, width, height, scene. Train on it like any video folder.
"""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 256x256") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small; width and height must be >= 16")
    return w, h


def _objects(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--objects {text!r} is not N or MIN-MAX, e.g. 1-3") from None


def _add_length(parser) -> None:
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="clip length in seconds (default 4)")
    length.add_argument("--frames", type=int, help="clip length in frames (1 = an image)")
    parser.add_argument("--fps", type=float, default=12.0, help="frames per second (default 12)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "world",
        help="the synthetic world: render a prompt, export a training set, evaluate generated videos",
        description="The procedurally rendered world of simple objects the embedded model is trained on.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="world_command", metavar="WORLD_COMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    render = sub.add_parser(
        "render", help="render a prompt (or a scene JSON) into a clip",
        description="Read a prompt in the world's vocabulary into a scene and render it exactly.",
        epilog=RENDER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.add_argument("prompt", nargs="?", metavar="PROMPT", help='what to show, e.g. "a red ball bounces"')
    render.add_argument("--scene", metavar="JSON", help="render this scene file instead of a prompt")
    render.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (.mp4 .webm .gif .png)")
    render.add_argument("--size", type=_size, default=(256, 256), metavar="WxH", help="canvas size (default 256x256)")
    _add_length(render)
    render.add_argument("--seed", type=int, default=0, help="seed for unnamed colours and start positions (default 0)")
    render.set_defaults(func=run_render)

    export = sub.add_parser(
        "export", help="write N rendered clips and a manifest.jsonl for training",
        description="Render random world scenes with captions into MP4 files and a JSONL manifest.",
        epilog=EXPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("directory", metavar="DIR", help="output folder")
    export.add_argument("--clips", type=int, required=True, metavar="N", help="number of clips")
    export.add_argument("--seed", type=int, default=0, help="seed of the whole export (default 0)")
    export.add_argument("--size", type=_size, action="append", metavar="WxH",
                        help="canvas size; repeat for several, each clip takes one at random (default 128x128)")
    _add_length(export)
    export.add_argument("--style", choices=("short", "descriptive", "framed", "random", "varied"), default="random",
                        help="caption style: short, descriptive, framed (either inside a sentence frame), "
                             "random (short or descriptive, half the time; the default) or varied (any of the three)")
    export.add_argument("--objects", type=_objects, default=(1, 3), metavar="MIN-MAX",
                        help="objects per clip, N or MIN-MAX (default 1-3)")
    export.add_argument("--scenarios", nargs="+", metavar="NAME",
                        help="only these: single multi collide pillar trail pan (default all)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing manifest in DIR")
    export.set_defaults(func=run_export)

    evaluate = sub.add_parser(
        "eval", help="measure how well generated videos follow their prompts and the world's physics",
        description="Read generated videos by colour and compare them with the scene their prompt describes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    try:
        from spacetime.world.evaluate import add_eval_arguments
    except ImportError as e:  # the evaluator is optional for the other subcommands
        evaluate.set_defaults(func=_missing_evaluator(e))
    else:
        add_eval_arguments(evaluate)
        evaluate.set_defaults(func=run_eval)


def _frames(args) -> int:
    from spacetime.errors import RequestError

    if args.frames is not None:
        frames = args.frames
    else:
        frames = round((4.0 if args.seconds is None else args.seconds) * args.fps)
    if frames < 1 or not args.fps > 0:
        raise RequestError(f"the clip needs at least one frame and fps > 0 (got {frames} frames at {args.fps} fps)")
    return int(frames)


def run_render(args) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from spacetime.errors import RequestError
    from spacetime.video import VideoWriter
    from spacetime.world.parse import parse_prompt
    from spacetime.world.render import iter_render
    from spacetime.world.scene import Scene

    if bool(args.prompt) == bool(args.scene):
        raise RequestError("give either a PROMPT or --scene FILE.json (not both)")
    width, height = args.size
    frames = _frames(args)
    if args.scene:
        try:
            scene = Scene.from_json(Path(args.scene).read_text())
        except OSError as e:
            raise RequestError(f"cannot read scene file {args.scene}: {e.strerror}") from None
    else:
        scene = parse_prompt(args.prompt, seconds=frames / args.fps, aspect=width / height,
                             rng=np.random.default_rng(args.seed))
    with VideoWriter(args.output, args.fps) as writer:  # streamed: memory does not grow with length
        for frame in iter_render(scene, width, height, args.fps, frames):
            writer.write(frame)
    out = writer.path
    scene_text = json.dumps(scene.to_dict(), indent=2)
    scene_path = Path(out).with_suffix(".json")
    scene_path.write_text(scene_text + "\n")
    print(scene_text)
    print(f"wrote {out} ({width}x{height}, {frames} frames at {args.fps:g} fps) and {scene_path}")
    return 0


def run_export(args) -> int:
    from spacetime.world.export import export_world
    from spacetime.world.scene import SCENARIOS

    manifest = export_world(
        args.directory, args.clips, seed=args.seed, sizes=args.size or [(128, 128)], frames=_frames(args),
        fps=args.fps, caption_style=args.style, num_objects=args.objects,
        scenarios=tuple(args.scenarios) if args.scenarios else SCENARIOS, overwrite=args.overwrite,
    )
    print(f"wrote {args.clips} clips and {manifest}")
    return 0


def run_eval(args) -> int:
    from spacetime.world.evaluate import run_eval_command

    return run_eval_command(args)


def _missing_evaluator(error):
    def run(args) -> int:
        from spacetime.errors import SpacetimeError

        raise SpacetimeError(f"the world evaluator is not available ({error}); reinstall spacetime")

    return run
