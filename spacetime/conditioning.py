"""What is given where: pinned images and clips, loops and edits -> a latent-frame plan.

Every capability is one mechanism (DESIGN.md): each latent frame is either *known*
(clean, from encoded pixels, kept fixed while sampling) or *generated*. This module
turns a user's request (images/clips pinned at times, a loop flag, an edit strength)
into a `Plan` that says, for each latent frame of the canvas, whether it is known and
from which pixels. It does no model work; the pipeline encodes what the plan says.

The causal VAE maps pixel frame 0 to latent frame 0 on its own and every later group of
4 pixel frames, (4j-3 .. 4j), to latent frame j. So:

* a pin at pixel frame f is latent frame `0 if f == 0 else 1 + (f - 1) // 4`;
* a clip pinned at pixel frames [s, s + n) pins every latent frame it touches; a group
  it covers only partly is filled by holding the clip's nearest end frame (a keyframe
  image in the middle of a video is held for the 4 frames of its latent frame);
* the pixels of a run of pinned latent frames [a, b) are encoded as one causal sequence
  that starts one pixel frame before group a (pixel 4a - 4, for a >= 1). The VAE encodes
  that first frame on its own, so the following groups line up exactly with the canvas's
  groups; the first latent is dropped. That context frame lies before the clip, so it is
  the clip's first frame held (the clip is taken to be still for one frame before it
  starts). For a = 0 the sequence simply starts at pixel 0.

Times: `at >= 0` is the pinned clip's first frame, counted from the canvas start;
`at < 0` counts from the canvas end (`at = -1` frame is the last frame; a clip of n frames
at `-n` frames ends exactly at the end). Seconds are rounded to the nearest frame.

Loop: the canvas is circular. A loop of n = 4k frames is written from canvas frames
1 .. 4k (latent frames 1 .. k; frame 0 is only the causal VAE's start). The plan adds
`loop_tie` latent frames after the canvas whose values are tied to latent frames 1.. of
the head: the sampler averages the velocities of tied frames and keeps them identical
(MultiDiffusion-style, Bar-Tal et al. 2023). So what follows the last written frame is,
latent for latent, the first written frames: the clip plays forever without a cut. The
model always sees an ordinary forward sequence (no wrapped-around positions).

Requests that cannot be honoured (a clip longer than the canvas, a pin outside it, two
pins sharing a latent frame, a bad strength) raise `RequestError`; nothing is trimmed
or moved silently.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacetime.errors import RequestError, SpacetimeWarning, VideoReadError

TEMPORAL_FACTOR = 4  # pixel frames per latent frame after the first


def latent_frames(num_frames: int) -> int:
    """Latent frames of a causal-VAE encoding of `num_frames` pixel frames: 1 + ceil((T-1)/4)."""
    if num_frames < 1:
        raise RequestError(f"a video needs at least 1 frame, got {num_frames}")
    return 1 + math.ceil((num_frames - 1) / TEMPORAL_FACTOR)


def pixel_frames(num_latent: int) -> int:
    """Pixel frames decoded from `num_latent` latent frames: 1 + 4 (T' - 1)."""
    return 1 + TEMPORAL_FACTOR * (num_latent - 1)


def latent_index(frame: int) -> int:
    """The latent frame holding pixel frame `frame`."""
    return 0 if frame == 0 else 1 + (frame - 1) // TEMPORAL_FACTOR


def latent_pixel_range(j: int) -> tuple[int, int]:
    """Pixel frames [start, stop) encoded in latent frame `j`."""
    return (0, 1) if j == 0 else (TEMPORAL_FACTOR * j - 3, TEMPORAL_FACTOR * j + 1)


def canvas_frames(requested: int) -> int:
    """The smallest 1 + 4k frame count >= `requested` (the VAE's natural lengths)."""
    return pixel_frames(latent_frames(requested))


@dataclass
class Condition:
    """An image or clip pinned on the canvas.

    frames: uint8 (t, H, W, 3) or one image (H, W, 3), or a path to an image/video
        (loaded and fitted by `load_condition`).
    at: where its first frame goes, in `unit`s; negative counts from the end.
    unit: "seconds" or "frames".
    strength: 1.0 pins it for the whole sampling; s < 1 holds it while the noise level
        is above 1 - s and lets the model refine it after (a softer guide).
    """

    frames: np.ndarray | str | Path
    at: float = 0.0
    unit: str = "seconds"
    strength: float = 1.0

    def __post_init__(self):
        if self.unit not in ("seconds", "frames"):
            raise RequestError(f"condition unit must be 'seconds' or 'frames', got {self.unit!r}")
        if not (0.0 < float(self.strength) <= 1.0):
            raise RequestError(f"condition strength must be in (0, 1], got {self.strength}")
        if self.unit == "frames" and float(self.at) != int(self.at):
            raise RequestError(f"a frame index must be a whole number, got {self.at}")


def parse_time(text: str) -> tuple[float, str, float]:
    """'TIME[:STRENGTH]' -> (at, unit, strength) for a `Condition`.

    TIME is seconds ('2', '2.5s') or whole frames ('12f'); negative counts from the end
    ('-1f' is the last frame). STRENGTH is a number in (0, 1], 1 when left out.
    """
    when, strength = text or "", 1.0
    if ":" in when:
        when, s = when.split(":", 1)
        try:
            strength = float(s)
        except ValueError:
            raise RequestError(f"strength {s!r} is not a number; write TIME:STRENGTH, e.g. 2s:0.5") from None
        if not 0.0 < strength <= 1.0:
            raise RequestError(f"strength {s!r} must be in (0, 1]")
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(s|f)?\s*", when)
    if not m or (m.group(2) == "f" and "." in m.group(1)):
        raise RequestError(f"time {when!r} is not seconds (2, 2.5s) or frames (12f; -1f is the last frame)")
    unit = "frames" if m.group(2) == "f" else "seconds"
    at = int(m.group(1)) if unit == "frames" else float(m.group(1))
    return at, unit, strength


def parse_pin(text: str) -> Condition:
    """'FILE@TIME[:STRENGTH]' -> Condition (see `parse_time`); the file must exist.

    The last '@' separates the file from the time, so file names may contain '@'.
    """
    if "@" not in text:
        raise RequestError(f"pin {text!r} must look like FILE@TIME, e.g. start.png@0 or end.png@-1f")
    path, when = text.rsplit("@", 1)
    try:
        at, unit, strength = parse_time(when)
    except RequestError as e:
        raise RequestError(f"pin {text!r}: {e}") from None
    if not Path(path).is_file():
        raise VideoReadError(f"{path}: {'not a file' if Path(path).exists() else 'no such file'}")
    return Condition(path, at=at, unit=unit, strength=strength)


@dataclass
class Pin:
    """A condition resolved onto the canvas."""

    frames: np.ndarray  # uint8 (n, H, W, 3)
    start: int  # first pixel frame on the canvas
    strength: float
    source: int  # index of the condition it came from

    @property
    def stop(self) -> int:
        return self.start + len(self.frames)

    @property
    def latent_range(self) -> tuple[int, int]:
        return latent_index(self.start), latent_index(self.stop - 1) + 1

    def encode_pixels(self) -> tuple[np.ndarray, int]:
        """Pixels to encode for this pin's latent frames, and how many leading latents to drop.

        See the module docstring: group-aligned, the clip's end frames held where a group
        is only partly covered, one held context frame in front when the run starts at a >= 1.
        """
        a, b = self.latent_range
        first = 0 if a == 0 else TEMPORAL_FACTOR * a - 4
        last = latent_pixel_range(b - 1)[1]  # exclusive
        index = np.clip(np.arange(first, last) - self.start, 0, len(self.frames) - 1)
        return self.frames[index], (0 if a == 0 else 1)


@dataclass
class Plan:
    """The resolved request: canvas length, pins, loop tie and edit strength."""

    num_frames: int  # pixel frames of the canvas (1 + 4k)
    output_frames: int  # pixel frames the user asked for (<= num_frames)
    fps: float
    output_start: int = 0  # first canvas frame written (1 for a loop: frame 0 is the causal start)
    pins: list[Pin] = field(default_factory=list)
    loop_tie: int = 0  # latent frames appended after the canvas, tied to head frames 1..loop_tie
    edit_strength: float | None = None

    @property
    def latent_frames(self) -> int:
        """Latent frames the sampler works on (the canvas plus a loop's tied tail)."""
        return latent_frames(self.num_frames) + self.loop_tie

    def known_mask(self) -> np.ndarray:
        """(T',) bool: latent frames given by a pin."""
        mask = np.zeros(self.latent_frames, dtype=bool)
        for pin in self.pins:
            a, b = pin.latent_range
            mask[a:b] = True
        return mask

    def strengths(self) -> np.ndarray:
        """(T',) float: each pinned latent frame's strength, 0 where generated."""
        out = np.zeros(self.latent_frames, dtype=np.float32)
        for pin in self.pins:
            a, b = pin.latent_range
            out[a:b] = pin.strength
        return out

    def ties(self) -> list[tuple[int, int]]:
        """(head, tail) latent pairs held identical for a loop."""
        base = latent_frames(self.num_frames)
        return [(1 + i, base + i) for i in range(self.loop_tie)]


def frame_of(at: float, unit: str, fps: float, num_frames: int) -> int:
    """A user time -> a canvas pixel frame (negative counts from the end)."""
    frame = int(at) if unit == "frames" else int(round(float(at) * fps))
    if float(at) < 0:
        frame = num_frames + frame
    return frame


def plan_request(
    conditions: list[Condition] | None,
    *,
    num_frames: int,
    fps: float,
    loop: bool = False,
    edit_strength: float | None = None,
    loop_tie: int = 2,
) -> Plan:
    """Resolve pinned conditions (with loaded frames) into a `Plan` or say why not.

    num_frames: the frames the user asked for; the canvas is rounded up to 1 + 4k frames
    and the extra frames (at most 3) are generated and dropped when writing.
    """
    if num_frames < 1:
        raise RequestError(f"a video needs at least 1 frame, got {num_frames}")
    if fps <= 0:
        raise RequestError(f"fps must be positive, got {fps}")
    if edit_strength is not None and not (0.0 < edit_strength <= 1.0):
        raise RequestError(f"edit strength must be in (0, 1], got {edit_strength}")
    tie, start = 0, 0
    if loop:
        # The written loop is canvas frames 1 .. 4k: whole latent groups, the tail tied to the head.
        length = TEMPORAL_FACTOR * math.ceil(num_frames / TEMPORAL_FACTOR)
        if length < 2 * TEMPORAL_FACTOR:
            raise RequestError(
                f"a loop needs at least {2 * TEMPORAL_FACTOR} frames ({num_frames} asked); ask for a longer clip"
            )
        if length != num_frames:
            warnings.warn(
                f"a loop is a whole number of 4-frame groups: {length} frames instead of {num_frames}",
                SpacetimeWarning,
                stacklevel=2,
            )
        num_frames, canvas, start = length, length + 1, 1
        tie = max(1, min(loop_tie, latent_frames(canvas) - 2))
    else:
        canvas = canvas_frames(num_frames)
    plan = Plan(num_frames=canvas, output_frames=num_frames, fps=fps, output_start=start, loop_tie=tie,
                edit_strength=edit_strength)
    for i, cond in enumerate(conditions or []):
        frames = cond.frames
        if not isinstance(frames, np.ndarray):
            raise RequestError(f"condition {i}: frames must be loaded first (see load_condition)")
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise RequestError(f"condition {i}: frames must be uint8 (t, H, W, 3), got {frames.dtype} {frames.shape}")
        when = _describe(cond)
        if len(frames) > num_frames:
            raise RequestError(
                f"the clip pinned at {when} has {len(frames)} frames, longer than the {num_frames}-frame video; "
                "ask for a longer video or a shorter clip"
            )
        start = frame_of(cond.at, cond.unit, fps, num_frames)  # in written frames
        if start < 0 or start + len(frames) > num_frames:
            raise RequestError(
                f"the {len(frames)}-frame clip pinned at {when} (frames {start}..{start + len(frames) - 1}) falls "
                f"outside the video (frames 0..{num_frames - 1}); move it or lengthen the video"
            )
        plan.pins.append(Pin(frames=frames, start=plan.output_start + start, strength=float(cond.strength), source=i))
    _check_overlaps(plan, conditions or [])
    return plan


def _check_overlaps(plan: Plan, conditions: list[Condition]) -> None:
    pins = sorted(plan.pins, key=lambda p: p.start)
    for prev, cur in zip(pins, pins[1:]):
        if cur.latent_range[0] < prev.latent_range[1]:
            what = "overlap" if cur.start < prev.stop else "share a latent frame (pins need 4 frames between them)"
            raise RequestError(
                f"the pins at {_describe(conditions[prev.source])} and {_describe(conditions[cur.source])} {what}; "
                "move one of them"
            )


def _describe(cond: Condition) -> str:
    return f"{cond.at:g}{'s' if cond.unit == 'seconds' else ' frames'}"


def load_condition(cond: Condition, *, width: int, height: int, fps: float, max_frames: int | None = None) -> Condition:
    """Read a path condition at the canvas fps and fit it to width x height (cropped to fill)."""
    from spacetime.video import fit_frames, probe, read_video

    frames = cond.frames
    if isinstance(frames, np.ndarray) and frames.ndim == 3:  # one image (H, W, 3)
        frames = frames[None]
    if not isinstance(frames, np.ndarray):
        info = probe(frames)
        if info.is_image:
            frames = read_video(frames).frames[:1]
        else:
            frames = read_video(frames, fps=fps, max_frames=max_frames).frames
    if frames.shape[1:3] != (height, width):
        frames = fit_frames(frames, width, height, mode="fill")
    return Condition(frames=np.ascontiguousarray(frames), at=cond.at, unit=cond.unit, strength=cond.strength)
