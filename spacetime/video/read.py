"""Reading videos and still images as uint8 RGB frames, streamed.

Every frame comes out as a player shows it: 8-bit RGB (10-bit and other pixel formats are
converted by swscale), square pixels (anamorphic video is stretched to its display
aspect), rotation metadata applied, in presentation order, each with its timestamp in
seconds from the start of the stream (so variable frame rate is handled by time, not by
index).

A partly corrupt file gives its good frames: at the first decoding error (or a frame FFmpeg
flags as corrupt) reading stops, a SpacetimeWarning names the file and the time, and the
frames before it are returned. With `strict=True` that is a VideoReadError instead. A file
with no decodable frame at all is always a VideoReadError.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

from spacetime.errors import SpacetimeWarning, VideoReadError
from spacetime.video import _open
from spacetime.video._open import DECODE_ERRORS, reason

DEFAULT_MAX_BYTES = 8 * 2**30  # read_video refuses to hold more than this in memory
_EPS = 1e-6  # seconds: timestamps closer than this are the same instant


@dataclass
class Clip:
    """Decoded frames: `frames` uint8 (T, H, W, 3), `timestamps` float64 seconds (T,), `fps`.

    `fps` is the requested rate when resampled, else the stream's nominal rate (0.0 for an image).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.frames)


def read_video(path, start: float = 0.0, duration: float | None = None, fps: float | None = None,
               max_frames: int | None = None, *, strict: bool = False,
               max_bytes: int = DEFAULT_MAX_BYTES) -> Clip:
    """Read frames of a video or image into memory (see `iter_frames` for the arguments).

    Raises VideoReadError if the result would exceed `max_bytes` (then stream with
    `iter_chunks`, or bound it with `duration`, `fps` or `max_frames`).
    """
    nominal_fps, selected = _frames(path, start, duration, fps, max_frames, strict)
    frames, times = [], []
    total = 0
    for frame, t in selected:
        total += frame.nbytes
        if total > max_bytes:
            selected.close()
            raise VideoReadError(
                f"{path}: more than {max_bytes / 2**30:.1f} GiB of frames; pass duration, fps or "
                "max_frames, or stream it with iter_chunks"
            )
        frames.append(frame)
        times.append(t)
    return Clip(np.stack(frames), np.asarray(times, dtype=np.float64), float(fps) if fps else nominal_fps)


def iter_frames(path, start: float = 0.0, duration: float | None = None, fps: float | None = None,
                max_frames: int | None = None, *, strict: bool = False) -> Iterator[tuple[np.ndarray, float]]:
    """Yield (frame uint8 (H, W, 3), timestamp in seconds) in presentation order.

    start, duration: the time span [start, start + duration) in seconds from the first frame.
    fps: resample to this rate: for each output time start + k / fps the source frame whose
        timestamp is nearest at or before it (timestamp based, so VFR works); timestamps are
        then the output times.
    max_frames: stop after this many output frames.
    strict: a corrupt frame raises VideoReadError instead of ending the video with a warning.
    Errors (VideoReadError) are raised when iteration starts.
    """
    _, selected = _frames(path, start, duration, fps, max_frames, strict)
    yield from selected


def _frames(path, start, duration, fps, max_frames, strict):
    """(nominal fps, iterator of selected (frame, t)); opens the file now so errors come early."""
    _check_span(start, duration, fps, max_frames)
    p = _open.check_path(path)
    end = None if duration is None else start + duration
    source, frame_duration, nominal_fps = _source(p, start, strict)
    if fps is None:
        selected = _select_all(source, start, end)
    else:
        selected = _resample(source, start, end, 1.0 / fps, frame_duration)
    return nominal_fps, _bounded(p, selected, start, max_frames)


def _bounded(p, selected, start, max_frames):
    count = 0
    try:
        last = None
        for frame, t in selected:
            # upsampling repeats a frame: hand out copies so callers may modify what they get
            yield (frame.rgb().copy() if frame is last else frame.rgb()), t
            last = frame
            count += 1
            if max_frames is not None and count >= max_frames:
                return
    finally:
        selected.close()
    if count == 0:
        raise VideoReadError(
            f"{p}: no frame at or after start={start:g} s; the video is shorter, or damaged before that"
        )


def iter_chunks(path, chunk_frames: int, start: float = 0.0, duration: float | None = None,
                fps: float | None = None, max_frames: int | None = None, *,
                strict: bool = False) -> Iterator[np.ndarray]:
    """Yield uint8 (t, H, W, 3) chunks of `chunk_frames` frames (the last may be shorter).

    Same arguments as `iter_frames`; only one chunk is in memory at a time.
    """
    if not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive int, got {chunk_frames!r}")
    chunk = []
    for frame, _ in iter_frames(path, start, duration, fps, max_frames, strict=strict):
        chunk.append(frame)
        if len(chunk) == chunk_frames:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


# --- selection in time -------------------------------------------------------------------

def _check_span(start, duration, fps, max_frames) -> None:
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start >= 0):
        raise ValueError(f"start must be a finite number of seconds >= 0, got {start!r}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds or None, got {duration!r}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number or None, got {fps!r}")
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, got {max_frames!r}")


def _select_all(source, start, end):
    for frame, t in source:
        if t < start - _EPS:
            continue
        if end is not None and t >= end - _EPS:
            return
        yield frame, t


def _resample(source, start, end, step, frame_duration):
    """Output time T_k = origin + k * step takes the last source frame with timestamp <= T_k.

    The grid starts at `start`, or at the first frame if that comes later (no invented
    leading frames); the last source frame lasts `frame_duration` (None: one step, so a
    still image gives one frame).
    """
    frame_duration = frame_duration or step
    origin = None
    previous = None  # (frame, t): the latest source frame at or before the next output time
    k = 0
    for frame, t in source:
        if t <= start + _EPS:
            previous = (frame, t)
            continue
        if origin is None:
            if previous is None:
                origin, previous = t, (frame, t)
                continue
            origin = start
        while True:
            T = origin + k * step
            if T >= t - _EPS:
                break
            if end is not None and T >= end - _EPS:
                return
            yield previous[0], T
            k += 1
        previous = (frame, t)
    if previous is None:
        return
    if origin is None:
        origin = start if previous[1] + frame_duration > start + _EPS else None
        if origin is None:
            return
    stop = previous[1] + frame_duration
    while True:
        T = origin + k * step
        if T >= stop - _EPS or (end is not None and T >= end - _EPS):
            return
        yield previous[0], T
        k += 1


# --- decoding ----------------------------------------------------------------------------

def _source(p: Path, start: float, strict: bool):
    """(iterator of (frame, t) from the file start or a keyframe before `start`, frame duration, fps)."""
    image = _open.open_image(p)
    if image is not None:
        try:
            image.load()  # WebP sets the frame duration only once it is loaded
        except DECODE_ERRORS as e:
            image.close()
            raise VideoReadError(f"{p}: cannot read image ({reason(e)})") from None
        duration = _image_frame_duration(image)
        return _image_frames(p, image), duration, (1.0 / duration if duration else 0.0)
    container, stream = _open.open_container(p)
    fps = _open.stream_fps(stream)
    return _video_frames(p, container, stream, start, strict, fps or 25.0), 1.0 / (fps or 25.0), fps or 0.0


def _image_frame_duration(image) -> float | None:
    duration_ms = image.info.get("duration") or 0
    return duration_ms / 1000.0 if duration_ms > 0 else None  # None: a still image, one output frame


def _image_frames(p: Path, image: Image.Image):
    """Frames of a still (or animated WebP/APNG) image: EXIF orientation applied, alpha over black."""
    with image:
        try:
            _open.check_size(p, *image.size)
            n = getattr(image, "n_frames", 1)
            t = 0.0
            for i in range(n):
                image.seek(i)
                frame = ImageOps.exif_transpose(image) if n == 1 else image
                yield _Decoded(_pil_to_rgb(frame)), t
                t += max(image.info.get("duration") or 0, 1) / 1000.0
        except VideoReadError:
            raise
        except DECODE_ERRORS as e:
            raise VideoReadError(f"{p}: cannot read image ({reason(e)})") from None


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNG: Pillow's convert("RGB") clips instead of scaling
        values = np.asarray(image, dtype=np.float64)
        scale = 257.0 if values.max() <= 65535 else values.max() / 255.0
        gray = np.clip(np.round(values / scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
        return ((rgba[..., :3] * rgba[..., 3:] + 127) // 255).astype(np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _video_frames(p: Path, container, stream, start: float, strict: bool, fps: float):
    """Decoded frames with timestamps; stops (with a warning) at the first corrupt data.

    For start > 0 it seeks to the keyframe before `start`; if the demuxer lands after
    `start` (inexact seeking in some formats) it decodes again from the beginning.
    """
    if start > 0 and stream.start_time is not None:
        landed = yield from _decode(p, container, stream, start, strict, fps, seek=True)
        if landed:
            return
        container, stream = _open.open_container(p)
    yield from _decode(p, container, stream, start, strict, fps, seek=False)


def _decode(p: Path, container, stream, start: float, strict: bool, fps: float, seek: bool):
    """Yield (frame, t); returns False (having yielded nothing) if a seek landed after `start`."""
    with container:
        time_base = float(stream.time_base) if stream.time_base else 1.0 / fps
        origin = stream.start_time
        if seek and not _seek(container, stream, origin + int(start / time_base)):
            return False
        good = 0
        last_t = None
        size = None  # (width, height) before rotation, fixed by the first frame
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if frame.is_corrupt:
                        raise _Corrupt("a frame is flagged corrupt by the decoder")
                    if frame.pts is not None and origin is None:
                        origin = frame.pts
                    if frame.pts is None:
                        t = 0.0 if last_t is None else last_t + 1.0 / fps
                    else:
                        t = (frame.pts - origin) * time_base
                    if seek and last_t is None and t > start + _EPS:
                        return False
                    if last_t is not None and t <= last_t + _EPS:
                        t = last_t + 1.0 / fps  # duplicate or backward timestamp: keep decode order
                    if size is None:
                        sar = _open.sample_aspect(stream)
                        size = _open.display_size(frame.width, frame.height, sar, 0)
                    yield _Decoded(frame, size), t
                    good += 1
                    last_t = t
        except _Corrupt as e:
            _corrupt(p, good, last_t, str(e), strict)
            return True
        except DECODE_ERRORS as e:
            _corrupt(p, good, last_t, f"corrupt data ({reason(e)})", strict)
            return True
        if good == 0:
            if seek:
                return False  # nothing after the seek point: let a full decode decide
            raise VideoReadError(f"{p}: no decodable video frame")
        declared = stream.frames or 0
        if not seek and good < declared - 1:  # one frame of slack for edit lists
            _corrupt(p, good, last_t, f"file ends early (its header declares {declared} frames)", strict)
        return True


class _Corrupt(Exception):
    pass


def _corrupt(p: Path, good: int, last_t, why: str, strict: bool) -> None:
    if good == 0:
        raise VideoReadError(f"{p}: no decodable video frame ({why})")
    where = f"after {good} good frame{'s' if good > 1 else ''} ({last_t:.2f} s)"
    if strict:
        raise VideoReadError(f"{p}: {why} {where}")
    warnings.warn(f"{p}: {why} {where}; returning the frames before it", SpacetimeWarning, stacklevel=3)


def _seek(container, stream, target_pts: int) -> bool:
    try:
        container.seek(max(target_pts, 0), stream=stream, backward=True, any_frame=False)
        return True
    except DECODE_ERRORS:
        return False  # unseekable: decode from the beginning and skip


class _Decoded:
    """A decoded frame whose RGB conversion runs only if it is selected (and at most once):
    resampling a long video to a low fps skips the colour conversion of dropped frames."""

    __slots__ = ("frame", "size", "array")

    def __init__(self, frame, size=None):
        self.frame, self.size = frame, size
        self.array = frame if isinstance(frame, np.ndarray) else None

    def rgb(self) -> np.ndarray:
        if self.array is None:
            self.array, self.frame = _frame_to_rgb(self.frame, self.size), None
        return self.array


def _frame_to_rgb(frame, size) -> np.ndarray:
    """uint8 (H, W, 3) RGB as displayed: scaled to `size` (square pixels), then rotated."""
    width, height = size
    # Tagged colour matrices/ranges are honoured; untagged video is read as FFmpeg writes it (BT.601).
    rgb = frame.to_ndarray(
        format="rgb24",
        width=width if width != frame.width else None,
        height=height if height != frame.height else None,
        src_color_range=frame.color_range or None,
        dst_color_range="JPEG",
    )
    rotation = _open.frame_rotation(frame)
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
    return rgb
