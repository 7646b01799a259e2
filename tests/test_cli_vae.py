"""Tests of `spacetime vae roundtrip`: a real clip through a tiny VAE, and the user errors."""

import re

import numpy as np
import pytest

from spacetime.cli import main
from spacetime.vae import VAEConfig, VideoVAE
from spacetime.video import read_video, write_video


@pytest.fixture
def tiny_vae_folder(tmp_path):
    vae = VideoVAE(VAEConfig.preset("tiny"))
    return vae.save_pretrained(tmp_path / "vae")


def test_roundtrip_real_clip(testdata, tiny_vae_folder, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    rc = main(["vae", "roundtrip", str(testdata / "in.mp4"), str(out), "--vae", str(tiny_vae_folder),
               "--max-frames", "6", "--tile", "128"])
    assert rc == 0
    printed = capsys.readouterr().out
    match = re.search(r"PSNR (-?[\d.]+) dB  SSIM (-?[\d.]+)", printed)
    assert match, printed
    assert "6 frame(s) 320x240" in printed
    clip = read_video(out)
    assert clip.frames.shape == (6, 240, 320, 3)


def test_roundtrip_image_reports_high_psnr_for_identity_like_input(tiny_vae_folder, tmp_path, capsys):
    # A constant image: even an untrained VAE's error is then easy to check against the printed PSNR.
    image = np.full((20, 28, 3), 128, np.uint8)
    write_video(tmp_path / "in.png", image, fps=1)
    out = tmp_path / "out.png"
    rc = main(["vae", "roundtrip", str(tmp_path / "in.png"), str(out), "--vae", str(tiny_vae_folder)])
    assert rc == 0
    printed = capsys.readouterr().out
    decoded = read_video(out).frames
    assert decoded.shape == (1, 20, 28, 3)
    mse = ((decoded.astype(np.float64) - 128) ** 2).mean()
    expected = 10 * np.log10(255**2 / max(mse, 1e-12))
    shown = float(re.search(r"PSNR (-?[\d.]+) dB", printed).group(1))
    assert shown == pytest.approx(expected, abs=0.02)


def test_roundtrip_user_errors(testdata, tiny_vae_folder, tmp_path, capsys):
    rc = main(["vae", "roundtrip", str(tmp_path / "missing.mp4"), str(tmp_path / "o.mp4"), "--vae", str(tiny_vae_folder)])
    assert rc == 2 and "missing.mp4" in capsys.readouterr().err
    rc = main(["vae", "roundtrip", str(testdata / "in.mp4"), str(tmp_path / "o.mp4"), "--vae", str(tmp_path / "nope")])
    assert rc == 2 and "nope" in capsys.readouterr().err
    rc = main(["vae", "roundtrip", str(testdata / "in.mp4"), str(tmp_path / "o.mp4"), "--vae", str(tiny_vae_folder),
               "--tile", "100"])
    assert rc == 2 and "--tile" in capsys.readouterr().err
    bad = tmp_path / "bad_vae"
    VideoVAE(VAEConfig.preset("tiny")).save_pretrained(bad)
    (bad / "model.safetensors").write_bytes(b"not safetensors")
    rc = main(["vae", "roundtrip", str(testdata / "in.mp4"), str(tmp_path / "o.mp4"), "--vae", str(bad)])
    assert rc == 2 and "model.safetensors" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["vae", "roundtrip", "--help"])
    assert "examples:" in capsys.readouterr().out
    assert main(["vae"]) == 2


def test_roundtrip_refuses_to_overwrite_without_the_flag(tiny_vae_folder, tmp_path, capsys):
    write_video(tmp_path / "in.png", np.full((16, 16, 3), 90, np.uint8), fps=1)
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    rc = main(["vae", "roundtrip", str(tmp_path / "in.png"), str(out), "--vae", str(tiny_vae_folder)])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    rc = main(["vae", "roundtrip", str(tmp_path / "in.png"), str(out), "--vae", str(tiny_vae_folder), "--overwrite"])
    assert rc == 0 and read_video(out).frames.shape == (1, 16, 16, 3)
