"""Building blocks of the causal video VAE (`spacetime.vae`): encoder and decoder.

Layout. Inside the VAE every activation is held channels-last as (B, T, H, W, C): a
spatial 3x3 convolution is then a channels_last `conv2d` over B*T frames, and a causal
temporal convolution is one matrix multiply over the channel axis of k stacked past
frames. Both are the fast paths of a CPU (oneDNN / BLAS); no Conv3d is used.

Speed. Following LTX-Video's VAE (HaCohen et al. 2024), the pixels are first folded into
channels (`patch_size` x `patch_size` pixel unshuffle), so the only layers at full frame
rate run at 1/patch_size resolution and are thin; the wide layers run on the latent
grid. The space-time down/upsampling is a space-to-depth / depth-to-space reshape plus a
1x1 projection, so it costs no more than one matrix multiply.

Causality. Temporal convolutions look only at the current and past frames. On the first
frame of a sequence the past is the first frame repeated. For chunked (streaming) use,
each causal convolution keeps its last (kernel - 1) input frames in a `cache` dict passed
in by the caller (keyed by the module; no state lives in the module), so chunk after
chunk gives exactly the full-sequence result.

Normalisation is a per-voxel RMS norm over channels (as LTX-Video's pixel norm): unlike
GroupNorm it uses no statistics across time (which would break causality) or across
space (which would make spatial tiles disagree).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TEMPORAL_FACTOR = 4  # pixel frames per latent frame (after the first, which is alone)
SPATIAL_FACTOR = 8  # pixels per latent cell along H and W

Cache = dict  # {module: tensor of its last (k-1) input frames, "started": True}


class ChannelRMSNorm(nn.Module):
    """RMS norm over the channel (last) axis with a learned gain (Zhang & Sennrich 2019)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)  # (..., C)


class SpatialConv(nn.Module):
    """kxk convolution applied to each frame separately, on (B, T, H, W, C) activations."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, H, W, C = x.shape
        frames = x.reshape(B * T, H, W, C).permute(0, 3, 1, 2)  # (B*T, C, H, W), channels_last strides
        out = self.conv(frames)  # (B*T, C', H, W)
        return out.permute(0, 2, 3, 1).reshape(B, T, H, W, -1)  # (B, T, H, W, C')


class CausalTemporalConv(nn.Module):
    """Convolution along time over the current and the (kernel - 1) previous frames.

    Implemented as one linear map of the k frames stacked along channels. With `cache`
    None the past before frame 0 is frame 0 repeated; with a cache dict the past comes
    from the previous chunk (or is frame 0 repeated on the first chunk) and the cache is
    updated in place, so chunked results equal the full-sequence result.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.kernel_size = kernel_size
        self.proj = nn.Linear(kernel_size * in_channels, out_channels)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        k, T = self.kernel_size, x.shape[1]
        if k == 1:
            return self.proj(x)
        past = cache.get(self) if cache is not None else None
        if past is None:
            past = x[:, :1].expand(-1, k - 1, -1, -1, -1)  # (B, k-1, H, W, C): first frame repeated
        padded = torch.cat([past, x], dim=1)  # (B, T+k-1, H, W, C)
        if cache is not None:
            cache[self] = padded[:, -(k - 1) :].clone()
        stacked = torch.cat([padded[:, i : i + T] for i in range(k)], dim=-1)  # (B, T, H, W, k*C), oldest first
        return self.proj(stacked)  # (B, T, H, W, C')


class ResBlock(nn.Module):
    """Pre-norm residual block of a spatial 3x3 and a causal temporal convolution ((2+1)D, Tran et al. 2018)."""

    def __init__(self, channels: int, temporal_kernel: int):
        super().__init__()
        self.norm1 = ChannelRMSNorm(channels)
        self.spatial = SpatialConv(channels, channels)
        self.norm2 = ChannelRMSNorm(channels)
        self.temporal = CausalTemporalConv(channels, channels, temporal_kernel)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = self.spatial(F.silu(self.norm1(x)))  # (B, T, H, W, C)
        h = self.temporal(F.silu(self.norm2(h)), cache)  # (B, T, H, W, C)
        return x + h


def space_to_depth(x: torch.Tensor, ft: int, fs: int) -> torch.Tensor:
    """(B, T*ft, H*fs, W*fs, C) -> (B, T, H, W, ft*fs*fs*C)."""
    B, T, H, W, C = x.shape
    x = x.reshape(B, T // ft, ft, H // fs, fs, W // fs, fs, C)
    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7)  # (B, T, H, W, ft, fs, fs, C)
    return x.reshape(B, T // ft, H // fs, W // fs, ft * fs * fs * C)


def depth_to_space(x: torch.Tensor, ft: int, fs: int) -> torch.Tensor:
    """(B, T, H, W, ft*fs*fs*C) -> (B, T*ft, H*fs, W*fs, C); inverse of `space_to_depth`."""
    B, T, H, W, D = x.shape
    C = D // (ft * fs * fs)
    x = x.reshape(B, T, H, W, ft, fs, fs, C)
    x = x.permute(0, 1, 4, 2, 5, 3, 6, 7)  # (B, T, ft, H, fs, W, fs, C)
    return x.reshape(B, T * ft, H * fs, W * fs, C)


class Encoder(nn.Module):
    """Pixels (B, T, H, W, 3) with T a multiple of 4 -> latent stats (B, T/4, H/8, W/8, 2*latent_channels).

    The caller front-pads the first chunk with 3 copies of frame 0, so latent frame 0
    sees frame 0 alone and latent frame i sees frames 4i-3 .. 4i (and earlier ones
    through the causal convolutions).
    """

    def __init__(self, config):
        super().__init__()
        p, c1, c2 = config.patch_size, config.hidden_channels, config.latent_hidden_channels
        self.patch_size, self.down = p, SPATIAL_FACTOR // p
        self.conv_in = SpatialConv(3 * p * p, c1)
        self.blocks = nn.ModuleList(ResBlock(c1, config.temporal_kernel) for _ in range(config.num_blocks))
        self.down_proj = nn.Linear(TEMPORAL_FACTOR * self.down**2 * c1, c2)
        self.latent_blocks = nn.ModuleList(
            ResBlock(c2, config.temporal_kernel) for _ in range(config.num_latent_blocks)
        )
        self.norm_out = ChannelRMSNorm(c2)
        self.conv_out = SpatialConv(c2, 2 * config.latent_channels)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = space_to_depth(x, 1, self.patch_size)  # (B, T, H/p, W/p, 3p^2)
        h = self.conv_in(h)  # (B, T, H/p, W/p, c1)
        for block in self.blocks:
            h = block(h, cache)  # (B, T, H/p, W/p, c1)
        h = self.down_proj(space_to_depth(h, TEMPORAL_FACTOR, self.down))  # (B, T/4, H/8, W/8, c2)
        for block in self.latent_blocks:
            h = block(h, cache)  # (B, T/4, H/8, W/8, c2)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, T/4, H/8, W/8, 2*latent)


class Decoder(nn.Module):
    """Latent (B, T', H/8, W/8, latent_channels) -> pixels (B, 4T' (- 3 on the first chunk), H, W, 3).

    Each latent frame unfolds into 4 pixel frames; on the first chunk the first 3 are
    dropped right after the unfold, so pixel frame 0 comes from latent frame 0 alone.
    """

    def __init__(self, config):
        super().__init__()
        p, c2 = config.patch_size, config.latent_hidden_channels
        c1 = config.hidden_channels if config.decoder_hidden_channels is None else config.decoder_hidden_channels
        num_blocks = config.num_blocks if config.decoder_num_blocks is None else config.decoder_num_blocks
        self.patch_size, self.up = p, SPATIAL_FACTOR // p
        self.conv_in = SpatialConv(config.latent_channels, c2)
        self.latent_blocks = nn.ModuleList(
            ResBlock(c2, config.temporal_kernel) for _ in range(config.num_latent_blocks)
        )
        self.norm_up = ChannelRMSNorm(c2)
        self.up_proj = nn.Linear(c2, TEMPORAL_FACTOR * self.up**2 * c1)
        self.blocks = nn.ModuleList(ResBlock(c1, config.temporal_kernel) for _ in range(num_blocks))
        self.norm_out = ChannelRMSNorm(c1)
        self.conv_out = SpatialConv(c1, 3 * p * p)

    def forward(self, z: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        first_chunk = cache is None or not cache.get("started", False)
        h = self.conv_in(z)  # (B, T', h, w, c2)
        for block in self.latent_blocks:
            h = block(h, cache)  # (B, T', h, w, c2)
        h = depth_to_space(self.up_proj(self.norm_up(h)), TEMPORAL_FACTOR, self.up)  # (B, 4T', H/p, W/p, c1)
        if first_chunk:
            h = h[:, TEMPORAL_FACTOR - 1 :]  # (B, 4T'-3, H/p, W/p, c1): frame 0 from latent frame 0 only
        for block in self.blocks:
            h = block(h, cache)  # (B, T, H/p, W/p, c1)
        h = self.conv_out(F.silu(self.norm_out(h)))  # (B, T, H/p, W/p, 3p^2)
        if cache is not None:
            cache["started"] = True
        return depth_to_space(h, 1, self.patch_size)  # (B, T, H, W, 3)
