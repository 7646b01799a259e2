"""Resize policies (stretch, fit, fill, keep aspect) and uint8 <-> tensor conversion."""

import numpy as np
import pytest
import torch

from spacetime.video import fit_frames, frames_to_tensor, resize_frames, resize_keep_aspect, tensor_to_frames


def halves(width, height):
    """One frame: left half red, right half blue."""
    frame = np.zeros((1, height, width, 3), np.uint8)
    frame[:, :, : width // 2, 0] = 255
    frame[:, :, width // 2:, 2] = 255
    return frame


def test_stretch_and_identity():
    frames = np.random.default_rng(0).integers(0, 256, (2, 30, 40, 3), dtype=np.uint8)
    assert resize_frames(frames, 20, 10).shape == (2, 10, 20, 3)
    np.testing.assert_array_equal(resize_frames(frames, 40, 30), frames)
    assert fit_frames(frames, 7, 50, mode="stretch").shape == (2, 50, 7, 3)
    assert resize_frames(frames[0], 8, 6).shape == (6, 8, 3)  # one image in, one image out


def test_fit_letterboxes_with_the_pad_value():
    frames = np.full((1, 50, 100, 3), 200, np.uint8)  # 2:1 into a square
    out = fit_frames(frames, 64, 64, mode="fit", pad_value=7)
    assert out.shape == (1, 64, 64, 3)
    assert np.all(out[:, :16] == 7) and np.all(out[:, 48:] == 7)  # bars above and below
    assert np.all(out[:, 16:48] == 200)  # the picture, whole width
    tall = fit_frames(np.full((1, 100, 50, 3), 200, np.uint8), 64, 64, mode="fit")
    assert np.all(tall[:, :, :16] == 0) and np.all(tall[:, :, 16:48] == 200)  # pillarbox


def test_fill_crops_the_centre():
    out = fit_frames(halves(200, 50), 50, 50, mode="fill")  # keep the middle quarter of the width
    assert out.shape == (1, 50, 50, 3)
    assert out[0, :, :20, 0].min() > 240 and out[0, :, 30:, 2].min() > 240  # red | blue split in the middle
    assert np.abs(out[0, :, :, 1]).max() == 0


def test_keep_aspect():
    frames = np.zeros((3, 240, 426, 3), np.uint8)
    assert resize_keep_aspect(frames, short_side=120).shape == (3, 120, 213, 3)
    assert resize_keep_aspect(frames, long_side=213).shape == (3, 120, 213, 3)
    assert resize_keep_aspect(frames, short_side=120, multiple_of=16).shape == (3, 128, 208, 3)
    with pytest.raises(ValueError):
        resize_keep_aspect(frames, short_side=10, long_side=20)


def test_downscaling_is_antialiased():
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    frames = np.repeat(checker[None, :, :, None], 3, axis=3)
    small = resize_frames(frames, 16, 16)
    # a point-sampled checkerboard would stay 0/255; a filtered one is mid grey everywhere
    assert np.abs(small.astype(int) - 127.5).max() < 10


def test_bad_arguments():
    frames = np.zeros((1, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="mode"):
        fit_frames(frames, 4, 4, mode="zoom")
    with pytest.raises(ValueError, match="uint8"):
        resize_frames(frames.astype(np.float32), 4, 4)
    with pytest.raises(ValueError, match="positive"):
        resize_frames(frames, 0, 4)


def test_tensor_conversion_round_trip():
    frames = np.random.default_rng(1).integers(0, 256, (4, 6, 10, 3), dtype=np.uint8)
    video = frames_to_tensor(frames)
    assert video.shape == (3, 4, 6, 10) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1
    assert video[0, 1, 2, 3].item() == pytest.approx(frames[1, 2, 3, 0] / 127.5 - 1)
    np.testing.assert_array_equal(tensor_to_frames(video), frames)
    np.testing.assert_array_equal(tensor_to_frames(video[None].to(torch.bfloat16)).shape, frames.shape)
    clamped = tensor_to_frames(torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2).expand(3, 1, 1, 2))
    assert clamped[0, 0, :, 0].tolist() == [0, 255]
    assert frames_to_tensor(frames[0]).shape == (3, 1, 6, 10)
    with pytest.raises(ValueError):
        tensor_to_frames(torch.zeros(2, 3, 1, 4, 4))
    with pytest.raises(ValueError):
        frames_to_tensor(frames[..., :1])
