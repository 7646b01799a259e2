"""Rectified flow: noising, training timesteps and shift, conditioning masks, the loss.

Rectified flow (Liu et al. 2022, "Flow Straight and Fast"; Lipman et al. 2022, "Flow
Matching") in the form of SD3 (Esser et al. 2024, "Scaling Rectified Flow Transformers"):

    x_t = (1 - t) x0 + t eps,    the model predicts the velocity  v = eps - x0,

with t = 0 clean data and t = 1 pure noise. Every latent frame has its own t (shape
(B, T)): frames that are given (known) sit at t = 0 with x_t = x0, the others share one
t drawn per clip, and the loss covers the unknown frames only. Training draws random
known-frame masks (none, first, last, both ends, middle span) so that one model learns
text-to-video, image-to-video, extension, connection and keyframes.

The samplers and classifier-free guidance are in `spacetime.samplers` and re-exported
here, so `flow.sample_euler`, `flow.sigma_schedule`, `flow.cfg_velocity` work.
"""

from __future__ import annotations

import math

import torch

from spacetime.samplers import (
    cfg_velocity, pad_text, sample_dpmpp_2m, sample_euler, sample_heun, sigma_schedule, time_shift,
)

__all__ = [
    "noise",
    "frame_correlated_noise",
    "time_shift",
    "shift_for_tokens",
    "sample_train_t",
    "random_known_mask",
    "DEFAULT_MASK_PROBS",
    "MASK_KINDS",
    "check_mask_probs",
    "training_loss",
    "sigma_schedule",
    "cfg_velocity",
    "pad_text",
    "sample_euler",
    "sample_heun",
    "sample_dpmpp_2m",
]

# Kinds of known-frame mask `random_known_mask` draws. With the causal 4x VAE only the first latent
# frame is one instant (pixel frame 0); latent frame k >= 1 spans pixel frames 4k - 3 to 4k, so a
# given middle or last latent frame already shows which way things move. "first_frame" is thus the
# one case where the motion must come from the text, and only where a clip's first frame does not
# give it away: the world keeps objects in frame, so one starting by the left edge moves right
# (WorldClips(start="centre") draws clips where it does not). "middle_frame" is the keyframe case.
MASK_KINDS: tuple[str, ...] = (
    "none", "first", "last", "both_ends", "middle", "first_frame", "last_frame", "middle_frame",
)
# Share of training clips given each kind of known-frame mask.
DEFAULT_MASK_PROBS: dict[str, float] = {
    "none": 0.5,  # text to video
    "first": 0.2,  # image to video, extend forward: the first k latent frames
    "last": 0.1,  # extend backward: the last k frames
    "both_ends": 0.1,  # connect two clips, loops: the first k and last m frames
    "middle": 0.1,  # keyframes: one span inside the clip
}


def noise(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t eps, with t (B, T) broadcast over channels and space of (B, C, T, H, W)."""
    if t.shape != (x0.shape[0], x0.shape[2]):
        raise ValueError(f"t must be (B, T) = {(x0.shape[0], x0.shape[2])}, got {tuple(t.shape)}")
    t = t.to(x0.dtype)[:, None, :, None, None]  # (B, 1, T, 1, 1)
    return (1 - t) * x0 + t * eps


def frame_correlated_noise(
    shape: tuple[int, ...],
    correlation: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Gaussian noise (B, C, T, H, W) whose latent frames share a component.

    The mixed noise model of PYoCo (Ge et al. 2023, "Preserve Your Own Correlation: A Noise
    Prior for Video Diffusion Models"): eps_t = sqrt(rho) * shared + sqrt(1 - rho) * own_t with
    shared, own_t ~ N(0, I), so every element is still N(0, 1) and any two frames correlate by
    rho (the paper's alpha: rho = alpha^2 / (1 + alpha^2)). Frames that start from
    similar noise settle on one layout, so an object stays one object from frame to frame;
    a model must be trained with the same rho that it samples with. rho = 0 is exactly
    `torch.randn(shape, generator=generator)`, so seeds keep their videos.
    """
    if not 0 <= correlation < 1:
        raise ValueError(f"noise correlation must be in [0, 1), got {correlation}")
    eps = torch.randn(shape, generator=generator, device=device)  # (B, C, T, H, W)
    if correlation > 0:
        shared = torch.randn((*shape[:2], 1, *shape[3:]), generator=generator, device=device)  # (B, C, 1, H, W)
        eps = math.sqrt(correlation) * shared + math.sqrt(1 - correlation) * eps
    return eps


def shift_for_tokens(num_tokens: int, base_shift: float = 1.0, max_shift: float = 6.0, base_tokens: int = 256) -> float:
    """Timestep shift for a sequence of `num_tokens` tokens: base_shift * sqrt(num_tokens / base_tokens).

    SD3 (Esser et al. 2024, sec. 5.3.2): more tokens carry the same signal at a higher
    noise level, so the schedule is shifted toward noise by sqrt of the token ratio.
    The result is clamped to [1, max_shift]; it never decreases as tokens grow.
    """
    if num_tokens < 1:
        raise ValueError(f"num_tokens must be positive, got {num_tokens}")
    return float(min(max(base_shift * math.sqrt(num_tokens / base_tokens), 1.0), max_shift))


def sample_train_t(
    batch: int,
    frames: int,
    generator: torch.Generator | None = None,
    shift: float | torch.Tensor = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Training times (B, T): logit-normal (SD3's lognorm(mean, std)), then shifted.

    One t per clip, repeated over its frames: every generated frame of a clip is at the
    same noise level (known frames are set to 0 afterwards by the caller/loss). shift: one
    number, or one per clip (B,).
    """
    gen_device = generator.device if generator is not None else device
    u = torch.sigmoid(mean + std * torch.randn(batch, generator=generator, device=gen_device))  # (B,)
    if isinstance(shift, torch.Tensor):
        if shift.shape != (batch,) or not bool((shift > 0).all()):
            raise ValueError(f"a per-clip shift must be {batch} positive numbers, got {shift.tolist()}")
        shift = shift.to(u)
    t = time_shift(u, shift)
    return t.to(device)[:, None].expand(batch, frames).contiguous()  # (B, T)


def check_mask_probs(probs: dict[str, float]) -> None:
    """ValueError unless `probs` maps kinds of MASK_KINDS to non-negative weights, not all 0."""
    weights = list(probs.values())
    if set(probs) - set(MASK_KINDS) or not all(isinstance(w, (int, float)) and w >= 0 for w in weights) \
            or sum(weights) <= 0:
        raise ValueError(f"mask_probs must map kinds of {list(MASK_KINDS)} to non-negative weights (not all 0), "
                         f"got {probs}")


def random_known_mask(
    batch: int,
    frames: int,
    generator: torch.Generator | None = None,
    probs: dict[str, float] | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Random known-frame masks (B, T) bool for training; True = frame is given (clean).

    Kinds (MASK_KINDS; default shares DEFAULT_MASK_PROBS): "none"; "first" k frames; "last" k
    frames; "both_ends" (first k and last m); "middle" (one span strictly inside the clip);
    "first_frame", "last_frame", "middle_frame": exactly the first, the last or the middle latent
    frame (frames // 2): image to video, a clip that ends on an image, one keyframe. Span lengths
    are uniform; at least one frame always stays unknown, and a one-frame clip is never conditioned.
    """
    probs = DEFAULT_MASK_PROBS if probs is None else probs
    check_mask_probs(probs)
    kinds = list(probs)
    weights = torch.tensor([float(probs[k]) for k in kinds])
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    if frames < 2:
        return mask.to(device)
    choice = torch.multinomial(weights, batch, replacement=True, generator=_cpu(generator))

    def randint(low: int, high: int) -> int:  # inclusive bounds
        return int(torch.randint(low, high + 1, (1,), generator=_cpu(generator)))

    single_frame = {"first_frame": 0, "middle_frame": frames // 2, "last_frame": frames - 1}  # kind -> index
    for b in range(batch):
        kind = kinds[int(choice[b])]
        if kind in single_frame:
            mask[b, single_frame[kind]] = True
        elif kind == "first":
            mask[b, : randint(1, frames - 1)] = True
        elif kind == "last":
            mask[b, frames - randint(1, frames - 1) :] = True
        elif kind == "both_ends" and frames >= 3:
            k = randint(1, frames - 2)
            m = randint(1, frames - 1 - k)
            mask[b, :k] = True
            mask[b, frames - m :] = True
        elif kind == "middle" and frames >= 3:
            length = randint(1, frames - 2)
            start = randint(1, frames - 1 - length)  # the span never touches either end
            mask[b, start : start + length] = True
        elif kind in ("both_ends", "middle"):  # two frames: fall back to the first one given
            mask[b, 0] = True
    return mask.to(device)


def _cpu(generator: torch.Generator | None) -> torch.Generator | None:
    """Mask draws are small CPU work; a CUDA generator cannot drive them."""
    return generator if generator is None or generator.device.type == "cpu" else None


def object_weights(x0: torch.Tensor, strength: float, estimate: torch.Tensor | None = None) -> torch.Tensor:
    """Loss weights (B, T, H, W) for latents x0 (B, C, T, H, W), mean 1 over each frame's cells.

    A cell's distance from its frame's per-channel spatial median (the background, where one
    fills most of the frame) marks the cells that show something else; weight = 1 + strength x
    distance / mean distance, then normalised to mean 1 so the loss keeps its scale.
    estimate: the model's own (detached) estimate of x0, same shape. A cell then counts by the
    larger of its two distances from x0's background, so a cell where the model draws an object
    that is not there weighs as much as a cell of the object itself. Weights from x0 alone make
    an object drawn too large cost only the background's weight for its extra cells, which
    teaches a decoder to draw objects larger (MODEL.md, session 28).
    """
    median = x0.flatten(3).median(dim=-1).values[..., None, None]  # (B, C, T, 1, 1)
    distance = (x0 - median).pow(2).mean(dim=1)  # (B, T, H, W)
    if estimate is not None:
        if estimate.shape != x0.shape:
            raise ValueError(f"estimate must have x0's shape {tuple(x0.shape)}, got {tuple(estimate.shape)}")
        distance = torch.maximum(distance, (estimate - median).pow(2).mean(dim=1))
    w = 1 + strength * distance / distance.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return w / w.mean(dim=(2, 3), keepdim=True)


def training_loss(
    model,
    x0: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    known_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    shift: float | torch.Tensor = 1.0,
    *,
    mask_probs: dict[str, float] | None = None,
    image_prob: float = 0.0,
    text_drop: float = 0.0,
    null_text: torch.Tensor | None = None,
    null_mask: torch.Tensor | None = None,
    noise_correlation: float = 0.0,
    object_weight: float = 0.0,
    object_weight_drawn: bool = False,
    motion_weight: float = 0.0,
    edge_weight: float = 0.0,
) -> tuple[torch.Tensor, dict]:
    """Rectified-flow loss: mean squared error of the velocity on unknown frames.

    x0 (B, C, T, H, W) clean normalised latents; text (B, L, D), text_mask (B, L).
    known_mask (B, T) bool: given frames (t = 0, x_t = x0, no loss). None draws
    `random_known_mask(probs=mask_probs)`; pass an all-False mask for none.
    shift: the training times' shift (`sample_train_t`), one number or one per clip (B,).
    image_prob: chance that this batch is trained as single-frame images (its first
    latent frame, which the causal VAE encodes from the first frame alone).
    text_drop: per-sample chance of replacing the prompt by `null_text`/`null_mask` (the
    empty-prompt embedding) for classifier-free guidance; without null_text the text
    mask is cleared instead.
    noise_correlation: the correlation of the noise between latent frames
    (`frame_correlated_noise`); sampling must use the same value.
    object_weight: weight each latent cell by 1 + object_weight x its squared distance from its
    frame's per-channel spatial median, relative to the frame's mean distance (`object_weights`):
    small objects on a plain background count for more than their share of the cells.
    object_weight_drawn: weight the cells where the model's own estimate of x0 (x_t - t v)
    shows an object as well, so that objects drawn where there are none cost as much as
    objects missed (`object_weights` with an estimate).
    motion_weight: add motion_weight x the squared error of the velocity's change from one
    latent frame to the next (on pairs of unknown frames, halved so that independent errors
    weigh as much as in the main term). Any positive-definite quadratic form of the error has
    the same minimiser, the conditional mean velocity, so this biases nothing; it re-weights
    the gradient toward what changes between frames (a moving object), which the plain mean
    squared error drowns in the still background.
    edge_weight: add edge_weight x the squared error of the velocity's change from one latent
    cell to the next in height and width (halved, as for motion_weight): the same reasoning in
    space, so it biases nothing either. It weighs the error's fine spatial detail, where an
    object's outline and so its shape lies, more than its smooth part.
    Returns (loss, stats) with stats of python floats: loss, t_mean, known_frac, frames.
    """
    B, C, T = x0.shape[:3]
    device = x0.device
    draw = _cpu(generator)
    if image_prob > 0 and T > 1 and float(torch.rand(1, generator=draw)) < image_prob:
        x0, T = x0[:, :, :1], 1
        known_mask = None if known_mask is None else known_mask[:, :1] & False
    if known_mask is None:
        known_mask = random_known_mask(B, T, generator=draw, probs=mask_probs)
    known_mask = known_mask.to(device=device, dtype=torch.bool)
    if known_mask.shape != (B, T):
        raise ValueError(f"known_mask must be (B, T) = {(B, T)}, got {tuple(known_mask.shape)}")
    unknown = (~known_mask).to(x0.dtype)  # (B, T)
    if not unknown.any():
        raise ValueError("known_mask marks every frame of every clip as known: nothing to learn")

    if text_drop > 0:
        drop = (torch.rand(B, generator=draw) < text_drop).to(device)  # (B,)
        if null_text is not None:
            null_mask = torch.ones(null_text.shape[:2], dtype=torch.bool) if null_mask is None else null_mask
            (text, null_text), (text_mask, null_mask) = pad_text([text, null_text], [text_mask, null_mask])
            text = torch.where(drop[:, None, None], null_text.to(text).expand_as(text), text)
            text_mask = torch.where(drop[:, None], null_mask.to(text_mask.device).expand_as(text_mask), text_mask)
        else:
            text_mask = text_mask & ~drop[:, None]

    t = sample_train_t(B, T, generator=draw, shift=shift).to(device=device, dtype=torch.float32)  # (B, T)
    t = t.masked_fill(known_mask, 0.0)
    eps_device = generator.device if generator is not None else device
    eps = frame_correlated_noise(x0.shape, noise_correlation, generator, eps_device).to(device=device, dtype=x0.dtype)
    x_t = noise(x0, eps, t)  # known frames: exactly x0
    v = model(x_t, t, text, text_mask)  # (B, C, T, H, W)
    residual = v.float() - (eps - x0).float()  # (B, C, T, H, W)
    error = residual.pow(2).mean(dim=1)  # (B, T, H, W)
    if object_weight > 0:
        estimate = None
        if object_weight_drawn:
            estimate = x_t.float() - t[:, None, :, None, None] * v.detach().float()  # (B, C, T, H, W): x0 as drawn
        w = object_weights(x0.float(), object_weight, estimate)  # (B, T, H, W), mean 1 per frame
        error = error * w
    per_frame = error.mean(dim=(2, 3))  # (B, T)
    loss = (per_frame * unknown).sum() / unknown.sum()
    if motion_weight > 0:
        pairs = unknown[:, 1:] * unknown[:, :-1]  # (B, T-1): both frames generated
        if pairs.any():
            change = residual.diff(dim=2).pow(2).mean(dim=(1, 3, 4))  # (B, T-1)
            loss = loss + motion_weight * 0.5 * (change * pairs).sum() / pairs.sum()
    if edge_weight > 0:
        across_h, across_w = (residual.diff(dim=d).pow(2).mean(dim=(1, 3, 4)) for d in (3, 4))  # (B, T) each
        change = 0.5 * (across_h + across_w)
        loss = loss + edge_weight * 0.5 * (change * unknown).sum() / unknown.sum()
    stats = {
        "loss": float(loss.detach()),
        "t_mean": float((t * unknown).sum() / unknown.sum()),
        "known_frac": float(known_mask.float().mean()),
        "frames": float(T),  # the latent frames trained: 1 where the batch was made images
    }
    return loss, stats
