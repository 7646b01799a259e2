"""Opening a file as a video or a still image, with every failure turned into one line.

Shared by `probe` and `read`: checks the path, recognises still images by content
(Pillow, restricted to real image formats), opens everything else with PyAV (FFmpeg),
picks the video stream and refuses absurd ones. Nothing here decodes more than the
first frame.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from spacetime.errors import VideoReadError

# Still images are read with Pillow (EXIF orientation, 16-bit PNG, CMYK JPEG); GIF is a video
# (FFmpeg's demuxer gives per-frame timestamps), so it is not in this list.
PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "AVIF", "JPEG2000", "PPM")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".jp2",
                            ".ppm", ".pgm"})

# Guards against absurd streams: beyond these a frame cannot be useful here and a single
# RGB frame would already take gigabytes.
MAX_SIDE = 16384
MAX_PIXELS = 16384 * 8192

# Exceptions PyAV/FFmpeg and Pillow raise on bad input (FFmpegError is a ValueError subclass).
DECODE_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, EOFError, SyntaxError, Image.DecompressionBombError)


def is_image_path(path) -> bool:
    """True when the file name has a still-image suffix (.png, .jpg, .webp, .bmp, .tif); no I/O."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def reason(error: BaseException) -> str:
    """A short one-line reason from a PyAV/Pillow exception (no errno, no call names)."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())[:200]


def check_path(path) -> Path:
    """The path as a Path if it is a non-empty regular file, else a VideoReadError."""
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"{p}: no such file")
    if p.is_dir():
        raise VideoReadError(f"{p}: is a directory; pass a video or image file")
    if not p.is_file():
        raise VideoReadError(f"{p}: not a regular file; pass a video or image file")
    if p.stat().st_size == 0:
        raise VideoReadError(f"{p}: empty file (0 bytes)")
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        raise VideoReadError(f"{p}: cannot open ({reason(e)})") from None
    return p


def check_size(path: Path, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise VideoReadError(f"{path}: video stream has no picture size ({width}x{height}); the file is damaged")
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise VideoReadError(
            f"{path}: picture size {width}x{height} is too large (at most {MAX_SIDE} per side and "
            f"{MAX_PIXELS // 2**20} Mpixel); scale it down first"
        )


def open_image(path: Path) -> Image.Image | None:
    """The file opened lazily with Pillow if its content is a supported still image, else None."""
    try:
        with warnings.catch_warnings():  # huge images are refused by check_size with a clearer line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path, formats=PILLOW_FORMATS)
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError:
        limit = Image.MAX_IMAGE_PIXELS * 2 // 10**6
        raise VideoReadError(f"{path}: image is too large to read (over {limit} Mpixel)") from None
    except DECODE_ERRORS as e:
        raise VideoReadError(f"{path}: cannot read image ({reason(e)})") from None


def open_container(path: Path):
    """(container, video stream) opened with PyAV, or a VideoReadError saying why not."""
    try:
        container = av.open(str(path.resolve()), mode="r", metadata_errors="replace")
    except DECODE_ERRORS as e:
        # FFmpeg's errno text ("Device or resource busy", ...) misleads more than it helps here
        hint = "truncated, damaged or not a video" if isinstance(e, av.FFmpegError) else reason(e)
        raise VideoReadError(f"{path}: not a readable video or image ({hint})") from None
    try:
        stream = pick_video_stream(path, container)
    except BaseException:
        container.close()
        raise
    return container, stream


def pick_video_stream(path: Path, container):
    # Cover art in audio files is a one-picture "video" stream flagged attached_pic: not a video.
    attached_pic = int(av.stream.Disposition.attached_pic)
    videos = [s for s in container.streams.video if not (int(s.disposition) & attached_pic)]
    if not videos:
        if container.streams.audio:
            raise VideoReadError(f"{path}: has no video stream (audio only); pass a video or image file")
        raise VideoReadError(f"{path}: has no video stream; pass a video or image file")
    default = [s for s in videos if int(s.disposition) & int(av.stream.Disposition.default)]
    stream = (default or videos)[0]
    if stream.codec_context is None or stream.codec_context.codec is None:
        raise VideoReadError(f"{path}: video codec is not supported by this FFmpeg build; convert it to H.264")
    check_size(path, stream.codec_context.width, stream.codec_context.height)
    stream.thread_type = "AUTO"  # frame + slice threads: decoding is the cost of reading
    return stream


def stream_fps(stream) -> float | None:
    """Frames per second from the container header (average rate first), or None if unknown."""
    if stream.codec_context.name == "gif" and stream.frames and stream.duration and stream.time_base:
        # GIF delays are whole centiseconds, so FFmpeg's rate guess is off: frames / length is right
        return stream.frames / float(stream.duration * stream.time_base)
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(rate)
            if 0.01 < value < 10000:
                return value
    return None


def sample_aspect(stream) -> Fraction | None:
    """Pixel aspect ratio (container's, else codec's) if known and not square (anamorphic), else None."""
    for sar in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if not sar or sar.numerator <= 0 or sar.denominator <= 0:
            continue
        sar = Fraction(sar.numerator, sar.denominator)
        if abs(float(sar) - 1.0) < 0.01 or not 0.1 < float(sar) < 10:
            return None
        return sar
    return None


def display_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    """(width, height) as a player shows the picture: square pixels, then rotated."""
    if sar is not None:
        width = max(1, round(width * sar))
    if rotation in (90, 270):
        width, height = height, width
    return width, height


def frame_rotation(frame) -> int:
    """Clockwise degrees (0, 90, 180, 270) a player turns this decoded frame before showing it.

    FFmpeg's display matrix angle is counter-clockwise (`av_display_rotation_get`), so a
    phone video shot upright reports -90 and is turned 90 degrees clockwise.
    """
    try:
        angle = frame.rotation or 0
    except DECODE_ERRORS:
        return 0
    return int(round(-angle / 90.0)) % 4 * 90
