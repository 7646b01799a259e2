"""The spacetime-patch diffusion transformer.

A latent video (B, C, T, H, W) is cut into 1x2x2 patches ("spacetime patches", as in
Sora's report); each patch is a token. The transformer follows DiT (Peebles & Xie, 2023,
"Scalable Diffusion Models with Transformers") with the changes video models made since:

- 3D rotary position embedding (RoPE, Su et al. 2021) over (t, h, w), computed from the
  actual token grid at every call, so no size or length is baked into the weights.
- Per-latent-frame timesteps: t has shape (B, T) and every token is modulated (adaLN) by
  its own frame's t, so clean known frames (t = 0) and frames being generated share one
  sequence. This is the one conditioning mechanism for image-to-video, extension,
  connection and keyframes.
- adaLN-single (PixArt-alpha, Chen et al. 2023): one shared projection of the time
  embedding plus a learned per-block table; modulation is computed per frame (T rows),
  not per token, and broadcast over the frame's tokens.
- Cross-attention to text tokens with the padding mask (as PixArt-alpha and Wan).
- QK normalisation (RMSNorm per head, Dehghani et al. 2023) for stable attention logits.
- Zero-initialised modulation and output projection: every block starts as the identity
  and the model starts by predicting zero velocity (DiT's adaLN-Zero).

dtype policy: parameters are fp32. Under `torch.autocast` (bf16, CPU or GPU) the linear
layers and attention run in bf16 while the residual stream, the norms, the modulation and
RoPE stay in fp32. The output has the dtype of the input latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass
class DiTConfig:
    """Shape of a DiT. `preset(name)` gives the standard sizes."""

    in_channels: int = 16  # latent channels C
    text_dim: int = 384  # width of the text encoder's token states (MiniLM: 384)
    dim: int = 256  # transformer width
    depth: int = 8  # number of blocks
    heads: int = 4  # attention heads; head dim = dim // heads
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * dim
    patch_size: tuple = (1, 2, 2)  # (pt, ph, pw) latent voxels per token
    freq_dim: int = 256  # sinusoidal timestep features
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    pooled_text: bool = True  # also add the mean of the text states to the adaLN conditioning
    # GELU of the MLPs: "none" is the exact (erf) form, "tanh" the approximation. On CPU the erf
    # kernel is about 6x faster (bf16, 1584 x 1024: 0.18 ms against 1.14 ms at 2 threads); folders
    # written before this field existed used "tanh" and load with it (see DiT.from_pretrained).
    gelu_approximate: str = "none"
    # Also add a learned projection (zero-initialised) of where each token is: Fourier features of
    # its frame index counted from the clip's first and last frame, and of its place on the canvas
    # (centred, in units of the short side, and as a fraction of each side). RoPE alone relates
    # tokens only to each other; "moving left" means starting on the right of the canvas and being
    # further left in later frames, which needs absolute places. See absolute_position_features.
    absolute_position: bool = False
    activation_checkpointing: bool = False  # recompute each block in backward to save memory

    def __post_init__(self):
        self.patch_size = tuple(int(p) for p in self.patch_size)
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be three positive ints (pt, ph, pw), got {self.patch_size}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        head_dim = self.dim // self.heads
        if head_dim % 2 or self.rope_split()[0] < 2:
            raise ValueError(f"head dim {head_dim} is too small or odd for 3D RoPE; use dim // heads >= 8 and even")
        if self.gelu_approximate not in ("none", "tanh"):
            raise ValueError(f"gelu_approximate must be 'none' or 'tanh', got {self.gelu_approximate!r}")
        if min(self.in_channels, self.text_dim, self.depth, self.freq_dim) < 1 or self.freq_dim % 2:
            raise ValueError("in_channels, text_dim, depth must be positive and freq_dim positive and even")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def mlp_dim(self) -> int:
        return int(self.mlp_ratio * self.dim)

    def rope_split(self) -> tuple[int, int, int]:
        """Rotary frequencies (pairs of channels) given to t, h and w in each head.

        h and w get equal shares, t the rest (as Wan): half the head dim is rotated pairs.
        """
        pairs = self.head_dim // 2
        hw = pairs // 3
        return pairs - 2 * hw, hw, hw

    @classmethod
    def preset(cls, name: str, **overrides) -> "DiTConfig":
        """A standard size: "tiny" (tests), "S", "B", "L", "XL" (DiT's widths and depths)."""
        if name not in PRESETS:
            raise ValueError(f"unknown DiT preset {name!r}; choose one of {sorted(PRESETS)}")
        return replace(cls(**PRESETS[name]), **overrides)


# DiT-S/B/L/XL widths, depths and heads (Peebles & Xie, Table 1); "tiny" is for tests.
PRESETS: dict[str, dict] = {
    "tiny": dict(dim=64, depth=2, heads=4, freq_dim=64),
    "S": dict(dim=384, depth=12, heads=6),
    "B": dict(dim=768, depth=12, heads=12),
    "L": dict(dim=1024, depth=24, heads=16),
    "XL": dict(dim=1152, depth=28, heads=16),
}


def timestep_features(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled to [0, 1000] as in DDPM/DiT); fp32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[..., None] * 1000.0 * freqs  # (..., half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def pooled_text(text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states (B, L, D) over the real tokens of text_mask (B, L): (B, D); an
    empty prompt (no real token) gives zeros. What the DiT's adaLN sees of the prompt."""
    weights = text_mask.to(text.dtype)[..., None]  # (B, L, 1)
    return (text * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def rope_tables(grid: tuple[int, int, int], split: tuple[int, int, int], theta: float, device) -> tuple:
    """cos/sin of the 3D rotary embedding for a (T, h, w) token grid, each (N, head_dim // 2), fp32.

    Each axis gets its own band of frequencies; positions are integer token indices.
    """
    angles = []
    for n, pairs, axis in zip(grid, split, range(3)):
        freqs = theta ** (-torch.arange(pairs, device=device, dtype=torch.float32) / pairs)  # (pairs,)
        a = torch.arange(n, device=device, dtype=torch.float32)[:, None] * freqs  # (n, pairs)
        shape = [1, 1, 1, pairs]
        shape[axis] = n
        angles.append(a.view(shape).expand(*grid, pairs))
    angles = torch.cat(angles, dim=-1).reshape(-1, sum(split))  # (N, head_dim/2)
    return angles.cos(), angles.sin()


POSITION_BANDS = 6  # frequencies per coordinate in absolute_position_features


def absolute_position_features(grid: tuple[int, int, int], device, bands: int = POSITION_BANDS) -> torch.Tensor:
    """Fourier features (N, 12 * bands) of each token's absolute place in a (T, h, w) token grid, fp32.

    Time: frame index k from the start and T - 1 - k from the end (periods of 2 to 2**bands
    frames). Space, per axis of n tokens: the centred position (i + 1/2 - n/2) / min(h, w), in
    units of the short side as the world's sizes and speeds are, and the fraction (i + 1/2) / n
    (frequencies pi to pi * 2**(bands-1)). Nothing depends on a maximum size or length.
    """
    T, h, w = grid
    k = torch.arange(T, device=device, dtype=torch.float32)
    time = torch.stack([k, T - 1 - k], dim=-1)[..., None] * (math.pi / 2 ** torch.arange(bands, device=device))  # (T, 2, bands)
    space_freqs = math.pi * 2 ** torch.arange(bands, device=device, dtype=torch.float32)
    per_axis = []
    for n in (h, w):
        i = torch.arange(n, device=device, dtype=torch.float32) + 0.5
        per_axis.append(torch.stack([(i - n / 2) / min(h, w), i / n], dim=-1)[..., None] * space_freqs)  # (n, 2, bands)
    parts = [time.reshape(T, 1, 1, -1).expand(T, h, w, -1),
             per_axis[0].reshape(1, h, 1, -1).expand(T, h, w, -1),
             per_axis[1].reshape(1, 1, w, -1).expand(T, h, w, -1)]
    angles = torch.cat(parts, dim=-1).reshape(T * h * w, -1)  # (N, 6 * bands)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (i, i + d/2) of x (B, N, ..., d) by angles (N, 1, ..., d/2); in fp32.

    The half-split pairing (GPT-NeoX) needs no interleaved gathers; which channels pair up
    is arbitrary for a learned projection.
    """
    x1, x2 = x.float().chunk(2, dim=-1)
    rotated = [torch.addcmul(x1 * cos, x2, sin, value=-1), torch.addcmul(x1 * sin, x2, cos)]
    return torch.cat(rotated, dim=-1).to(x.dtype)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, frames: int, eps: float) -> torch.Tensor:
    """LayerNorm(x) * (1 + scale) + shift in fp32, with one (shift, scale) per latent frame.

    x (B, N, D) with N = frames * tokens_per_frame; shift, scale (B, frames, D).
    """
    B, N, D = x.shape
    h = F.layer_norm(x.float(), (D,), eps=eps).view(B, frames, N // frames, D)
    return torch.addcmul(shift[:, :, None], h, 1 + scale[:, :, None]).view(B, N, D)


def add_gated(x: torch.Tensor, branch: torch.Tensor, gate: torch.Tensor, frames: int) -> torch.Tensor:
    """x + gate * branch with a per-frame gate (B, frames, D); x (B, N, D) fp32, result fp32."""
    B, N, D = x.shape
    out = torch.addcmul(x.view(B, frames, N // frames, D), branch.view(B, frames, N // frames, D), gate[:, :, None])
    return out.view(B, N, D)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v for q (B, heads, N, d), k and v (B, heads, M, d).

    mask: None, or (B, 1, 1, M) bool with True = attend; every row needs one True.

    On CPU in bf16, PyTorch's fused attention kernel computes in fp32; there a plain
    matmul-softmax-matmul over blocks of queries is 2x faster (both matmuls in bf16, each
    block of scores small enough to stay in cache), forward and backward. It stores the
    attention weights for backward, so training uses it only while they are small.
    Everywhere else: `scaled_dot_product_attention`.
    The blocked path writes its output as (B, N, heads, d) in memory (SDPA follows q's
    layout, which is that one for the transposed projections here), so merging the heads
    back into (B, N, heads * d) is a view, not a copy.
    """
    B, H, N, d = q.shape
    scores = B * H * N * k.shape[2]
    blocked = q.device.type == "cpu" and q.dtype == torch.bfloat16 and v.dtype == torch.bfloat16
    if not blocked or (torch.is_grad_enabled() and scores > _MAX_STORED_SCORES):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    rows = max(16, _SCORE_BLOCK // (B * H * k.shape[2]))  # queries per block
    # Contiguous (B, heads, N, d) operands once, so no block copies them again.
    q, v = q.contiguous(), v.contiguous()
    k_t = (k.contiguous() * d**-0.5).transpose(-1, -2)  # (B, heads, d, N), scaled once
    blocks = []
    with torch.autocast("cpu", enabled=False):  # inputs are bf16 already; keep softmax's output bf16
        for i in range(0, N, rows):
            scores = q[:, :, i : i + rows] @ k_t  # (B, heads, rows, M)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            blocks.append((torch.softmax(scores, dim=-1) @ v).transpose(1, 2))  # (B, rows, heads, d)
    return torch.cat(blocks, dim=1).transpose(1, 2)  # (B, heads, N, d), stored as (B, N, heads, d)


# Blocked CPU attention: scores per block (4 MiB in bf16), and the most it stores for backward.
_SCORE_BLOCK = 1 << 21
_MAX_STORED_SCORES = 1 << 27


class SelfAttention(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.heads, self.eps = config.heads, config.norm_eps
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.q_norm = nn.Parameter(torch.ones(config.head_dim))
        self.k_norm = nn.Parameter(torch.ones(config.head_dim))
        self.out = nn.Linear(config.dim, config.dim)

    def forward(self, x: torch.Tensor, rope: tuple) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.heads, D // self.heads)  # (B, N, 3, heads, d)
        # q and k are normed and rotated together, in the layout the projection wrote: half the
        # element-wise ops, which cost more than their arithmetic on a small CPU.
        norm = torch.stack([self.q_norm, self.k_norm]).float()[:, None]  # (2, 1, d)
        qk = F.rms_norm(qkv[:, :, :2].float(), norm.shape[-1:], eps=self.eps) * norm  # (B, N, 2, heads, d)
        q, k = apply_rope(qk, *rope).to(qkv.dtype).unbind(2)  # (B, N, heads, d) each
        v = qkv[:, :, 2]  # (B, N, heads, d)
        x = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (B, heads, N, d)
        return self.out(x.transpose(1, 2).reshape(B, N, D))  # (B, N, D)


class CrossAttention(nn.Module):
    """Queries from the video tokens, keys and values from the text tokens (padding masked)."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.heads, self.eps = config.heads, config.norm_eps
        self.q = nn.Linear(config.dim, config.dim)
        self.kv = nn.Linear(config.dim, 2 * config.dim)
        self.q_norm = nn.Parameter(torch.ones(config.head_dim))
        self.k_norm = nn.Parameter(torch.ones(config.head_dim))
        self.out = nn.Linear(config.dim, config.dim)

    def forward(self, x: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # mask (B, 1, 1, L) bool, True = real token; None when every token is real.
        B, N, D = x.shape
        L, d = text.shape[1], D // self.heads
        q = self.q(x).view(B, N, self.heads, d)  # (B, N, heads, d)
        k, v = self.kv(text).view(B, L, 2, self.heads, d).unbind(2)  # (B, L, heads, d) each
        q = F.rms_norm(q.float(), (d,), self.q_norm.float(), self.eps).to(v.dtype)
        k = F.rms_norm(k.float(), (d,), self.k_norm.float(), self.eps).to(v.dtype)
        x = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)  # (B, heads, N, d)
        return self.out(x.transpose(1, 2).reshape(B, N, D))  # (B, N, D)


class Block(nn.Module):
    """adaLN-modulated self-attention, cross-attention to text, MLP; each a residual branch."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.eps = config.norm_eps
        self.attn = SelfAttention(config)
        self.cross_norm = nn.LayerNorm(config.dim, eps=config.norm_eps)
        self.cross = CrossAttention(config)
        self.mlp = nn.Sequential(
            nn.Linear(config.dim, config.mlp_dim),
            nn.GELU(approximate=config.gelu_approximate),
            nn.Linear(config.mlp_dim, config.dim),
        )
        # Per-block offsets added to the shared modulation (adaLN-single).
        self.modulation = nn.Parameter(torch.zeros(6, config.dim))

    def forward(self, x, mod, rope, text, text_mask):
        # x (B, N, D) fp32 residual stream; mod (B, T, 6, D) fp32 shared modulation of each frame.
        frames, dtype = mod.shape[1], self.modulation.dtype  # dtype of the weights (autocast may lower it)
        shift1, scale1, gate1, shift2, scale2, gate2 = (mod + self.modulation.float()).unbind(2)  # (B, T, D) each
        h = modulate(x, shift1, scale1, frames, self.eps).to(dtype)  # (B, N, D)
        x = add_gated(x, self.attn(h, rope), gate1, frames)
        norm = self.cross_norm
        h = F.layer_norm(x, x.shape[-1:], norm.weight.float(), norm.bias.float(), self.eps).to(dtype)
        x = x + self.cross(h, text, text_mask)  # fp32 + bf16 adds in fp32, without a .float() copy
        h = modulate(x, shift2, scale2, frames, self.eps).to(dtype)
        x = add_gated(x, self.mlp(h), gate2, frames)
        return x  # (B, N, D)


class DiT(nn.Module):
    """Diffusion transformer over spacetime patches; predicts the rectified-flow velocity."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        C, D = config.in_channels, config.dim
        patch_voxels = math.prod(config.patch_size)
        self.patch_embed = nn.Linear(C * patch_voxels, D)
        self.position_embed = nn.Linear(12 * POSITION_BANDS, D) if config.absolute_position else None
        self.time_embed = nn.Sequential(nn.Linear(config.freq_dim, D), nn.SiLU(), nn.Linear(D, D))
        self.block_modulation = nn.Linear(D, 6 * D)  # shared by every block (adaLN-single)
        self.text_embed = nn.Sequential(
            nn.Linear(config.text_dim, D), nn.GELU(approximate=config.gelu_approximate), nn.Linear(D, D)
        )
        # The masked mean of MiniLM's token states is its sentence embedding; feeding it to the
        # adaLN modulation (as SD3 does with pooled CLIP) makes global attributes (colour, shape,
        # motion) reach every token directly and learn far faster than through cross-attention alone.
        self.pooled_text_embed = (
            nn.Sequential(nn.Linear(config.text_dim, D), nn.SiLU(), nn.Linear(D, D)) if config.pooled_text else None
        )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.out_modulation = nn.Linear(D, 2 * D)
        self.out_proj = nn.Linear(D, C * patch_voxels)
        self.activation_checkpointing = config.activation_checkpointing
        self.initialize_weights()

    def initialize_weights(self):
        """All initialisation in one place (DiT): Xavier linears, zero modulation and output."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.time_embed[0].weight, std=0.02)
        nn.init.normal_(self.time_embed[2].weight, std=0.02)
        # The position projection starts at zero too, so a trained model extended with it computes the same.
        for m in (self.block_modulation, self.out_modulation, self.out_proj, self.position_embed):
            if m is None:
                continue
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        for block in self.blocks:
            nn.init.zeros_(block.modulation)

    def set_activation_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each block during backward instead of storing its activations."""
        self.activation_checkpointing = bool(enabled)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Velocity for the noisy latent x (B, C, T, H, W) at per-frame times t (B, T) in [0, 1].

        text (B, L, text_dim) token states with text_mask (B, L) bool, True = real token.
        Odd H or W (or T, for pt > 1) are padded up to the patch size and cropped back.
        """
        cfg = self.config
        B, C, T, H, W = x.shape
        self._check_inputs(x, t, text, text_mask)
        pt, ph, pw = cfg.patch_size
        Tp, Hp, Wp = -(-T // pt), -(-H // ph), -(-W // pw)  # token grid
        pad = (0, Wp * pw - W, 0, Hp * ph - H, 0, Tp * pt - T)
        h = F.pad(x, pad) if any(pad) else x

        # Patchify: (B, C, Tp*pt, Hp*ph, Wp*pw) -> (B, Tp*Hp*Wp, C*pt*ph*pw), tokens in (t, h, w) order.
        h = h.view(B, C, Tp, pt, Hp, ph, Wp, pw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, Tp * Hp * Wp, -1)
        dtype = self.patch_embed.weight.dtype  # inputs of the linears follow the weights (autocast may lower)
        h = self.patch_embed(h.to(dtype)).float()  # (B, N, D) fp32 residual stream
        if self.position_embed is not None:
            places = absolute_position_features((Tp, Hp, Wp), x.device)  # (N, F)
            h = h + self.position_embed(places.to(dtype)).float()  # (B, N, D)

        # One time embedding per token frame (with pt > 1, a token frame takes its first frame's t).
        t_tok = t[:, ::pt]  # (B, Tp)
        temb = self.time_embed(timestep_features(t_tok, cfg.freq_dim).to(dtype))  # (B, Tp, D)
        text_mask = text_mask.to(device=x.device, dtype=torch.bool)
        if self.pooled_text_embed is not None:
            pooled = pooled_text(text, text_mask)  # (B, text_dim)
            temb = temb + self.pooled_text_embed(pooled.to(dtype))[:, None]  # (B, Tp, D)
        temb = F.silu(temb)
        mod = self.block_modulation(temb).float().view(B, Tp, 6, cfg.dim)  # (B, Tp, 6, D)
        out_shift, out_scale = self.out_modulation(temb).float().chunk(2, dim=-1)  # (B, Tp, D) each

        text_h = self.text_embed(text.to(dtype))  # (B, L, D)
        # A prompt with no real token would make attention divide by zero; it attends to zeroed
        # tokens instead, which gives a fixed learned "no text" signal.
        empty = ~text_mask.any(dim=1)
        if empty.any():
            text_mask = text_mask | empty[:, None]
            text_h = text_h.masked_fill(empty[:, None, None], 0.0)
        cross_mask = None if bool(text_mask.all()) else text_mask[:, None, None, :]  # no mask: a faster kernel
        cos, sin = rope_tables((Tp, Hp, Wp), cfg.rope_split(), cfg.rope_theta, x.device)  # (N, d/2) each
        rope = (cos[:, None, None], sin[:, None, None])  # (N, 1, 1, d/2): broadcast over q/k and heads

        for block in self.blocks:
            if self.activation_checkpointing and torch.is_grad_enabled():
                h = checkpoint(block, h, mod, rope, text_h, cross_mask, use_reentrant=False)
            else:
                h = block(h, mod, rope, text_h, cross_mask)  # (B, N, D)

        h = modulate(h, out_shift, out_scale, Tp, cfg.norm_eps)  # (B, N, D)
        h = self.out_proj(h.to(dtype))  # (B, N, C*pt*ph*pw)
        h = h.view(B, Tp, Hp, Wp, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        h = h.reshape(B, C, Tp * pt, Hp * ph, Wp * pw)[:, :, :T, :H, :W]  # (B, C, T, H, W)
        return h.to(x.dtype)

    def _check_inputs(self, x, t, text, text_mask):
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"x must be (B, {cfg.in_channels}, T, H, W), got {tuple(x.shape)}")
        B, _, T = x.shape[:3]
        if t.shape != (B, T):
            raise ValueError(f"t must be per latent frame, shape ({B}, {T}), got {tuple(t.shape)}")
        if text.ndim != 3 or text.shape[0] != B or text.shape[2] != cfg.text_dim:
            raise ValueError(f"text must be ({B}, L, {cfg.text_dim}), got {tuple(text.shape)}")
        if text_mask.shape != text.shape[:2]:
            raise ValueError(f"text_mask must be {tuple(text.shape[:2])}, got {tuple(text_mask.shape)}")

    def widen_text_input(self, text_dim: int) -> "DiT":
        """This model taking text `text_dim` wide: its text features first, zero weights on the rest.

        The widened model computes exactly what this one does until training gives the new
        features weight (e.g. a text encoder's word embeddings beside its states, `TextEncoder`).
        """
        old = self.config.text_dim
        if text_dim < old:
            raise ValueError(f"widen_text_input: text_dim {text_dim} is narrower than the model's {old}")
        wide = DiT(replace(self.config, text_dim=text_dim)).to(self.out_proj.weight)
        state = self.state_dict()
        for name in ("text_embed.0.weight", "pooled_text_embed.0.weight"):
            if name in state:
                state[name] = torch.cat([state[name], state[name].new_zeros(state[name].shape[0], text_dim - old)], 1)
        wide.load_state_dict(state, strict=True)
        return wide

    # Model folders (config.json + model.safetensors, strict).
    def save_pretrained(self, folder: str | Path) -> Path:
        from spacetime import modelio

        return modelio.save_pretrained(self, self.config, folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "DiT":
        from spacetime import modelio

        # Folders from before `gelu_approximate` existed were trained with the tanh form.
        return modelio.load_pretrained(cls, DiTConfig, folder, absent={"gelu_approximate": "tanh"})


def forward_flops(config: DiTConfig, tokens: int, text_len: int, batch: int = 1) -> float:
    """Analytic matmul FLOPs of one forward (2 per multiply-add), the count used for MFU.

    Counts the linear layers on tokens and text, and self/cross attention scores and
    values; per-frame modulation and elementwise work are left out (they are tiny).
    """
    D, N, L = config.dim, tokens, text_len
    C = config.in_channels * math.prod(config.patch_size)
    per_block = (
        2 * N * D * 3 * D  # qkv
        + 2 * 2 * N * N * D  # scores and weighted values
        + 2 * N * D * D  # self-attention out
        + 2 * N * D * D + 2 * L * D * 2 * D  # cross q, kv
        + 2 * 2 * N * L * D  # cross scores and values
        + 2 * N * D * D  # cross out
        + 2 * 2 * N * D * config.mlp_dim  # MLP
    )
    embed = 2 * N * C * D * 2 + 2 * L * (config.text_dim * D + D * D)
    if config.absolute_position:
        embed += 2 * N * 12 * POSITION_BANDS * D
    return float(batch * (config.depth * per_block + embed))


def preset_table(in_channels: int = 16, text_dim: int = 384) -> str:
    """A table of the presets and their parameter counts (models built on the meta device: no memory)."""
    rows = [f"{'preset':8}{'dim':>6}{'depth':>6}{'heads':>6}{'params':>12}"]
    for name in PRESETS:
        config = DiTConfig.preset(name, in_channels=in_channels, text_dim=text_dim)
        with torch.device("meta"):
            params = DiT(config).num_params()
        rows.append(f"{name:8}{config.dim:6}{config.depth:6}{config.heads:6}{params / 1e6:11.2f}M")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m spacetime.dit: the preset table
    print(preset_table())
