"""uint8 frames at the I/O edge <-> float tensors in [-1, 1] inside the models.

torch is imported inside the functions so that reading and probing videos (the
`spacetime probe` command, dataset scans) do not pay seconds of torch import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def frames_to_tensor(frames: np.ndarray, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """uint8 (T, H, W, 3) (or one image (H, W, 3)) -> float (3, T, H, W) in [-1, 1] (float32 unless dtype)."""
    import torch

    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3) or (H, W, 3), got {tuple(frames.shape)}")
    video = torch.from_numpy(np.ascontiguousarray(frames)).to(device=device)  # (T, H, W, 3) uint8
    video = video.permute(3, 0, 1, 2).to(dtype or torch.float32)  # (3, T, H, W)
    return video / 127.5 - 1.0


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """float (3, T, H, W) or (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3) (values clamped)."""
    import torch

    if video.ndim == 5:
        if video.shape[0] != 1:
            raise ValueError(f"tensor_to_frames takes one video; got a batch of {video.shape[0]}")
        video = video[0]
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"video must have shape (3, T, H, W) or (1, 3, T, H, W), got {tuple(video.shape)}")
    video = video.detach().float().clamp(-1, 1)
    video = ((video + 1.0) * 127.5).round().to(torch.uint8)  # (3, T, H, W)
    return video.permute(1, 2, 3, 0).contiguous().cpu().numpy()  # (T, H, W, 3)
