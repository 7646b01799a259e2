import pytest
import torch

from spacetime import flow


def test_noise_interpolates_per_frame():
    x0, eps = torch.randn(2, 3, 4, 5, 5), torch.randn(2, 3, 4, 5, 5)
    t = torch.tensor([[0.0, 0.25, 1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    x_t = flow.noise(x0, eps, t)
    assert torch.equal(x_t[:, :, 0], x0[:, :, 0]) and torch.equal(x_t[1], x0[1])
    assert torch.allclose(x_t[0, :, 1], 0.75 * x0[0, :, 1] + 0.25 * eps[0, :, 1])
    assert torch.allclose(x_t[0, :, 2], eps[0, :, 2])
    with pytest.raises(ValueError):
        flow.noise(x0, eps, t[:, :2])


def test_frame_correlated_noise_shares_a_component_between_frames():
    """PYoCo's mixed noise: unit variance per element, correlation rho between any two frames."""
    shape = (64, 4, 3, 8, 8)
    assert torch.equal(flow.frame_correlated_noise(shape, 0.0, torch.Generator().manual_seed(5)),
                       torch.randn(shape, generator=torch.Generator().manual_seed(5)))  # rho 0: old seeds hold

    def corr(eps, i, j):  # between latent frames i and j over batch, channels and space
        return float(torch.corrcoef(torch.stack([eps[:, :, i].flatten(), eps[:, :, j].flatten()]))[0, 1])

    eps = flow.frame_correlated_noise(shape, 0.6, torch.Generator().manual_seed(5))
    assert abs(float(eps.var()) - 1) < 0.03 and abs(corr(eps, 0, 2) - 0.6) < 0.03
    assert abs(corr(flow.frame_correlated_noise(shape, 0.0, torch.Generator().manual_seed(6)), 0, 2)) < 0.03
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        flow.frame_correlated_noise(shape, 1.0)


def test_shift_grows_with_tokens():
    shifts = [flow.shift_for_tokens(n) for n in (16, 256, 1024, 4096, 16384, 10**6)]
    assert shifts == sorted(shifts) and shifts[0] == 1.0 and shifts[-1] == 6.0
    assert shifts[2] == pytest.approx(2.0)  # sqrt(1024 / 256)


def test_train_t_is_logit_normal_shifted_and_shared_by_frames():
    gen = torch.Generator().manual_seed(0)
    t = flow.sample_train_t(4000, 3, generator=gen)
    assert t.shape == (4000, 3) and torch.equal(t[:, 0], t[:, 2])
    assert 0 < t.min() and t.max() < 1 and abs(float(t.median()) - 0.5) < 0.03
    t_shifted = flow.sample_train_t(4000, 3, generator=torch.Generator().manual_seed(0), shift=3.0)
    assert torch.allclose(t_shifted, flow.time_shift(t, 3.0)) and t_shifted.mean() > t.mean() + 0.1
    per_clip = torch.tensor([1.0, 3.0]).repeat(2000)  # one shift per clip
    t_each = flow.sample_train_t(4000, 3, generator=torch.Generator().manual_seed(0), shift=per_clip)
    assert torch.allclose(t_each[::2], t[::2]) and torch.allclose(t_each[1::2], t_shifted[1::2])
    with pytest.raises(ValueError, match="per-clip shift"):
        flow.sample_train_t(4, 3, shift=torch.tensor([1.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("kind", flow.MASK_KINDS)
def test_known_masks_of_each_kind(kind):
    gen = torch.Generator().manual_seed(0)
    mask = flow.random_known_mask(200, 6, generator=gen, probs={kind: 1.0})
    assert mask.shape == (200, 6) and (~mask).any(dim=1).all()  # always something to generate
    counts = mask.sum(dim=1)
    if kind == "none":
        assert counts.sum() == 0
        return
    assert (counts >= 1).all()
    single = {"first_frame": 0, "last_frame": 5, "middle_frame": 3}
    if kind in single:  # exactly one latent frame: the motion is the text's to tell
        assert (counts == 1).all() and mask[:, single[kind]].all()
        return
    for row in mask.tolist():
        flips = sum(a != b for a, b in zip(row, row[1:]))
        if kind == "first":
            assert row[0] and flips == 1
        elif kind == "last":
            assert row[-1] and flips == 1
        elif kind == "both_ends":
            assert row[0] and row[-1] and flips == 2
        elif kind == "middle":
            assert not row[0] and not row[-1] and flips == 2
    assert len(set(counts.tolist())) > 2  # span lengths vary


def test_default_masks_mix_kinds_and_single_frames_stay_unconditioned():
    mask = flow.random_known_mask(1000, 5, generator=torch.Generator().manual_seed(0))
    none_share = float((~mask.any(dim=1)).float().mean())
    assert 0.4 < none_share < 0.6
    assert mask[:, 0].any() and mask[:, -1].any()
    assert not flow.random_known_mask(10, 1).any()
    with pytest.raises(ValueError):
        flow.random_known_mask(2, 4, probs={"sideways": 1.0})


class Oracle(torch.nn.Module):
    """Knows x0: returns the exact velocity (x_t - x0) / t on noisy frames and garbage on clean ones."""

    def __init__(self, x0):
        super().__init__()
        self.x0, self.seen = x0, []

    def forward(self, x, t, text, mask):
        self.seen.append((x.clone(), t.clone(), text.clone(), mask.clone()))
        tt = t[:, None, :, None, None]
        v = (x - self.x0[:, :, : x.shape[2]]) / tt.clamp_min(1e-6)
        return torch.where(tt > 0, v, torch.full_like(v, 1e3))


def test_loss_covers_only_unknown_frames():
    x0 = torch.randn(3, 4, 5, 4, 4)
    known = torch.tensor([[True, False, False, False, False], [False] * 5, [True, True, False, False, True]])
    model = Oracle(x0)
    text, tmask = torch.randn(3, 2, 8), torch.ones(3, 2, dtype=torch.bool)
    loss, stats = flow.training_loss(model, x0, text, tmask, known_mask=known, generator=torch.Generator().manual_seed(0))
    assert loss < 1e-6 and stats["known_frac"] == pytest.approx(4 / 15) and stats["frames"] == 5
    # a batch made images trains its first latent frame alone, and says so (the trainer counts tokens by it)
    _, image_stats = flow.training_loss(model, x0, text, tmask, image_prob=1.0, generator=torch.Generator().manual_seed(0))
    assert image_stats["frames"] == 1 and model.seen[-1][0].shape[2] == 1
    x_t, t, _, _ = model.seen[0]
    assert (t[known] == 0).all() and (t[~known] > 0).all()
    assert torch.equal(x_t[:, :, 0][known[:, 0]], x0[:, :, 0][known[:, 0]])
    # The same oracle that is wrong on unknown frames is penalised.
    loss_bad, _ = flow.training_loss(lambda *a: model(*a) + 1, x0, text, tmask, known_mask=known)
    assert loss_bad == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="nothing to learn"):
        flow.training_loss(model, x0, text, tmask, known_mask=torch.ones(3, 5, dtype=torch.bool))


def test_object_weights_count_the_cells_unlike_their_background_more():
    x0 = torch.zeros(2, 4, 3, 8, 8)
    x0[:, :, :, 2, 5] = 3.0  # one "object" cell per frame on a plain background
    w = flow.object_weights(x0, strength=1.0)  # (B, T, H, W)
    assert w.shape == (2, 3, 8, 8) and torch.allclose(w.mean(dim=(2, 3)), torch.ones(2, 3))
    assert (w[:, :, 2, 5] > 10 * w[:, :, 0, 0]).all()

    # An oracle that errs only on the object cell: the weighted loss counts that error for more;
    # on a frame with no object every weight is 1 and the loss is the plain one.
    text, tmask = torch.randn(2, 2, 8), torch.ones(2, 2, dtype=torch.bool)
    bump = torch.zeros_like(x0)
    bump[:, :, :, 2, 5] = 1.0
    wrong = lambda *a: Oracle(x0)(*a) + bump  # noqa: E731
    none = torch.zeros(2, 3, dtype=torch.bool)
    plain, _ = flow.training_loss(wrong, x0, text, tmask, known_mask=none, generator=torch.Generator().manual_seed(0))
    weighted, _ = flow.training_loss(wrong, x0, text, tmask, known_mask=none, generator=torch.Generator().manual_seed(0),
                                     object_weight=1.0)
    assert plain == pytest.approx(1 / 64, rel=1e-3) and weighted > 10 * plain
    flat = torch.zeros_like(x0)
    args = dict(known_mask=none, object_weight=1.0)
    a, _ = flow.training_loss(lambda *a: Oracle(flat)(*a) + bump, flat, text, tmask,
                              generator=torch.Generator().manual_seed(0), **args)
    assert a == pytest.approx(1 / 64, rel=1e-3)


def test_object_weights_with_an_estimate_count_objects_drawn_where_there_are_none():
    x0 = torch.zeros(1, 4, 2, 8, 8)
    x0[:, :, :, 2, 5] = 3.0  # the object
    estimate = x0.clone()
    estimate[:, :, :, 6, 1] = 3.0  # a false object the model drew
    alone, drawn = flow.object_weights(x0, 1.0), flow.object_weights(x0, 1.0, estimate)
    assert torch.allclose(drawn.mean(dim=(2, 3)), torch.ones(1, 2))
    assert (alone[:, :, 6, 1] < 1).all()  # from the target alone the false object is background
    assert torch.allclose(drawn[:, :, 6, 1], drawn[:, :, 2, 5]) and (drawn[:, :, 6, 1] > 10 * drawn[:, :, 0, 0]).all()
    assert torch.equal(flow.object_weights(x0, 1.0, x0), alone)  # a right estimate changes nothing
    with pytest.raises(ValueError, match="estimate must have x0's shape"):
        flow.object_weights(x0, 1.0, estimate[:, :, :1])

    # In the loss the estimate is x_t - t v: a model that draws the false object pays more for it
    text, tmask = torch.randn(1, 2, 8), torch.ones(1, 2, dtype=torch.bool)
    none = torch.zeros(1, 2, dtype=torch.bool)
    bump = torch.zeros_like(x0)
    bump[:, :, :, 6, 1] = -3.0  # velocity e - x0 off by -3 there: the estimate x_t - t v gains +3 t
    wrong = lambda *a: Oracle(x0)(*a) + bump  # noqa: E731
    losses = [flow.training_loss(wrong, x0, text, tmask, known_mask=none, generator=torch.Generator().manual_seed(0),
                                 object_weight=1.0, object_weight_drawn=drawn)[0] for drawn in (False, True)]
    assert losses[1] > 3 * losses[0]


def _losses_of_errors(x0, errors: dict, weight_name: str) -> dict:
    """training_loss of the oracle velocity plus each named error, at weight_name 0 and 2; no frame given."""
    text, tmask = torch.randn(x0.shape[0], 2, 8), torch.ones(x0.shape[0], 2, dtype=torch.bool)
    none = torch.zeros(x0.shape[0], x0.shape[2], dtype=torch.bool)
    losses = {}
    for name, bump in errors.items():
        for w in (0.0, 2.0):
            wrong = lambda *a, bump=bump: Oracle(x0)(*a) + bump  # noqa: E731
            losses[name, w], _ = flow.training_loss(wrong, x0, text, tmask, known_mask=none, **{weight_name: w},
                                                    generator=torch.Generator().manual_seed(0))
    return losses


def test_motion_weight_counts_errors_that_change_between_frames():
    x0 = torch.zeros(2, 4, 3, 8, 8)
    steady, flicker = torch.zeros_like(x0), torch.zeros_like(x0)
    steady[:, :, :, 2, 5] = 1.0  # the same error in every frame: no change to penalise
    flicker[:, :, 1, 2, 5] = 3 ** 0.5  # as much error in all, but in the middle frame alone
    losses = _losses_of_errors(x0, {"steady": steady, "flicker": flicker}, "motion_weight")
    assert losses["steady", 0.0] == pytest.approx(1 / 64, rel=1e-3)
    assert losses["flicker", 0.0] == pytest.approx(1 / 64, rel=1e-3)
    assert losses["steady", 2.0] == pytest.approx(1 / 64, rel=1e-3)
    # both pairs change by the cell's whole error (3 per channel): 2 x 0.5 x 3 / 64 on top
    assert losses["flicker", 2.0] == pytest.approx(1 / 64 + 3 / 64, rel=1e-3)
    # a pair with a given frame is not judged: the given frame's velocity is never used
    first = torch.tensor([[False, True, False]] * 2)
    text, tmask = torch.randn(2, 2, 8), torch.ones(2, 2, dtype=torch.bool)
    wrong = lambda *a: Oracle(x0)(*a) + flicker  # noqa: E731
    given, _ = flow.training_loss(wrong, x0, text, tmask, known_mask=first, motion_weight=2.0,
                                  generator=torch.Generator().manual_seed(0))
    assert given == pytest.approx(0.0, abs=1e-6)


def test_edge_weight_counts_errors_that_change_from_cell_to_cell():
    x0 = torch.zeros(2, 4, 1, 8, 8)
    flat, spot = torch.full_like(x0, 1 / 8), torch.zeros_like(x0)
    spot[:, :, :, 2, 5] = 1.0  # as much error as the flat one, all in one cell
    losses = _losses_of_errors(x0, {"flat": flat, "spot": spot}, "edge_weight")
    for name in ("flat", "spot"):
        assert losses[name, 0.0] == pytest.approx(1 / 64, rel=1e-3)
    assert losses["flat", 2.0] == pytest.approx(1 / 64, rel=1e-3)  # no change from cell to cell
    # the spot differs from two neighbours in height and two in width, of 7 x 8 pairs each way
    assert losses["spot", 2.0] == pytest.approx(1 / 64 + 2 * 0.5 * 0.5 * (2 / 56 + 2 / 56), rel=1e-3)


def test_text_dropout_uses_the_null_embedding_and_image_share_uses_one_frame():
    x0 = torch.randn(4, 2, 3, 4, 4)
    model = Oracle(x0)
    text, tmask = torch.randn(4, 3, 8), torch.ones(4, 3, dtype=torch.bool)
    null, null_mask = torch.zeros(1, 2, 8), torch.tensor([[True, False]])
    flow.training_loss(model, x0, text, tmask, text_drop=1.0, null_text=null, null_mask=null_mask)
    _, _, seen_text, seen_mask = model.seen[-1]
    assert (seen_text == 0).all() and seen_mask.tolist() == [[True, False, False]] * 4
    flow.training_loss(model, x0, text, tmask, text_drop=1.0)  # no null text: the mask is cleared
    assert not model.seen[-1][3].any()
    flow.training_loss(model, x0, text, tmask, image_prob=1.0)
    assert model.seen[-1][0].shape[2] == 1


def test_sigma_schedule_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    for steps in (1, 4, 20, 50):
        for shift in (1.0, 3.0, 5.0):
            scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
            scheduler.set_timesteps(steps)
            ours = flow.sigma_schedule(steps, shift)
            assert ours.shape == (steps + 1,) and ours[0] == 1 and ours[-1] == 0
            assert torch.allclose(ours, scheduler.sigmas, atol=1e-6, rtol=0), (steps, shift)


def gaussian_velocity(scale):
    """Exact velocity when x0 ~ N(0, scale^2): its ODE maps noise z to scale * z (a curved path)."""

    def v(x, t):
        t = t[:, None, :, None, None]
        var = (1 - t) ** 2 * scale**2 + t**2
        return (t - (1 - t) * scale**2) / var * x

    return v


def test_heun_is_more_accurate_than_euler():
    z = torch.randn(2, 1, 3, 4, 4)
    sigmas = flow.sigma_schedule(8, shift=1.0)
    target = 0.2 * z
    err_euler = (flow.sample_euler(gaussian_velocity(0.2), z, sigmas) - target).abs().max()
    err_heun = (flow.sample_heun(gaussian_velocity(0.2), z, sigmas) - target).abs().max()
    assert err_heun < err_euler / 4 and err_heun < 0.05, (err_heun, err_euler)


def test_dpmpp_2m_is_as_accurate_as_heun_for_as_many_model_calls():
    z = torch.randn(2, 1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    sigmas = flow.sigma_schedule(15, 3.0)  # 15 calls; Heun: 8 steps, 15 calls
    err_heun = (flow.sample_heun(gaussian_velocity(1.0), z, flow.sigma_schedule(8, 3.0)) - z).abs().max()
    err_2m = (flow.sample_dpmpp_2m(gaussian_velocity(1.0), z, sigmas) - z).abs().max()
    err_euler = (flow.sample_euler(gaussian_velocity(1.0), z, sigmas) - z).abs().max()
    assert err_2m < err_euler / 4 and err_2m < err_heun, (err_2m, err_heun, err_euler)


@pytest.mark.parametrize("steps, shift", [(6, 1.0), (10, 3.0), (20, 5.0)])
def test_dpmpp_2m_matches_diffusers(steps, shift):
    diffusers = pytest.importorskip("diffusers")
    scheduler = diffusers.DPMSolverMultistepScheduler(
        algorithm_type="dpmsolver++", solver_order=2, prediction_type="flow_prediction", use_flow_sigmas=True,
        flow_shift=shift, final_sigmas_type="zero",
    )
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.float()
    velocity = gaussian_velocity(0.3)
    x = torch.randn(1, 2, 2, 3, 3, generator=torch.Generator().manual_seed(steps))
    theirs = x.clone()
    for i, timestep in enumerate(scheduler.timesteps):
        v = velocity(theirs, sigmas[i].expand(1, 2))
        theirs = scheduler.step(v, timestep, theirs).prev_sample
    ours = flow.sample_dpmpp_2m(velocity, x, sigmas, first_order_final=1)  # diffusers' lower_order_final
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    pure_noise = flow.sample_dpmpp_2m(velocity, x, flow.sigma_schedule(steps, shift))  # from sigma 1: no inf or nan
    assert torch.isfinite(pure_noise).all()


@pytest.mark.parametrize("sampler", [flow.sample_euler, flow.sample_heun, flow.sample_dpmpp_2m])
def test_samplers_hold_known_frames(sampler):
    x0 = torch.randn(2, 3, 4, 4, 4)
    known = torch.tensor([[True, False, False, True], [False, False, False, False]])
    calls = []

    def velocity(x, t):
        calls.append(1)
        assert (t[known] == 0).all() and (t[~known] > 0).all()
        assert torch.equal(x[:, :, 0][known[:, 0]], x0[:, :, 0][known[:, 0]])
        return Oracle(x0)(x, t, torch.zeros(1), torch.zeros(1))

    steps = []
    out = sampler(
        velocity, torch.randn_like(x0), flow.sigma_schedule(5, 3.0), x_known=x0, known_mask=known,
        callback=lambda i, n, x: steps.append((i, n)),
    )
    assert torch.allclose(out, x0, atol=1e-4)  # straight paths: every sampler lands on x0
    assert steps[-1] == (5, 5) and len(calls) == (9 if sampler is flow.sample_heun else 5)


def test_cfg_batches_both_passes():
    calls = []

    def model(x, t, text, mask):
        calls.append(x.shape[0])
        return x * 0 + mask.sum(dim=1).float()[:, None, None, None, None]  # velocity = number of real tokens

    text, tmask = torch.randn(2, 4, 8), torch.tensor([[True] * 4, [True, True, False, False]])
    null, null_mask = torch.zeros(1, 2, 8), torch.tensor([[True, True]])
    v = flow.cfg_velocity(model, text, tmask, null, null_mask, guidance=3.0)(torch.zeros(2, 1, 2, 2, 2), torch.ones(2, 2))
    assert calls == [4]
    assert torch.allclose(v[0], torch.full_like(v[0], 2 + 3 * (4 - 2))) and torch.allclose(v[1], torch.full_like(v[1], 2.0))
    flow.cfg_velocity(model, text, tmask, null, null_mask, guidance=1.0)(torch.zeros(2, 1, 2, 2, 2), torch.ones(2, 2))
    assert calls[-1] == 2


def test_cfg_min_sigma_guides_only_at_high_noise():
    """Below min_sigma (the largest per-frame t) one text pass of batch B; at or above it, the guided pair."""
    calls = []

    def model(x, t, text, mask):
        calls.append(x.shape[0])
        return x * 0 + mask.sum(dim=1).float()[:, None, None, None, None]

    text, tmask = torch.randn(1, 4, 8), torch.ones(1, 4, dtype=torch.bool)
    null, null_mask = torch.zeros(1, 2, 8), torch.ones(1, 2, dtype=torch.bool)
    velocity = flow.cfg_velocity(model, text, tmask, null, null_mask, guidance=3.0, min_sigma=0.3)
    x = torch.zeros(1, 1, 3, 2, 2)
    high = velocity(x, torch.tensor([[0.0, 0.5, 0.5]]))  # a known frame at 0 does not count
    low = velocity(x, torch.tensor([[0.0, 0.2, 0.2]]))
    assert calls == [2, 1]
    assert torch.allclose(high, torch.full_like(high, 2 + 3 * (4 - 2))) and torch.allclose(low, torch.full_like(low, 4.0))
