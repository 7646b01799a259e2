"""Fitting frames to a target size: stretch, fit (letterbox), fill (crop), keep aspect.

All functions take and return uint8 (T, H, W, 3) numpy frames (an (H, W, 3) image is
accepted too and returned as such). Resampling is bicubic with antialiasing, which filters
over the whole source footprint when shrinking (as Pillow's BICUBIC), so downscaling does
not alias. Sizes are (width, height) in that order, as in every video tool.
(torch is imported where it is used, so probing and reading never load it.)
"""

from __future__ import annotations

import numpy as np

FIT_MODES = ("fit", "fill", "stretch")


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to exactly width x height, ignoring aspect ratio (stretch)."""
    frames, single = _as_video(frames)
    _check_size(width, height)
    _, h, w, _ = frames.shape
    if (w, h) == (width, height):
        out = frames.copy()
    else:
        out = np.concatenate([_resize_block(block, width, height) for block in _blocks(frames)])
    return out[0] if single else out


def fit_frames(frames: np.ndarray, width: int, height: int, mode: str = "fit", pad_value: int = 0) -> np.ndarray:
    """Bring frames to width x height.

    fit: scale to fit inside, keeping the aspect ratio, and pad the rest with `pad_value`
        (letterbox / pillarbox, centred).
    fill: scale to cover the target, keeping the aspect ratio, and crop the overflow (centred).
    stretch: scale each axis independently.
    """
    if mode not in FIT_MODES:
        raise ValueError(f"mode must be one of {FIT_MODES}, got {mode!r}")
    if not 0 <= int(pad_value) <= 255:
        raise ValueError(f"pad_value must be in 0..255, got {pad_value!r}")
    frames, single = _as_video(frames)
    _check_size(width, height)
    _, h, w, _ = frames.shape
    if mode == "stretch":
        out = resize_frames(frames, width, height)
    elif mode == "fit":
        scale = min(width / w, height / h)
        new_w, new_h = min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))
        inner = resize_frames(frames, new_w, new_h)
        out = np.full((len(frames), height, width, 3), pad_value, dtype=np.uint8)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        out[:, top:top + new_h, left:left + new_w] = inner
    else:
        scale = max(width / w, height / h)
        new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
        top, left = (new_h - height) // 2, (new_w - width) // 2
        out = resize_frames(frames, new_w, new_h)[:, top:top + height, left:left + width].copy()
    return out[0] if single else out


def resize_keep_aspect(frames: np.ndarray, short_side: int | None = None, long_side: int | None = None,
                       multiple_of: int = 1) -> np.ndarray:
    """Resize so the short (or long) side has the given length, keeping the aspect ratio.

    Exactly one of short_side / long_side. With multiple_of > 1 both sides are rounded to the
    nearest multiple (at least one multiple), which changes the aspect ratio by at most that rounding.
    """
    if (short_side is None) == (long_side is None):
        raise ValueError("pass exactly one of short_side and long_side")
    if multiple_of < 1:
        raise ValueError(f"multiple_of must be >= 1, got {multiple_of}")
    frames, single = _as_video(frames)
    _, h, w, _ = frames.shape
    target = short_side if short_side is not None else long_side
    if target < 1:
        raise ValueError(f"side length must be >= 1, got {target}")
    scale = target / (min(w, h) if short_side is not None else max(w, h))

    def snap(x: float) -> int:
        return max(multiple_of, round(x / multiple_of) * multiple_of)

    out = resize_frames(frames, snap(w * scale), snap(h * scale))
    return out[0] if single else out


def _as_video(frames) -> tuple[np.ndarray, bool]:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3 and frames.shape[-1] == 3:
        return frames[None], True
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"frames must have shape (T, H, W, 3) or (H, W, 3), got {tuple(frames.shape)}")
    return frames, False


def _check_size(width, height) -> None:
    if not (isinstance(width, (int, np.integer)) and isinstance(height, (int, np.integer))) or width < 1 or height < 1:
        raise ValueError(f"target size must be positive ints, got {width!r}x{height!r}")


def _blocks(frames: np.ndarray, max_pixels: int = 2**25):
    """Frames in groups small enough that the float copy stays modest (~ 400 MB)."""
    per = max(1, max_pixels // (frames.shape[1] * frames.shape[2] * 3))
    for i in range(0, len(frames), per):
        yield frames[i:i + per]


def _resize_block(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (t, 3, H, W)
    antialias = width < frames.shape[2] or height < frames.shape[1]
    y = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=antialias)
    y = y.clamp_(0, 255).round_().to(torch.uint8)  # (t, 3, height, width)
    return y.permute(0, 2, 3, 1).contiguous().numpy()
