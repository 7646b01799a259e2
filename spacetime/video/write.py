"""Writing frames: browser-playable MP4, WebM, GIF and single images, streamed and atomic.

The format follows the file suffix:
  .mp4 / .mov / .mkv  H.264 (libx264), yuv420p, BT.709 tags, and for .mp4/.mov the moov atom
                      first (faststart), so every browser plays it while it downloads.
  .webm               VP9 (libvpx-vp9), yuv420p.
  .gif                Pillow, a 256-colour palette per frame (dithered), looping; frames are
                      held in memory (as palette images) until the file is closed.
  .png / .jpg / .webp one frame (a still image); more frames is a VideoWriteError.

H.264 in yuv420p needs even dimensions: an odd width or height is padded by repeating the
last column/row (one pixel) with a SpacetimeWarning. WebM, GIF and images keep the exact size.

Same frames, same file: on x86 CPUs with AVX-512, libx264 is kept to its AVX2 code. With its
AVX-512 routines, encoding the same 64x64 frames in one process gave a different stream in
1 to 7 of 300 runs (a few pixel values in one frame), whatever x264's thread count; never with
AVX2 (800 runs), at the same speed (426x240, 90 frames: 0.31-0.34 s either way).

Every write goes to a hidden temporary file beside the target and is renamed over it only
when complete, so an interrupted or failed write leaves nothing under the final name.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from spacetime.errors import SpacetimeWarning, VideoWriteError
from spacetime.modelio import permit_as_new_file

H264_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
SUFFIXES = H264_SUFFIXES + (".webm", ".gif") + tuple(IMAGE_SUFFIXES)
DEFAULT_CRF = {"h264": 18, "vp9": 31}  # visually near-lossless H.264; VP9's recommended 1080p value
MAX_SIDE = 16384


def _x264_reproducible_options() -> dict:
    """x264-params that keep libx264 off its AVX-512 code where the CPU has it (see the module docstring)."""
    try:
        with open("/proc/cpuinfo") as f:
            has_avx512 = any(line.startswith("flags") and " avx512" in line for line in f)
    except OSError:  # not Linux: leave x264's own CPU detection alone
        return {}
    return {"x264-params": "asm=AVX2"} if has_avx512 else {}


X264_REPRODUCIBLE = _x264_reproducible_options()


def write_video(path, frames: np.ndarray, fps: float, *, quality: int | None = None, overwrite: bool = True) -> Path:
    """Write uint8 (T, H, W, 3) frames (or one (H, W, 3) image) to `path`; the format follows the suffix.

    quality: encoder CRF, lower is better (H.264 0-51, default 18; VP9 0-63, default 31);
        ignored for GIF and images.
    Returns the written path. Raises VideoWriteError naming the path on any failure.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    with VideoWriter(path, fps, quality=quality, overwrite=overwrite) as writer:
        writer.write(frames)
    return writer.path


class VideoWriter:
    """Streaming, atomic writer: `with VideoWriter(path, fps) as w: w.write(chunk)`.

    Each chunk is uint8 (t, H, W, 3) (or one (H, W, 3) frame); the first chunk fixes the size.
    On leaving the block normally the file is finalised and renamed into place; on an
    exception the temporary file is removed and nothing appears under `path`.
    (GIF frames are held in memory, one byte per pixel, until the end: Pillow writes the file at once.)
    """

    def __init__(self, path, fps: float, *, quality: int | None = None, overwrite: bool = True):
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in SUFFIXES:
            raise VideoWriteError(
                f"{self.path}: cannot write '{self.suffix or 'no suffix'}'; use one of {', '.join(SUFFIXES)}"
            )
        if not (isinstance(fps, (int, float, Fraction, np.integer, np.floating)) and math.isfinite(fps)
                and 0 < fps <= 1000):
            raise VideoWriteError(f"{self.path}: fps must be a number in (0, 1000], got {fps!r}")
        top = 63 if self.suffix == ".webm" else 51
        if quality is not None and not (isinstance(quality, (int, np.integer)) and 0 <= quality <= top):
            raise VideoWriteError(f"{self.path}: quality is a CRF value in 0..{top} (lower is better), got {quality!r}")
        if self.path.exists() and (not overwrite or self.path.is_dir()):
            raise VideoWriteError(f"{self.path}: already exists; remove it or pass overwrite=True")
        self.fps = Fraction(float(fps)).limit_denominator(1001)
        self.quality = quality
        self.size = None  # (width, height) of the frames given, fixed by the first chunk
        self.frames_written = 0
        self._tmp = None
        self._container = None
        self._stream = None
        self._gif_frames = []
        self._warned_pad = False

    # --- public ---------------------------------------------------------------------------
    def write(self, frames: np.ndarray) -> None:
        """Append uint8 (t, H, W, 3) frames; on any error the partial file is dropped (see abort)."""
        try:
            frames = self._check_chunk(frames)
        except VideoWriteError:
            self.abort()
            raise
        if len(frames) == 0:
            return
        try:
            if self._tmp is None:
                self._start(frames.shape[2], frames.shape[1])
            if self.suffix in IMAGE_SUFFIXES:
                self._write_image(frames)
            elif self.suffix == ".gif":
                self._gif_frames.extend(_to_palette(f) for f in frames)
            else:
                for frame in frames:
                    self._encode(self._to_video_frame(frame))
        except VideoWriteError:
            self.abort()
            raise
        except (av.FFmpegError, OSError, ValueError) as e:
            self.abort()
            raise VideoWriteError(f"{self.path}: encoding failed ({_reason(e)})") from None
        self.frames_written += len(frames)

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if self._tmp is None:
            raise VideoWriteError(f"{self.path}: no frames were written; nothing to save")
        try:
            if self.suffix == ".gif":
                self._save_gif()
            elif self._container is not None:
                self._encode(None)  # flush the encoder's delayed frames
                self._container.close()
                self._container = None
            os.replace(self._tmp, self.path)
        except (av.FFmpegError, OSError, ValueError) as e:
            self.abort()
            raise VideoWriteError(f"{self.path}: could not finish the file ({_reason(e)})") from None
        self._tmp = None
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; nothing is left under the final name."""
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError, ValueError):
                pass
            self._container = None
        if self._tmp is not None:
            Path(self._tmp).unlink(missing_ok=True)
            self._tmp = None
        self._gif_frames = []

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # --- internals ------------------------------------------------------------------------
    def _check_chunk(self, frames) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8:
            raise VideoWriteError(f"{self.path}: frames must be uint8 (use tensor_to_frames), got {frames.dtype}")
        if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape[1:3]:
            raise VideoWriteError(f"{self.path}: frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
        height, width = frames.shape[1:3]
        if max(width, height) > MAX_SIDE:
            raise VideoWriteError(f"{self.path}: frame size {width}x{height} exceeds {MAX_SIDE} per side")
        if self.size is not None and (width, height) != self.size:
            raise VideoWriteError(
                f"{self.path}: frame size changed from {self.size[0]}x{self.size[1]} to {width}x{height}"
            )
        return frames

    def _start(self, width: int, height: int) -> None:
        self.size = (width, height)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".part")
            os.close(fd)
            permit_as_new_file(self._tmp)  # mkstemp makes 0600; the video should be as readable as any file
        except OSError as e:
            raise VideoWriteError(f"{self.path}: cannot create a file there ({_reason(e)})") from None
        if self.suffix in IMAGE_SUFFIXES or self.suffix == ".gif":
            return
        if self.suffix == ".webm":
            codec, fmt, options = "libvpx-vp9", "webm", {
                "crf": str(DEFAULT_CRF["vp9"] if self.quality is None else self.quality),
                "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1",
            }
            container_options = {}
        else:
            codec, options = "libx264", {"crf": str(DEFAULT_CRF["h264"] if self.quality is None else self.quality),
                                         "preset": "medium", **X264_REPRODUCIBLE}
            fmt = {".mkv": "matroska", ".mov": "mov"}.get(self.suffix, "mp4")
            container_options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
            if width % 2 or height % 2:
                warnings.warn(
                    f"{self.path}: H.264 needs even sizes; {width}x{height} is padded to "
                    f"{width + width % 2}x{height + height % 2} by repeating the last column/row",
                    SpacetimeWarning, stacklevel=3,
                )
                width, height = width + width % 2, height + height % 2
        self._container = av.open(self._tmp, mode="w", format=fmt, options=container_options)
        stream = self._container.add_stream(codec, rate=self.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        context = stream.codec_context
        # tag BT.709 limited range, which is what _to_video_frame converts to and players assume for HD
        context.colorspace = context.color_primaries = context.color_trc = context.color_range = 1
        self._stream = stream
        self._pts = 0

    def _to_video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        pad_h, pad_w = self._stream.height - frame.shape[0], self._stream.width - frame.shape[1]
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame = video_frame.reformat(format="yuv420p", src_colorspace="ITU709", dst_colorspace="ITU709",
                                           src_color_range="JPEG", dst_color_range="MPEG")
        video_frame.colorspace, video_frame.color_range = 1, 1
        video_frame.pts = self._pts
        self._pts += 1
        return video_frame

    def _encode(self, frame) -> None:
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _write_image(self, frames: np.ndarray) -> None:
        if self.frames_written + len(frames) > 1:
            raise VideoWriteError(
                f"{self.path}: an image holds one frame, got {self.frames_written + len(frames)}; "
                "write .mp4, .webm or .gif for a video"
            )
        Image.fromarray(frames[0]).save(self._tmp, format=IMAGE_SUFFIXES[self.suffix],
                                        **({"quality": 95} if self.suffix != ".png" else {}))

    def _save_gif(self) -> None:
        # GIF delays are whole centiseconds: spread the rounding so the total length stays right.
        n = len(self._gif_frames)
        ends = [round((i + 1) * 100 / self.fps) for i in range(n)]
        delays_ms = [max(1, end - start) * 10 for start, end in zip([0] + ends[:-1], ends)]
        first, rest = self._gif_frames[0], self._gif_frames[1:]
        first.save(self._tmp, format="GIF", save_all=True, append_images=rest, duration=delays_ms, loop=0,
                   optimize=False)
        self._gif_frames = []


def _to_palette(frame: np.ndarray) -> Image.Image:
    """A GIF frame: its own 256-colour palette (fast octree), Floyd-Steinberg dithered.

    Pillow's default median cut is ~100x slower (about 0.5 s per 426x240 frame) for a similar palette.
    """
    image = Image.fromarray(frame)
    palette = image.quantize(256, method=Image.Quantize.FASTOCTREE)
    return image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())[:200]
