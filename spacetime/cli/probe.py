"""`spacetime probe FILE`: what a video or image file holds, as JSON."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  spacetime probe clip.mp4
  spacetime probe phone.mov            # width/height as displayed (rotation applied)
  spacetime probe photo.jpg
  spacetime probe clip.mkv --decode    # also decode every frame to check the file is intact

output: one JSON object with path, width, height, fps, frame_count, duration (s), codec,
pix_fmt, rotation, is_image, frame_count_exact, container, has_audio. A file that cannot
be read gives one error line and exit status 2.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="print what a video or image file holds (size, fps, frames, duration, codec) as JSON",
        description="Print the size (as displayed), frame rate, frame count, duration and codec of a "
        "video or image as JSON, without decoding the whole file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="a video (mp4, mov, mkv, webm, avi, gif, ...) or image")
    parser.add_argument(
        "--decode", action="store_true",
        help="decode every frame as well and add decoded_frames; a damaged file gives a warning",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    import json

    from spacetime.video import iter_chunks, probe

    info = probe(args.file).to_dict()
    if args.decode:
        info["decoded_frames"] = sum(len(chunk) for chunk in iter_chunks(args.file, 64))
    print(json.dumps(info, indent=2))
    return 0
