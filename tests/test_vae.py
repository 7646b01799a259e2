"""Tests of the causal video VAE: shapes and padding, chunked == full, tiled ~ untiled, scaling, weights, loss."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from spacetime.errors import WeightsError
from spacetime.vae import VAEConfig, VideoVAE, estimate_latent_stats, latent_frames, pixel_frames
from spacetime.vae_loss import psnr, ssim, vae_loss


def random_vae(name: str = "tiny", **overrides) -> VideoVAE:
    """A VAE with every weight random (no zero-initialised residual branch), so causal
    mixing across frames and tiles really happens and equalities below can fail."""
    vae = VideoVAE(dataclasses.replace(VAEConfig.preset(name), **overrides)).eval()
    with torch.no_grad():
        for p in vae.parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 1.0 / p[0].numel() ** 0.5)
        for name_, p in vae.named_parameters():
            if name_.endswith("norm1.weight") or name_.endswith("norm2.weight") or "norm_" in name_:
                p.add_(1.0)
    return vae


def video(T, H, W, B=1):
    return torch.rand(B, 3, T, H, W) * 2 - 1


def test_frame_arithmetic():
    assert [latent_frames(t) for t in (1, 2, 5, 6, 9, 41)] == [1, 2, 2, 3, 3, 11]
    assert [pixel_frames(t) for t in (1, 2, 11)] == [1, 5, 41]
    with pytest.raises(ValueError):
        latent_frames(0)


def test_tiny_preset_is_small():
    assert VideoVAE(VAEConfig.preset("tiny")).num_parameters() < 200_000


@pytest.mark.parametrize("T,H,W", [(1, 8, 8), (2, 13, 21), (5, 16, 24), (7, 9, 30)])
def test_shapes_and_padding(T, H, W):
    vae = random_vae()
    x = video(T, H, W)
    with torch.no_grad():
        mean, logvar = vae.encode(x)
        assert mean.shape == logvar.shape == (1, 4, latent_frames(T), -(-H // 8), -(-W // 8))
        assert vae.decode(mean).shape == (1, 3, pixel_frames(latent_frames(T)), 8 * mean.shape[3], 8 * mean.shape[4])
        recon, _, _ = vae(x)
        assert recon.shape == x.shape
        z = vae.encode_latents(x)
        out = vae.decode_latents(z, num_frames=T, height=H, width=W)
        assert out.shape == x.shape and out.abs().max() <= 1.0


def test_causal_and_image_is_one_latent_frame():
    vae = random_vae()
    x = video(9, 16, 16)
    with torch.no_grad():
        z = vae.encode_latents(x)
        z_image = vae.encode_latents(x[:, :, :1])
        assert z_image.shape[2] == 1
        torch.testing.assert_close(z_image[:, :, 0], z[:, :, 0], atol=1e-5, rtol=0)
        changed = x.clone()
        changed[:, :, 6:] = 0.0  # frames 6.. feed latent frames 2.. only
        z2 = vae.encode_latents(changed)
        torch.testing.assert_close(z2[:, :, :2], z[:, :, :2], atol=1e-5, rtol=0)
        assert (z2[:, :, 2] - z[:, :, 2]).abs().max() > 1e-3
        # decoding: pixel frames 0..4 come from latent frames 0..1 only
        d = vae.decode_latents(z)
        d2 = vae.decode_latents(torch.cat([z[:, :, :2], torch.randn_like(z[:, :, 2:])], dim=2))
        torch.testing.assert_close(d2[:, :, :5], d[:, :, :5], atol=1e-5, rtol=0)


@pytest.mark.parametrize("chunk_frames", [4, 8])
def test_chunked_encode_equals_full(chunk_frames):
    vae = random_vae()
    x = video(19, 16, 24)  # padded to 21 frames internally
    with torch.no_grad():
        full = vae.encode_latents(x)
        chunked = vae.encode_latents(x, chunk_frames=chunk_frames)
    assert full.shape == chunked.shape == (1, 4, 6, 2, 3)
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("chunk", [1, 2, 4])
def test_chunked_decode_equals_full(chunk):
    vae = random_vae()
    z = torch.randn(1, 4, 6, 2, 3)
    with torch.no_grad():
        full = vae.decode_latents(z)
        pieces = list(vae.iter_decode_latents(z, chunk_latent_frames=chunk))
    expected = [1 + 4 * (min(chunk, 6) - 1)] + [4 * min(chunk, 6 - s) for s in range(chunk, 6, chunk)]
    assert [p.shape[2] for p in pieces] == expected
    assert full.shape == (1, 3, 21, 16, 24)
    torch.testing.assert_close(torch.cat(pieces, dim=2), full, atol=1e-5, rtol=0)
    assert full.std() > 0.05  # the random decoder produces a real signal, not a constant


def test_tiled_close_to_untiled_and_blending_helps():
    vae = random_vae()
    x = video(5, 136, 200)
    with torch.no_grad():
        z = vae.encode_latents(x)
        z_tiled = vae.encode_latents(x, tile=96)
        out = vae.decode_latents(z)
        out_tiled = vae.decode_latents(z, tile=96)
        out_tiled_chunked = vae.decode_latents(z, tile=96, chunk_latent_frames=1)
        vae.config.tile_overlap = 0  # hard seams: what blending must beat
        out_seams = vae.decode_latents(z, tile=96)
    assert z_tiled.shape == z.shape and out_tiled.shape == out.shape
    # A random network is rougher than a trained one; even so tiles agree to a few % of the signal.
    assert (z_tiled - z).abs().mean() < 0.06 * z.std()
    assert (out_tiled - out).abs().mean() < 0.06 * out.std()
    assert (out_tiled - out).abs().mean() < 0.5 * (out_seams - out).abs().mean()
    torch.testing.assert_close(out_tiled_chunked, out_tiled, atol=1e-5, rtol=0)


def test_latent_scaling_round_trip():
    vae = random_vae()
    x = video(5, 16, 16)
    with torch.no_grad():
        raw_mean, _ = vae.encode(x)
        config = estimate_latent_stats(vae, [x, video(5, 16, 16)])
        assert len(config.latent_mean) == len(config.latent_std) == 4
        vae.config = config
        z = vae.encode_latents(x)
        mu = torch.tensor(config.latent_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(config.latent_std).view(1, -1, 1, 1, 1)
        torch.testing.assert_close(z * std + mu, raw_mean, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(vae.decode_latents(z), vae.decode(raw_mean).clamp(-1, 1), atol=1e-5, rtol=0)


def test_sampling_uses_generator():
    vae = random_vae()
    x = video(5, 16, 16)
    with torch.no_grad():
        a = vae.encode_latents(x, sample=True, generator=torch.Generator().manual_seed(1))
        b = vae.encode_latents(x, sample=True, generator=torch.Generator().manual_seed(1))
        c = vae.encode_latents(x)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-4


def test_wider_decoder_streams_and_saves(tmp_path):
    vae = random_vae(decoder_hidden_channels=12, decoder_num_blocks=2)
    config = vae.config
    assert vae.decoder.conv_out.conv.weight.shape[1] == 12 and len(vae.decoder.blocks) == 2
    assert vae.encoder.conv_in.conv.weight.shape[0] == 8  # the encoder keeps the preset's width
    z = torch.randn(1, 4, 6, 2, 3)
    with torch.no_grad():
        full = vae.decode_latents(z)
        pieces = list(vae.iter_decode_latents(z, chunk_latent_frames=2))
    torch.testing.assert_close(torch.cat(pieces, dim=2), full, atol=1e-5, rtol=0)
    vae.save_pretrained(tmp_path / "vae")
    loaded = VideoVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config.decoder_hidden_channels == 12 and loaded.config.decoder_num_blocks == 2
    with pytest.raises(ValueError, match="decoder_hidden_channels"):
        dataclasses.replace(config, decoder_hidden_channels=0)


def test_save_and_load_strict(tmp_path):
    vae = random_vae()
    vae.config.latent_mean = [0.5, -0.5, 0.0, 1.0]
    vae.save_pretrained(tmp_path / "vae")
    assert json.loads((tmp_path / "vae" / "config.json").read_text())["latent_mean"] == [0.5, -0.5, 0.0, 1.0]
    loaded = VideoVAE.from_pretrained(tmp_path / "vae")
    z = torch.randn(1, 4, 2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode_latents(z), vae.decode_latents(z))
    weights = tmp_path / "vae" / "model.safetensors"
    state = load_file(str(weights))
    del state["decoder.conv_out.conv.weight"]
    state["decoder.extra"] = torch.zeros(1)
    save_file(state, str(weights))
    with pytest.raises(WeightsError, match=r"decoder\.conv_out\.conv\.weight.*decoder\.extra"):
        VideoVAE.from_pretrained(tmp_path / "vae")


def test_bad_inputs():
    vae = random_vae()
    with pytest.raises(ValueError, match="unknown VAE preset"):
        VAEConfig.preset("huge")
    with pytest.raises(ValueError, match="latent_mean"):
        VAEConfig(latent_channels=4, latent_mean=[0.0])
    with pytest.raises(ValueError, match="patch_size"):
        VAEConfig(patch_size=3)
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        vae.encode_latents(torch.zeros(3, 5, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        vae.encode_latents(torch.zeros(1, 4, 5, 16, 16))
    with pytest.raises(ValueError, match="chunk_frames"):
        vae.encode_latents(video(9, 16, 16), chunk_frames=6)
    with pytest.raises(ValueError, match="tile"):
        vae.decode_latents(torch.zeros(1, 4, 1, 2, 2), tile=12)
    with pytest.raises(ValueError, match="latents"):
        vae.decode_latents(torch.zeros(1, 16, 1, 2, 2))
    with pytest.raises(ValueError, match="height"):
        vae.decode_latents(torch.zeros(1, 4, 1, 2, 2), height=20)
    with pytest.raises(ValueError, match="num_frames"):
        vae.decode_latents(torch.zeros(1, 4, 2, 2, 2), num_frames=9)


def test_ssim_equals_the_two_dimensional_gaussian_window():
    # The separable, chunked SSIM against the textbook form: one 11x11 Gaussian convolution.
    torch.manual_seed(0)
    a = torch.rand(1, 3, 7, 30, 37) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    x = ((a + 1) / 2).permute(0, 2, 1, 3, 4).reshape(-1, 1, 30, 37)
    y = ((b + 1) / 2).permute(0, 2, 1, 3, 4).reshape(-1, 1, 30, 37)
    g = torch.exp(-((torch.arange(11.0) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :])[None, None]
    mu_x, mu_y = F.conv2d(x, kernel), F.conv2d(y, kernel)
    var_x, var_y = F.conv2d(x * x, kernel) - mu_x**2, F.conv2d(y * y, kernel) - mu_y**2
    cov = F.conv2d(x * y, kernel) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    expected = (((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))).mean()
    assert ssim(a, b).item() == pytest.approx(expected.item(), abs=1e-6)
    assert ssim(a, b, planes_per_chunk=4).item() == pytest.approx(expected.item(), abs=1e-6)


def test_loss_trains_and_metrics():
    x = video(5, 16, 16)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert psnr(x, x + 0.02).item() == pytest.approx(10 * torch.log10(torch.tensor(4 / 0.02**2)).item(), abs=1e-3)
    assert ssim(x, torch.rand_like(x) * 2 - 1) < 0.5
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("tiny"))
    smooth = torch.linspace(-0.8, 0.8, 16).view(1, 1, 1, 1, 16).expand(1, 3, 5, 16, 16).contiguous()
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        out = vae_loss(vae, smooth, kl_weight=1e-4, gradient_weight=0.5, generator=torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        first = first if first is not None else out["l1"].item()
    assert set(out) >= {"loss", "l1", "kl", "psnr"}
    assert out["l1"].item() < 0.5 * first


def test_mse_and_chroma_terms_weigh_a_small_coloured_object():
    """The terms chosen for the world (spacetime.vae_loss): a grey guess of a small red square
    costs more, relative to a perfect one, under MSE + chroma than under plain L1."""
    target = torch.full((1, 3, 1, 32, 32), -0.5)
    target[0, 0, :, 12:18, 12:18] = 0.9  # 3.5 % of the pixels are red
    grey = target.clone()
    grey[0, :, :, 12:18, 12:18] = target[0, :, :, 12:18, 12:18].mean(0)  # same luminance, no colour

    class Fixed(torch.nn.Module):  # a "VAE" whose output is given
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, video, generator=None):
            zeros = torch.zeros(1, 4, 1, 4, 4)
            return self.out, zeros, zeros

    l1 = vae_loss(Fixed(grey), target)["loss"]
    with_colour = vae_loss(Fixed(grey), target, chroma_weight=4.0)
    assert with_colour["chroma"] > 0 and with_colour["loss"] > 2 * l1
    assert vae_loss(Fixed(target), target, reconstruction="mse", chroma_weight=4.0)["loss"] < 1e-6
    with pytest.raises(ValueError, match="reconstruction"):
        vae_loss(Fixed(grey), target, reconstruction="l2")


@pytest.mark.slow
def test_full_hd_frame_tiled_matches_untiled():
    # 1920x1080 through the embedded preset, tiled (bounded memory) and untiled.
    vae = random_vae("embedded")
    x = video(1, 1080, 1920)
    with torch.no_grad():
        z = vae.encode_latents(x, tile=512)
        out = vae.decode_latents(z, num_frames=1, height=1080, width=1920, tile=512)
        reference = vae.decode_latents(vae.encode_latents(x), num_frames=1, height=1080, width=1920)
    assert z.shape == (1, 16, 1, 135, 240) and out.shape == x.shape
    assert torch.isfinite(out).all()
    assert (out - reference).abs().mean() < 0.06 * reference.std()
