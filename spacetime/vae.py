"""The video compression network: a causal 3D VAE (4x in time, 8x in space).

Kingma & Welling's VAE (2014) applied to video as in Sora's "video compression network":
T pixel frames become T' = 1 + ceil((T - 1) / 4) latent frames, the first frame encoded
alone so that an image is one latent frame; H and W shrink 8x. The layers live in
`spacetime.vae_blocks` (channels-last, patchified, causal; see its docstring).

Padding rule (any T >= 1 and any H, W are accepted): H and W are padded to a multiple of
8 by replicating the last row/column, T is padded to 1 + 4k by repeating the last frame;
`forward`, `encode_latents`/`decode_latents` (given num_frames/height/width) crop back.

Long and large inputs:
- chunked causal encode/decode: the time axis is processed a chunk at a time; each causal
  convolution carries its last (kernel - 1) input frames to the next chunk, so chunked
  output equals the full-sequence output and memory is set by the chunk, not the length;
- spatial tiling: overlapping tiles processed separately and blended with linear ramps
  over the overlaps (as diffusers' tiled VAEs), for frames as large as 1920x1080.

Latent scaling: `encode_latents` returns normalised latents (z - mean) / std per channel
with mean/std stored in the config (see `estimate_latent_stats`); the DiT only ever sees those.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from spacetime.vae_blocks import SPATIAL_FACTOR, TEMPORAL_FACTOR, Decoder, Encoder, ResBlock


def latent_frames(num_frames: int) -> int:
    """Latent frames for `num_frames` pixel frames: 1 + ceil((T - 1) / 4)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return 1 + math.ceil((num_frames - 1) / TEMPORAL_FACTOR)


def pixel_frames(num_latent_frames: int) -> int:
    """Pixel frames decoded from `num_latent_frames` latent frames: 1 + 4 (T' - 1)."""
    if num_latent_frames < 1:
        raise ValueError(f"num_latent_frames must be >= 1, got {num_latent_frames}")
    return 1 + TEMPORAL_FACTOR * (num_latent_frames - 1)


@dataclass
class VAEConfig:
    latent_channels: int = 16
    patch_size: int = 4  # pixel unshuffle at the input; 2, 4 or 8 (the rest of the 8x is a learned downsample)
    hidden_channels: int = 32  # width at 1/patch_size resolution, full frame rate
    latent_hidden_channels: int = 128  # width on the latent grid
    num_blocks: int = 1  # residual blocks at 1/patch_size resolution (encoder and decoder each)
    num_latent_blocks: int = 3  # residual blocks on the latent grid (encoder and decoder each)
    # The decoder's width and depth at 1/patch_size resolution, when they differ from the encoder's
    # (None: the same). Decoding is the cheap side, and a wider decoder sharpens edges without
    # touching the latent space, so it can be retrained alone under a frozen encoder.
    decoder_hidden_channels: int | None = None
    decoder_num_blocks: int | None = None
    temporal_kernel: int = 3
    tile_overlap: int = 64  # pixels of overlap between spatial tiles (multiple of 8)
    latent_mean: list[float] = field(default_factory=list)  # per channel; empty means 0
    latent_std: list[float] = field(default_factory=list)  # per channel; empty means 1

    def __post_init__(self):
        if self.patch_size not in (2, 4, 8):
            raise ValueError(f"patch_size must be 2, 4 or 8, got {self.patch_size}")
        if self.decoder_hidden_channels is not None and self.decoder_hidden_channels < 1:
            raise ValueError(f"decoder_hidden_channels must be None or >= 1, got {self.decoder_hidden_channels}")
        if self.decoder_num_blocks is not None and self.decoder_num_blocks < 0:
            raise ValueError(f"decoder_num_blocks must be None or >= 0, got {self.decoder_num_blocks}")
        if self.temporal_kernel < 1:
            raise ValueError(f"temporal_kernel must be >= 1, got {self.temporal_kernel}")
        if self.tile_overlap < 0 or self.tile_overlap % SPATIAL_FACTOR:
            raise ValueError(f"tile_overlap must be a non-negative multiple of 8, got {self.tile_overlap}")
        self.latent_mean = list(self.latent_mean) or [0.0] * self.latent_channels
        self.latent_std = list(self.latent_std) or [1.0] * self.latent_channels
        for name in ("latent_mean", "latent_std"):
            if len(getattr(self, name)) != self.latent_channels:
                raise ValueError(f"{name} has {len(getattr(self, name))} values, expected latent_channels={self.latent_channels}")
        if any(s <= 0 for s in self.latent_std):
            raise ValueError("latent_std values must be positive")

    @classmethod
    def preset(cls, name: str) -> "VAEConfig":
        if name not in VAE_PRESETS:
            raise ValueError(f"unknown VAE preset {name!r}; known: {sorted(VAE_PRESETS)}")
        return cls(**VAE_PRESETS[name])


VAE_PRESETS = {
    # For tests: ~15k parameters.
    "tiny": dict(latent_channels=4, hidden_channels=8, latent_hidden_channels=16, num_blocks=1, num_latent_blocks=1),
    # The embedded CPU model: thin at 1/4 resolution, wide on the latent grid (see benchmarks/vae_vs_peer.py).
    "embedded": dict(latent_channels=16, hidden_channels=32, latent_hidden_channels=128, num_blocks=1, num_latent_blocks=3),
}


def _standard_normal_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, 1) noise of x's shape and dtype on x's device, drawn on the generator's device (the
    training loop seeds a CPU generator, also when the model is on a GPU)."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


class VideoVAE(nn.Module):
    """Causal video VAE: (B, 3, T, H, W) in [-1, 1] <-> (B, C, 1 + (T-1)/4, H/8, W/8)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self._init_weights()

    def _init_weights(self):
        # All initialisation lives here. Residual branches end in a zero map so every block
        # starts as the identity; the rest keeps PyTorch's default (Kaiming-uniform) init.
        for module in self.modules():
            if isinstance(module, ResBlock):
                nn.init.zeros_(module.temporal.proj.weight)
                nn.init.zeros_(module.temporal.proj.bias)

    # ---- raw model ---------------------------------------------------------------------------------

    def encode(self, video: torch.Tensor, cache: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Video (B, 3, T, H, W) in [-1, 1] -> raw latent (mean, logvar), each (B, C, T', ceil(H/8), ceil(W/8)).

        Pads by the module's padding rule. With a `cache` dict, encodes one chunk of a
        longer video: the first chunk holds 1 + 4k frames, later chunks 4k frames.
        """
        _check_video(video)
        first_chunk = cache is None or not cache.get("started", False)
        x = _pad_video(video, whole=cache is None)  # (B, 3, T, H8, W8)
        x = x.permute(0, 2, 3, 4, 1)  # (B, T, H8, W8, 3)
        if first_chunk:
            x = torch.cat([x[:, :1].expand(-1, TEMPORAL_FACTOR - 1, -1, -1, -1), x], dim=1)  # frame 0 alone
        if x.shape[1] % TEMPORAL_FACTOR:
            raise ValueError(f"an encode chunk after the first must hold a multiple of 4 frames, got {video.shape[2]}")
        stats = self.encoder(x, cache)  # (B, T', h, w, 2C)
        if cache is not None:
            cache["started"] = True
        mean, logvar = stats.permute(0, 4, 1, 2, 3).chunk(2, dim=1)  # (B, C, T', h, w) each
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """Raw latent (B, C, T', h, w) -> video (B, 3, 1 + 4(T'-1), 8h, 8w); with a cache, one chunk of a stream."""
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            raise ValueError(f"expected latents (B, {self.config.latent_channels}, T', h, w), got {tuple(z.shape)}")
        out = self.decoder(z.permute(0, 2, 3, 4, 1), cache)  # (B, T, H, W, 3)
        return out.permute(0, 4, 1, 2, 3)  # (B, 3, T, H, W)

    def forward(self, video: torch.Tensor, generator: torch.Generator | None = None,
                latents: torch.Tensor | None = None):
        """Training pass: returns (recon cropped to the input's T, H, W, mean, logvar); samples z.

        latents: normalised latents (B, C, T', h, w) decoded in place of the encoder's sample (a
        decoder trained on latents that another model drew: `vae_loss.decoder_loss`); mean and
        logvar are then None.
        """
        T, H, W = video.shape[2:]
        if latents is not None:
            mu, std = self._latent_stats(latents)
            return self.decode(latents * std + mu)[:, :, :T, :H, :W], None, None
        mean, logvar = self.encode(video)  # (B, C, T', h, w)
        z = mean + torch.exp(0.5 * logvar) * _standard_normal_like(mean, generator)
        recon = self.decode(z)[:, :, :T, :H, :W]  # (B, 3, T, H, W)
        return recon, mean, logvar

    # ---- normalised latents, chunking and tiling ------------------------------------------------------

    def _latent_stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        mean = torch.tensor(self.config.latent_mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.config.latent_std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def encode_latents(
        self,
        video: torch.Tensor,
        *,
        chunk_frames: int | None = None,
        tile: int | None = None,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Video (B, 3, T, H, W) in [-1, 1] -> normalised latents (B, C, T', ceil(H/8), ceil(W/8)).

        chunk_frames: pixel frames per chunk after the first (a multiple of 4; the first
        chunk holds 1 + chunk_frames); the result equals the unchunked one.
        tile: spatial tile size in pixels (a multiple of 8) for large frames, blended over
        `config.tile_overlap` pixels. sample: draw z ~ N(mean, std) instead of the mean.
        """
        _check_video(video)
        if chunk_frames is not None and (chunk_frames < TEMPORAL_FACTOR or chunk_frames % TEMPORAL_FACTOR):
            raise ValueError(f"chunk_frames must be a positive multiple of 4, got {chunk_frames}")
        tile_latent = self._tile_cells(tile)
        x = _pad_video(video, whole=True)  # (B, 3, 1+4k, H8, W8)
        T = x.shape[2]
        bounds = [0, T] if chunk_frames is None else [0, *range(1 + chunk_frames, T, chunk_frames), T]
        caches: dict = {}
        means, logvars = [], []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            chunk = x[:, :, start:stop]
            stats = _tiled(
                lambda piece, key: torch.cat(self.encode(piece, caches.setdefault(key, {})), dim=1),
                chunk, tile_latent, self.config.tile_overlap // SPATIAL_FACTOR, in_scale=SPATIAL_FACTOR, out_scale=1,
            )  # (B, 2C, t', h, w)
            mean, logvar = stats.chunk(2, dim=1)
            means.append(mean)
            logvars.append(logvar)
        mean, logvar = torch.cat(means, dim=2), torch.cat(logvars, dim=2)  # (B, C, T', h, w)
        z = mean
        if sample:
            z = mean + torch.exp(0.5 * logvar) * _standard_normal_like(mean, generator)
        mu, std = self._latent_stats(z)
        return (z - mu) / std

    def iter_decode_latents(
        self,
        z: torch.Tensor,
        *,
        chunk_latent_frames: int = 4,
        tile: int | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> Iterator[torch.Tensor]:
        """Stream-decode normalised latents (B, C, T', h, w): yields pixel chunks (B, 3, t, H, W) in order.

        The first chunk has 1 + 4 (chunk_latent_frames - 1) frames, later ones 4 * chunk_latent_frames.
        Memory is set by the chunk, not the length; the concatenation equals `decode_latents`.
        Frames are clamped to [-1, 1] and cropped to height/width when given.
        """
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            raise ValueError(f"expected latents (B, {self.config.latent_channels}, T', h, w), got {tuple(z.shape)}")
        if chunk_latent_frames < 1:
            raise ValueError(f"chunk_latent_frames must be >= 1, got {chunk_latent_frames}")
        _check_crop(z, height, width)
        tile_latent = self._tile_cells(tile)
        mu, std = self._latent_stats(z)
        caches: dict = {}
        for start in range(0, z.shape[2], chunk_latent_frames):
            raw = z[:, :, start : start + chunk_latent_frames] * std + mu  # (B, C, t', h, w)
            video = _tiled(
                lambda piece, key: self.decode(piece, caches.setdefault(key, {})),
                raw, tile_latent, self.config.tile_overlap // SPATIAL_FACTOR, in_scale=1, out_scale=SPATIAL_FACTOR,
            )  # (B, 3, t, H8, W8)
            yield video[..., :height, :width].clamp(-1.0, 1.0)

    def decode_latents(
        self,
        z: torch.Tensor,
        *,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        chunk_latent_frames: int | None = None,
        tile: int | None = None,
    ) -> torch.Tensor:
        """Normalised latents (B, C, T', h, w) -> video (B, 3, T, H, W) in [-1, 1], cropped when sizes are given."""
        if num_frames is not None and not pixel_frames(z.shape[2]) - 3 <= num_frames <= pixel_frames(z.shape[2]):
            raise ValueError(f"num_frames={num_frames} does not match {z.shape[2]} latent frames")
        chunk = z.shape[2] if chunk_latent_frames is None else chunk_latent_frames
        chunks = self.iter_decode_latents(z, chunk_latent_frames=chunk, tile=tile, height=height, width=width)
        return torch.cat(list(chunks), dim=2)[:, :, :num_frames]

    def _tile_cells(self, tile: int | None) -> int | None:
        if tile is None:
            return None
        overlap = self.config.tile_overlap
        if tile % SPATIAL_FACTOR or tile <= overlap:
            raise ValueError(f"tile must be a multiple of 8 larger than tile_overlap={overlap}, got {tile}")
        return tile // SPATIAL_FACTOR

    # ---- weights --------------------------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> Path:
        from spacetime import modelio

        return modelio.save_pretrained(self, self.config, folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "VideoVAE":
        from spacetime import modelio

        return modelio.load_pretrained(cls, VAEConfig, folder)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def estimate_latent_stats(vae: VideoVAE, videos, *, chunk_frames: int | None = None) -> VAEConfig:
    """Per-channel mean/std of the raw latent means over `videos` (iterable of (B, 3, T, H, W)).

    Returns a copy of vae.config with latent_mean/latent_std set; save it with the weights.
    """
    total, total_sq, count = 0.0, 0.0, 0
    for video in videos:
        mean, _ = vae.encode(video)  # (B, C, T', h, w)
        flat = mean.transpose(0, 1).reshape(mean.shape[1], -1).double()
        total, total_sq, count = total + flat.sum(1), total_sq + (flat**2).sum(1), count + flat.shape[1]
    if count == 0:
        raise ValueError("estimate_latent_stats needs at least one video")
    mu = total / count
    std = (total_sq / count - mu**2).clamp_min(1e-12).sqrt()
    return dataclasses.replace(vae.config, latent_mean=mu.tolist(), latent_std=std.tolist())


# ---- helpers -----------------------------------------------------------------------------------------


def _check_video(video: torch.Tensor) -> None:
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"expected video (B, 3, T, H, W), got {tuple(video.shape)}")
    if min(video.shape[2:]) < 1:
        raise ValueError(f"video has an empty axis: {tuple(video.shape)}")


def _check_crop(z: torch.Tensor, height: int | None, width: int | None) -> None:
    for name, value, cells in (("height", height, z.shape[3]), ("width", width, z.shape[4])):
        if value is not None and not SPATIAL_FACTOR * (cells - 1) < value <= SPATIAL_FACTOR * cells:
            raise ValueError(f"{name}={value} does not match {cells} latent cells (8 pixels each)")


def _pad_video(video: torch.Tensor, whole: bool) -> torch.Tensor:
    """Pad H, W to multiples of 8 (edge replication) and, for a whole video, T to 1 + 4k (last frame repeated)."""
    T, H, W = video.shape[2:]
    pad_h, pad_w = -H % SPATIAL_FACTOR, -W % SPATIAL_FACTOR
    pad_t = -(T - 1) % TEMPORAL_FACTOR if whole else 0
    if pad_h or pad_w or pad_t:
        # replicate padding is not implemented for every dtype/size combination; index instead
        t_idx = torch.arange(T + pad_t, device=video.device).clamp_max(T - 1)
        h_idx = torch.arange(H + pad_h, device=video.device).clamp_max(H - 1)
        w_idx = torch.arange(W + pad_w, device=video.device).clamp_max(W - 1)
        video = video[:, :, t_idx][:, :, :, h_idx][..., w_idx]
    return video


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(size: int, ramp: int, left: bool, right: bool, like: torch.Tensor) -> torch.Tensor:
    """Blend weight along one axis: rises linearly over `ramp` cells at sides that have a neighbour."""
    w = torch.ones(size, dtype=like.dtype, device=like.device)
    ramp = min(ramp, size)
    if ramp > 0:
        rise = (torch.arange(ramp, dtype=like.dtype, device=like.device) + 0.5) / ramp
        if left:
            w[:ramp] = torch.minimum(w[:ramp], rise)
        if right:
            w[size - ramp :] = torch.minimum(w[size - ramp :], rise.flip(0))
    return w


def _tiled(fn, x: torch.Tensor, tile: int | None, overlap: int, in_scale: int, out_scale: int) -> torch.Tensor:
    """Apply `fn(piece, key)` to overlapping spatial tiles of x and blend the outputs linearly.

    Tiles are laid out on the latent grid (`tile`, `overlap` in latent cells); x has
    in_scale pixels per cell and the output out_scale. `key` names the tile so the caller
    can keep one causal cache per tile across chunks. tile None: one call on all of x.
    """
    if tile is None:
        return fn(x, (0, 0))
    h, w = x.shape[3] // in_scale, x.shape[4] // in_scale
    rows, cols = _tile_starts(h, tile, overlap), _tile_starts(w, tile, overlap)
    out = weight = None
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            th, tw = min(tile, h), min(tile, w)
            piece = x[..., r * in_scale : (r + th) * in_scale, c * in_scale : (c + tw) * in_scale]
            y = fn(piece, (i, j))  # (B, C', t, th*out_scale, tw*out_scale)
            if out is None:
                out = y.new_zeros(*y.shape[:3], h * out_scale, w * out_scale)
                weight = y.new_zeros(h * out_scale, w * out_scale)
            ramp = overlap * out_scale
            wr = _ramp(th * out_scale, ramp, i > 0, i < len(rows) - 1, y)
            wc = _ramp(tw * out_scale, ramp, j > 0, j < len(cols) - 1, y)
            wt = wr[:, None] * wc[None, :]  # (th', tw')
            rs, cs = slice(r * out_scale, (r + th) * out_scale), slice(c * out_scale, (c + tw) * out_scale)
            out[..., rs, cs] += y * wt
            weight[rs, cs] += wt
    return out / weight
