"""What a video or image file holds, without decoding it.

The header gives size, rate, codec and usually the frame count; only the first frame is
decoded (for the rotation in its display matrix, the real pixel format, and to prove the
stream decodes at all). When the header has no frame count (Matroska/WebM, GIF, raw
streams) the packets are counted instead, which demuxes but does not decode; a file too
long to count within `count_budget_s` gets an estimate from duration x fps and
`frame_count_exact=False`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from spacetime.errors import VideoReadError
from spacetime.video import _open
from spacetime.video._open import DECODE_ERRORS, reason


@dataclass
class VideoInfo:
    """A probed file. width/height are as displayed (after rotation, square pixels).

    fps is None for a still image; duration is in seconds (0.0 for a still image);
    rotation is the clockwise angle a player turns the stored picture (0/90/180/270).
    """

    path: str
    width: int
    height: int
    fps: float | None
    frame_count: int
    duration: float
    codec: str
    pix_fmt: str
    rotation: int = 0
    is_image: bool = False
    frame_count_exact: bool = True
    container: str = ""
    has_audio: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def probe(path, *, count_budget_s: float = 10.0) -> VideoInfo:
    """Probe a video or image file; raises VideoReadError naming the file if it cannot be read."""
    p = _open.check_path(path)
    image = _open.open_image(p)
    if image is not None:
        return _probe_image(p, image)
    container, stream = _open.open_container(p)
    with container:
        return _probe_video(p, container, stream, count_budget_s)


def _probe_image(p: Path, image) -> VideoInfo:
    with image:
        try:
            image.load()  # proves the pixels decode (a still image is one cheap frame)
            n = getattr(image, "n_frames", 1)
            orientation = image.getexif().get(0x0112, 1) if n == 1 else 1
            width, height = image.size
            _open.check_size(p, width, height)
            if orientation in (5, 6, 7, 8):  # EXIF orientations that transpose the picture
                width, height = height, width
            rotation = {3: 180, 6: 90, 8: 270}.get(orientation, 0)
            duration = 0.0
            if n > 1:  # animated WebP/APNG
                for i in range(n):
                    image.seek(i)
                    image.load()  # WebP sets a frame's duration only once it is loaded
                    duration += max(image.info.get("duration") or 0, 1) / 1000.0
            image.seek(0)
            pix_fmt = image.mode
        except VideoReadError:
            raise
        except DECODE_ERRORS as e:
            raise VideoReadError(f"{p}: cannot read image ({reason(e)})") from None
        return VideoInfo(
            path=str(p), width=width, height=height, fps=(n / duration if n > 1 else None), frame_count=n,
            duration=duration, codec=image.format.lower(), pix_fmt=pix_fmt, rotation=rotation,
            is_image=n == 1, container=image.format.lower(),
        )


def _probe_video(p: Path, container, stream, count_budget_s: float) -> VideoInfo:
    first = _first_frame(p, container, stream)
    rotation = _open.frame_rotation(first)
    width, height = _open.display_size(first.width, first.height, _open.sample_aspect(stream), rotation)
    fps = _open.stream_fps(stream)
    time_base = float(stream.time_base) if stream.time_base else None
    duration = None
    if stream.duration and time_base:
        duration = stream.duration * time_base
    elif container.duration:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    frame_count, exact = stream.frames or 0, True
    if frame_count <= 0:
        frame_count, counted_duration, exact = _count_packets(p, count_budget_s)
        if not exact and duration and fps:
            frame_count = max(frame_count, round(duration * fps))
        duration = duration or counted_duration
    if not duration and fps:
        duration = frame_count / fps
    if not fps and duration:
        fps = frame_count / duration
    return VideoInfo(
        path=str(p), width=width, height=height, fps=fps, frame_count=int(frame_count),
        duration=float(duration or 0.0), codec=_codec_name(stream), pix_fmt=first.format.name,
        rotation=rotation, is_image=False, frame_count_exact=exact, container=container.format.name,
        has_audio=bool(container.streams.audio),
    )


def _codec_name(stream) -> str:
    codec = stream.codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name  # "av1", not the decoder "libdav1d"


def _first_frame(p: Path, container, stream):
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return frame
    except DECODE_ERRORS as e:
        raise VideoReadError(f"{p}: no decodable video frame ({reason(e)})") from None
    raise VideoReadError(f"{p}: no decodable video frame")


def _count_packets(p: Path, budget_s: float) -> tuple[int, float | None, bool]:
    """(packets holding data, end time in seconds, whether the count finished within budget).

    Demuxes a fresh handle (seeking back is unreliable in raw streams) without decoding.
    """
    container, stream = _open.open_container(p)
    deadline = time.monotonic() + budget_s
    count, end, origin, summed = 0, None, stream.start_time, 0
    time_base = float(stream.time_base) if stream.time_base else None
    with container:
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                count += 1
                summed += packet.duration or 0
                if packet.pts is not None:
                    origin = packet.pts if origin is None else origin
                    stop = packet.pts + (packet.duration or 0)
                    end = stop if end is None else max(end, stop)
                if count % 256 == 0 and time.monotonic() > deadline:
                    return count, None, False
        except DECODE_ERRORS:
            pass  # a damaged tail: the packets before it are what there is
    if time_base is None:
        return count, None, True
    seconds = (end - (origin or 0)) * time_base if end is not None else summed * time_base
    return count, (seconds or None), True
