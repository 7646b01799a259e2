"""Proof that the DiT and the rectified-flow objective learn: tiny models, seconds on a CPU."""

import pytest
import torch

from spacetime import flow
from spacetime.dit import DiT, DiTConfig

C, T, H, W, TEXT_DIM = 4, 3, 4, 4, 8


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model() -> DiT:
    return DiT(DiTConfig.preset("tiny", in_channels=C, text_dim=TEXT_DIM))


def clips(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, C, T, H, W, generator=torch.Generator().manual_seed(seed))


def train(model, x0, text, text_mask, steps, known_mask=None, lr=3e-3, **loss_kwargs) -> list[float]:
    """Adam on the flow loss, cycling through the given clips; returns the losses."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for step in range(steps):
        mask = known_mask if known_mask is not None else torch.zeros(x0.shape[0], T, dtype=torch.bool)
        loss, _ = flow.training_loss(model, x0, text, text_mask, known_mask=mask, generator=gen, **loss_kwargs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def text_of(n: int, seed: int = 1):
    return torch.randn(n, 2, TEXT_DIM, generator=torch.Generator().manual_seed(seed)), torch.ones(n, 2, dtype=torch.bool)


def test_overfits_one_clip():
    model = tiny_model()
    x0 = clips(1)
    text, mask = text_of(1)
    losses = train(model, x0.expand(8, -1, -1, -1, -1), text.expand(8, -1, -1), mask.expand(8, -1), steps=300)
    first, last = sum(losses[:10]) / 10, sum(losses[-20:]) / 20
    assert first > 1.5 and last < 0.1 * first, (first, last)
    # Sampling from noise now lands on the memorised clip.
    sample = flow.sample_euler(
        lambda x, t: model(x, t, text, mask), torch.randn(1, C, T, H, W), flow.sigma_schedule(20, 1.0)
    )
    assert (sample - x0).pow(2).mean() < 0.1 * x0.pow(2).mean()


def test_first_frame_given_reproduces_the_rest_of_a_memorised_clip():
    model = tiny_model()
    x0 = clips(2, seed=3)  # two clips, the same (empty) prompt: only the first frame tells them apart
    text, mask = torch.zeros(2, 1, TEXT_DIM), torch.ones(2, 1, dtype=torch.bool)
    known = torch.tensor([[True, False, False]] * 2)
    reps = 4
    train(
        model, x0.repeat(reps, 1, 1, 1, 1), text.repeat(reps, 1, 1), mask.repeat(reps, 1), steps=200,
        known_mask=known.repeat(reps, 1),
    )
    sample = flow.sample_euler(
        lambda x, t: model(x, t, text, mask), torch.randn(2, C, T, H, W, generator=torch.Generator().manual_seed(9)),
        flow.sigma_schedule(20, 1.0), x_known=x0, known_mask=known,
    )
    assert torch.equal(sample[:, :, 0], x0[:, :, 0])
    err_right = (sample[:, :, 1:] - x0[:, :, 1:]).pow(2).mean(dim=(1, 2, 3, 4))
    err_swapped = (sample[:, :, 1:] - x0.flip(0)[:, :, 1:]).pow(2).mean(dim=(1, 2, 3, 4))
    assert (err_right < 0.2).all() and (err_right < 0.2 * err_swapped).all(), (err_right, err_swapped)


def test_conditional_and_unconditional_differ_after_text_dropout():
    model = tiny_model()
    x0 = clips(2, seed=5)
    text, mask = text_of(2, seed=6)
    null, null_mask = torch.zeros(1, 1, TEXT_DIM), torch.ones(1, 1, dtype=torch.bool)
    reps = 4
    train(
        model, x0.repeat(reps, 1, 1, 1, 1), text.repeat(reps, 1, 1), mask.repeat(reps, 1), steps=300,
        text_drop=0.3, null_text=null, null_mask=null_mask,
    )
    x = torch.randn(2, C, T, H, W, generator=torch.Generator().manual_seed(7))
    t = torch.full((2, T), 0.7)
    with torch.no_grad():
        v_text = model(x, t, text, mask)
        v_null = model(x, t, null.expand(2, -1, -1), null_mask.expand(2, -1))
    assert (v_text - v_null).norm() > 0.1 * v_null.norm()  # about 0.3 measured; 0 if text were ignored
    # Guided sampling from the same noise follows each prompt to its own clip.
    velocity = flow.cfg_velocity(model, text, mask, null, null_mask, guidance=2.0)
    same_noise = torch.randn(1, C, T, H, W, generator=torch.Generator().manual_seed(8)).expand(2, -1, -1, -1, -1)
    sample = flow.sample_heun(velocity, same_noise, flow.sigma_schedule(12, 1.0))
    err_right = (sample - x0).pow(2).mean(dim=(1, 2, 3, 4))
    err_swapped = (sample - x0.flip(0)).pow(2).mean(dim=(1, 2, 3, 4))
    assert (err_right < 0.5 * err_swapped).all(), (err_right, err_swapped)
