"""Rectified-flow samplers, the sigma schedule and classifier-free guidance.

Samplers follow k-diffusion's shape: `sample_x(velocity_fn, x, sigmas, ...) -> x0`, one
small function per algorithm. `velocity_fn(x (B, C, T, H, W), t (B, T)) -> v` predicts
the rectified-flow velocity eps - x0, so dx/dt = v and a step from sigma_i to sigma_i+1
is an ODE step on x. Frames named by `known_mask` (B, T) are held at `x_known` with
t = 0 throughout: the model sees them as clean context, and they are never updated.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def time_shift(t: torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
    """SD3's timestep shift: t' = shift * t / (1 + (shift - 1) * t); shift > 1 moves toward noise.

    shift may be a tensor that broadcasts against t (one shift per clip in training)."""
    if not isinstance(shift, torch.Tensor) and shift <= 0:  # a tensor's values are checked by its maker
        raise ValueError(f"shift must be positive, got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def sigma_schedule(steps: int, shift: float = 1.0, num_train_timesteps: int = 1000) -> torch.Tensor:
    """Noise levels (steps + 1,) from 1 down to 0, fp32.

    Identical to diffusers' FlowMatchEulerDiscreteScheduler(shift=shift).set_timesteps(steps)
    `.sigmas`: a linear ramp from 1 to the shifted smallest training sigma (1 / 1000),
    shifted, with a final 0.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    # As diffusers: the smallest training sigma is shifted in fp32, the ramp is built in fp64.
    sigma_min = time_shift(torch.tensor(1.0, dtype=torch.float32) / num_train_timesteps, shift)
    ramp = torch.linspace(num_train_timesteps, float(sigma_min) * num_train_timesteps, steps, dtype=torch.float64)
    sigmas = time_shift(ramp / num_train_timesteps, shift).to(torch.float32)
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def _frame_times(sigma: torch.Tensor, x: torch.Tensor, known_mask: torch.Tensor | None) -> torch.Tensor:
    """Per-frame times (B, T): sigma everywhere, 0 on known frames."""
    t = sigma.to(device=x.device, dtype=torch.float32).expand(x.shape[0], x.shape[2])
    return t if known_mask is None else t.masked_fill(known_mask, 0.0)


def _hold_known(x: torch.Tensor, x_known: torch.Tensor | None, known_mask: torch.Tensor | None) -> torch.Tensor:
    """Put the known frames' clean values back into x."""
    if known_mask is None:
        return x
    return torch.where(known_mask[:, None, :, None, None], x_known.to(x.dtype), x)


def _check_known(x, x_known, known_mask):
    if known_mask is None:
        return None
    known_mask = known_mask.to(device=x.device, dtype=torch.bool)
    if known_mask.shape != (x.shape[0], x.shape[2]):
        raise ValueError(f"known_mask must be (B, T) = {(x.shape[0], x.shape[2])}, got {tuple(known_mask.shape)}")
    if known_mask.any() and (x_known is None or x_known.shape != x.shape):
        raise ValueError(f"x_known must have the shape of x {tuple(x.shape)} where known_mask is given")
    return known_mask


@torch.no_grad()
def sample_euler(
    velocity_fn: VelocityFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    x_known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    callback: Callable[[int, int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Euler's method on the flow ODE dx/dt = v(x, t), from sigmas[0] to sigmas[-1].

    x (B, C, T, H, W) is the start at noise level sigmas[0] (pure noise for 1).
    callback(step, total, x) after each step.
    """
    known_mask = _check_known(x, x_known, known_mask)
    x = _hold_known(x, x_known, known_mask)
    total = len(sigmas) - 1
    for i in range(total):
        v = velocity_fn(x, _frame_times(sigmas[i], x, known_mask))
        x = _hold_known(x + (sigmas[i + 1] - sigmas[i]).to(x.dtype) * v.to(x.dtype), x_known, known_mask)
        if callback is not None:
            callback(i + 1, total, x)
    return x


@torch.no_grad()
def sample_heun(
    velocity_fn: VelocityFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    x_known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    callback: Callable[[int, int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, "Elucidating the Design Space", Alg. 1).

    An Euler step, then a correction with the average of the velocities at both ends;
    the last step (to sigma = 0) is plain Euler. Two model calls per step but the last.
    """
    known_mask = _check_known(x, x_known, known_mask)
    x = _hold_known(x, x_known, known_mask)
    total = len(sigmas) - 1
    for i in range(total):
        dt = (sigmas[i + 1] - sigmas[i]).to(x.dtype)
        v = velocity_fn(x, _frame_times(sigmas[i], x, known_mask)).to(x.dtype)
        x_euler = _hold_known(x + dt * v, x_known, known_mask)
        if sigmas[i + 1] > 0:
            v_next = velocity_fn(x_euler, _frame_times(sigmas[i + 1], x, known_mask)).to(x.dtype)
            x = _hold_known(x + dt * (v + v_next) / 2, x_known, known_mask)
        else:
            x = x_euler
        if callback is not None:
            callback(i + 1, total, x)
    return x


def _log_snr(sigma: float) -> float:
    """lambda = log(alpha / sigma) of the flow x_t = (1 - sigma) x0 + sigma eps; -inf at pure noise."""
    if sigma >= 1.0:
        return -math.inf
    return math.log((1.0 - sigma) / sigma)


@torch.no_grad()
def sample_dpmpp_2m(
    velocity_fn: VelocityFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    x_known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    callback: Callable[[int, int, torch.Tensor], None] | None = None,
    first_order_final: int = 2,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2) on the flow x = (1 - s) x0 + s e.

    One model call per step: the data prediction D_i = x - s_i v is extrapolated from the
    last two, D = D_i + (D_i - D_{i-1}) / (2 r) with r = h_{i-1} / h_i in log-SNR steps
    h = lambda_{i+1} - lambda_i, then x_{i+1} = (s_{i+1} / s_i) x + (1 - s_{i+1})(1 - e^-h) D.
    The first step (from pure noise, lambda = -inf) is first order (and so is the next, whose
    r is infinite), as in diffusers'
    DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", prediction_type="flow_prediction",
    final_sigmas_type="zero"), which it matches with first_order_final=1. The last
    `first_order_final` steps are first order: by default two, as the step into the schedule's
    smallest noise level (1e-3, shifted) jumps many times further in log-SNR than the step
    before, and extrapolating D that far overshoots; the last step lands on D itself.
    """
    known_mask = _check_known(x, x_known, known_mask)
    x = _hold_known(x, x_known, known_mask)
    total = len(sigmas) - 1
    x0_prev, h_prev = None, math.inf
    for i in range(total):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        v = velocity_fn(x, _frame_times(sigmas[i], x, known_mask)).to(x.dtype)
        x0 = x - s * v  # the data prediction D_i
        if s_next == 0:
            x = x0
        else:
            h = _log_snr(s_next) - _log_snr(s)
            d = x0
            if x0_prev is not None and math.isfinite(h_prev) and i < total - first_order_final:
                d = x0 + (x0 - x0_prev) * (h / (2 * h_prev))  # 1 / (2 r)
            x = (s_next / s) * x + ((1 - s_next) * -math.expm1(-h)) * d
            h_prev = h
        x = _hold_known(x, x_known, known_mask)
        x0_prev = x0
        if callback is not None:
            callback(i + 1, total, x)
    return x


def pad_text(texts: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[list, list]:
    """Zero-pad token states (b, L_i, D) and masks (b, L_i) to the longest L; padding is masked out."""
    length = max(t.shape[1] for t in texts)
    out_t, out_m = [], []
    for t, m in zip(texts, masks):
        extra = length - t.shape[1]
        out_t.append(torch.nn.functional.pad(t, (0, 0, 0, extra)))
        out_m.append(torch.nn.functional.pad(m.to(torch.bool), (0, extra), value=False))
    return out_t, out_m


def cfg_velocity(
    model,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    null_text: torch.Tensor,
    null_mask: torch.Tensor,
    guidance: float,
    min_sigma: float = 0.0,
) -> VelocityFn:
    """Classifier-free guidance (Ho & Salimans 2022): v = v_null + guidance * (v_text - v_null).

    text (B, L, D) / text_mask (B, L); null_text (1 or B, L0, D) is the empty-prompt
    embedding. Both passes run as one batch of 2B. guidance == 1 runs the text pass only.
    min_sigma: guidance only where the noise level (the largest per-frame t) is at least
    this; below it the text pass alone, half the work. This is the lower end of
    Kynkaanniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample and
    Distribution Quality in Diffusion Models": at low noise the layout is settled and
    guidance changes little.
    """
    B = text.shape[0]
    if guidance == 1.0:
        return lambda x, t: model(x, t, text, text_mask)
    null_text = null_text.to(text).expand(B, -1, -1)
    null_mask = null_mask.to(text_mask.device).expand(B, -1)
    padded, padded_masks = pad_text([text, null_text], [text_mask, null_mask])  # the text pass keeps `text`
    both_text = torch.cat(padded)  # (2B, L, D)
    both_mask = torch.cat(padded_masks)  # (2B, L)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if min_sigma > 0 and float(t.max()) < min_sigma:
            return model(x, t, text, text_mask)
        v_text, v_null = model(torch.cat([x, x]), torch.cat([t, t]), both_text, both_mask).chunk(2)
        return v_null + guidance * (v_text - v_null)

    return velocity
