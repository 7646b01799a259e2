"""Frame sizes as people write them: "192x112", or an aspect ratio "16:9" with a short side.

Shared by the command line (`--size`, `--aspect`, `--short-side`) and the web UI's settings
panel, so both accept the same text and refuse it with the same one-line messages. The
messages name the value, not a flag or a field: each caller knows where the value came from.
Pure string arithmetic; whether the model can make that size is the pipeline's business
(`Pipeline.resolve_size`).
"""

from __future__ import annotations

import re

from spacetime.errors import RequestError

ASPECTS = ("16:9", "9:16", "21:9", "9:21", "1:1", "4:3", "3:4", "3:2", "2:3")


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' (also 'W X H', 'W*H') -> (width, height) in pixels."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", text or "")
    if not m:
        raise RequestError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 192x112")
    return int(m.group(1)), int(m.group(2))


def size_from_aspect(aspect: str, short_side: int) -> tuple[int, int]:
    """'A:B' with a short side N -> (width, height), the long side rounded to an even number."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", aspect or "")
    if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
        raise RequestError(f"aspect ratio {aspect!r} must look like A:B, e.g. {', '.join(ASPECTS[:4])}")
    a, b = float(m.group(1)), float(m.group(2))
    if short_side < 1:
        raise RequestError(f"the short side must be a positive number of pixels, got {short_side}")
    long_side = 2 * round(short_side * max(a, b) / min(a, b) / 2)
    return (long_side, short_side) if a >= b else (short_side, long_side)


def resolve_size(size: str | None, aspect: str | None, short_side: int | None,
                 defaults: dict) -> tuple[int | None, int | None]:
    """A size text wins, else an aspect ratio with a short side (default: the model's short side).

    Returns (None, None) when neither is given: the model folder's default size. `defaults`
    holds the model's "width" and "height".
    """
    if size and size.strip():
        return parse_size(size)
    if aspect and aspect.strip():
        short = min(int(defaults["width"]), int(defaults["height"])) if short_side is None else int(short_side)
        return size_from_aspect(aspect, short)
    return None, None
