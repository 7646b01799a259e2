import json

import pytest
import torch

from spacetime.dit import (PRESETS, DiT, DiTConfig, absolute_position_features, apply_rope, attention, forward_flops,
                           preset_table, rope_tables)
from spacetime.errors import WeightsError


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**overrides) -> DiTConfig:
    return DiTConfig.preset("tiny", in_channels=4, text_dim=12, **overrides)


def randomized(model: DiT) -> DiT:
    """Give the zero-initialised modulation and output random values, as after training."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "modulation" in name or "out_proj" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def inputs(B=2, C=4, T=3, H=6, W=8, L=5, text_dim=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, T, H, W, generator=gen)
    t = torch.rand(B, T, generator=gen)
    text = torch.randn(B, L, text_dim, generator=gen)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False
    return x, t, text, mask


@pytest.mark.parametrize("T,H,W", [(1, 4, 4), (1, 5, 7), (3, 6, 8), (2, 3, 3), (4, 1, 9), (5, 2, 2), (1, 16, 6)])
def test_shapes_for_many_grids_and_odd_sizes(T, H, W):
    model = randomized(DiT(tiny())).eval()
    x, t, text, mask = inputs(T=T, H=H, W=W)
    v = model(x, t, text, mask)
    assert v.shape == x.shape and v.dtype == x.dtype
    assert torch.isfinite(v).all() and v.abs().sum() > 0


def test_zero_initialised_model_predicts_zero():
    model = DiT(tiny())
    x, t, text, mask = inputs()
    assert model(x, t, text, mask).abs().max() == 0


def test_each_frame_is_modulated_by_its_own_t():
    model = randomized(DiT(tiny())).eval()
    x, t, text, mask = inputs(B=1, T=3)
    v = model(x, t, text, mask)
    t2 = t.clone()
    t2[0, 2] = 1 - t2[0, 2]
    v2 = model(x, t2, text, mask)
    # Frame 2 changes most (its tokens are modulated differently); the others only via attention.
    change = (v2 - v).abs().mean(dim=(0, 1, 3, 4))
    assert change[2] > 0 and change[2] > 3 * change[:2].max()


@pytest.mark.parametrize("bf16", [False, True])
def test_padding_tokens_of_text_are_ignored(bf16):
    model = randomized(DiT(tiny())).eval()
    x, t, text, mask = inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        v = model(x, t, text, mask)
        text2 = text.clone()
        text2[0, 3:] = 100.0  # padding of sample 0
        assert torch.allclose(model(x, t, text2, mask), v, atol=1e-6)
        text2[0, 0] = 100.0  # a real token
        assert not torch.allclose(model(x, t, text2, mask)[0], v[0], atol=1e-3)


def test_pooled_text_reaches_every_token_through_the_modulation():
    """With cross-attention cut off (its output projection zeroed), the prompt still changes the
    output through the pooled-text adaLN path, and only through its real tokens."""
    model = randomized(DiT(tiny())).eval()
    for block in model.blocks:
        torch.nn.init.zeros_(block.cross.out.weight)
        torch.nn.init.zeros_(block.cross.out.bias)
    x, t, text, mask = inputs()
    v = model(x, t, text, mask)
    other = text.clone()
    other[0, 3:] = 100.0  # padding: no change
    assert torch.allclose(model(x, t, other, mask), v, atol=1e-6)
    other[:, 0] += 1.0  # a real token: changes the pooled embedding
    assert not torch.allclose(model(x, t, other, mask), v, atol=1e-3)
    plain = DiT(tiny(pooled_text=False))
    assert plain.pooled_text_embed is None and plain.num_params() < model.num_params()


def test_prompt_with_no_tokens_gives_finite_output():
    model = randomized(DiT(tiny())).eval()
    x, t, text, mask = inputs()
    mask[1] = False
    assert torch.isfinite(model(x, t, text, mask)).all()


def test_rope_tables_follow_the_grid():
    cos, sin = rope_tables((2, 3, 4), (4, 2, 2), 10000.0, "cpu")
    assert cos.shape == (24, 8)
    # First token is position (0, 0, 0): no rotation; token 1 differs from token 0 only in w bands.
    assert torch.allclose(cos[0], torch.ones(8)) and torch.allclose(sin[0], torch.zeros(8))
    assert torch.equal(cos[1, :6], cos[0, :6]) and not torch.equal(cos[1, 6:], cos[0, 6:])


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = rope_tables((6, 5, 5), (4, 2, 2), 10000.0, "cpu")
    rope = (cos[:, None], sin[:, None])
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    qr = apply_rope(q.expand(1, 150, 1, 16), *rope)[0, :, 0]  # (N, d) rotated at every grid position
    kr = apply_rope(k.expand(1, 150, 1, 16), *rope)[0, :, 0]

    def at(t, h, w):
        return t * 25 + h * 5 + w

    # The same offset (1, 2, -1) at two places gives the same score; another offset does not.
    s1 = qr[at(0, 0, 1)] @ kr[at(1, 2, 0)]
    s2 = qr[at(3, 2, 4)] @ kr[at(4, 4, 3)]
    s3 = qr[at(3, 2, 4)] @ kr[at(4, 3, 3)]
    assert torch.allclose(s1, s2, atol=1e-4) and not torch.allclose(s1, s3, atol=1e-3)
    assert torch.allclose(qr.norm(dim=-1), q.norm().expand(150), atol=1e-4)  # rotations keep norms


def test_absolute_position_features_place_every_token():
    f = absolute_position_features((3, 4, 6), "cpu")  # (N, F), tokens in (t, h, w) order
    assert f.shape[0] == 72 and torch.isfinite(f).all()
    assert len({tuple(row.tolist()) for row in f.round(decimals=5)}) == 72  # no two places alike
    # A clip of one frame: frame 0 is both the first and the last; the same canvas place has the
    # same features whatever the clip's length.
    one, three = absolute_position_features((1, 4, 6), "cpu"), f.view(3, 24, -1)
    half = f.shape[1] // 2
    time_cols = [c for c in range(f.shape[1]) if c % half < 12]  # the first 2 * 6 angles of each half
    space_cols = [c for c in range(f.shape[1]) if c % half >= 12]
    assert torch.allclose(one[:, space_cols], three[2][:, space_cols])
    assert not torch.allclose(three[0][:, time_cols], three[2][:, time_cols])


def test_absolute_position_starts_as_the_model_without_it():
    from spacetime.train.tasks import with_overrides

    base = randomized(DiT(tiny())).eval()
    extended, fresh = with_overrides(base, {"absolute_position": True})
    assert fresh == ["position_embed.bias", "position_embed.weight"]
    x, t, text, mask = inputs()
    assert torch.equal(extended.eval()(x, t, text, mask), base(x, t, text, mask))
    with torch.no_grad():  # trained, it makes a token's output depend on where it is
        extended.position_embed.weight.normal_(generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(extended(x, t, text, mask), base(x, t, text, mask), atol=1e-3)
    assert forward_flops(extended.config, 96, 5) > forward_flops(base.config, 96, 5)


def test_widened_text_input_starts_as_the_model_and_reads_the_new_features_once_trained():
    base = randomized(DiT(tiny())).eval()
    wide = base.widen_text_input(20).eval()
    assert wide.config.text_dim == 20 and wide.text_embed[0].weight.shape[1] == 20
    x, t, text, mask = inputs()
    extra = torch.randn(*text.shape[:2], 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(wide(x, t, torch.cat([text, extra], -1), mask), base(x, t, text, mask))
    with torch.no_grad():  # weight on the new features: now they change the output
        wide.text_embed[0].weight[:, 12:].normal_(generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(wide(x, t, torch.cat([text, extra], -1), mask), base(x, t, text, mask), atol=1e-3)
    with pytest.raises(ValueError, match="narrower"):
        base.widen_text_input(8)


def test_same_seed_same_model_and_output():
    x, t, text, mask = inputs()
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = randomized(DiT(tiny())).eval()
        outs.append(model(x, t, text, mask))
    assert torch.equal(outs[0], outs[1])


def test_bf16_autocast_close_to_fp32():
    model = randomized(DiT(tiny())).eval()
    x, t, text, mask = inputs()
    ref = model(x, t, text, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x, t, text, mask)
    assert low.dtype == torch.float32  # the output follows the input, not the compute dtype
    rel = (low - ref).norm() / ref.norm()
    assert 0 < rel < 0.02, rel  # 0.005 measured


def test_bf16_weights_run_and_follow_the_input_dtype():
    model = randomized(DiT(tiny())).eval()
    x, t, text, mask = inputs()
    ref = model(x, t, text, mask)
    low = model.to(torch.bfloat16)(x.bfloat16(), t, text, mask)
    assert low.dtype == torch.bfloat16 and (low.float() - ref).norm() / ref.norm() < 0.02


def test_blocked_bf16_attention_matches_sdpa_forward_and_backward():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 1100, 16, generator=gen, requires_grad=True) for _ in range(3))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # fp32
    low = [x.detach().bfloat16().requires_grad_() for x in (q, k, v)]
    out = attention(*low)  # 1100 queries in blocks of 953
    assert out.dtype == torch.bfloat16 and (out.float() - ref).norm() / ref.norm() < 0.01
    # Stored as (B, N, heads, d), so the caller merges the heads with a view, not a copy.
    assert out.transpose(1, 2).is_contiguous()
    grad = torch.randn(ref.shape, generator=gen)
    ref_grads = torch.autograd.grad(ref, (q, k, v), grad)
    low_grads = torch.autograd.grad(out, low, grad.bfloat16())
    for g, r in zip(low_grads, ref_grads):
        assert (g.float() - r).norm() / r.norm() < 0.02
    # With a key padding mask (cross-attention to text).
    mask = torch.ones(1, 1, 1, 1100, dtype=torch.bool)
    mask[..., 700:] = False
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = attention(*low, mask)
    assert (out.float() - ref).norm() / ref.norm() < 0.01


def test_activation_checkpointing_gives_same_gradients():
    model = randomized(DiT(tiny()))
    x, t, text, mask = inputs()
    model(x, t, text, mask).square().mean().backward()
    ref = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_activation_checkpointing(True)
    model(x, t, text, mask).square().mean().backward()
    for g, r in zip((p.grad for p in model.parameters()), ref):
        assert torch.allclose(g, r, atol=1e-6)


def test_save_load_round_trip_is_strict(tmp_path):
    model = randomized(DiT(tiny()))
    model.save_pretrained(tmp_path / "dit")
    assert json.loads((tmp_path / "dit" / "config.json").read_text())["patch_size"] == [1, 2, 2]
    loaded = DiT.from_pretrained(tmp_path / "dit")
    assert loaded.config == model.config
    x, t, text, mask = inputs()
    assert torch.equal(loaded(x, t, text, mask), model.eval()(x, t, text, mask))
    # A folder whose config does not match its weights is refused, naming the keys.
    config = json.loads((tmp_path / "dit" / "config.json").read_text())
    config["depth"] = 3
    (tmp_path / "dit" / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="missing keys"):
        DiT.from_pretrained(tmp_path / "dit")


def test_gelu_form_is_saved_and_old_folders_keep_tanh(tmp_path):
    """New models use the exact GELU; a config.json without the field (written before it existed) loads
    with the tanh form those models were trained with; the two forms give different outputs."""
    model = randomized(DiT(tiny()))
    assert model.config.gelu_approximate == "none"
    model.save_pretrained(tmp_path / "dit")
    assert DiT.from_pretrained(tmp_path / "dit").config.gelu_approximate == "none"
    config = json.loads((tmp_path / "dit" / "config.json").read_text())
    del config["gelu_approximate"]
    (tmp_path / "dit" / "config.json").write_text(json.dumps(config))
    old = DiT.from_pretrained(tmp_path / "dit")
    assert old.config.gelu_approximate == "tanh"
    x, t, text, mask = inputs()
    assert not torch.equal(old(x, t, text, mask), model.eval()(x, t, text, mask))
    with pytest.raises(ValueError, match="gelu_approximate must be"):
        DiTConfig(gelu_approximate="fast")


def test_bad_inputs_raise_clear_errors():
    model = DiT(tiny())
    x, t, text, mask = inputs()
    with pytest.raises(ValueError, match="per latent frame"):
        model(x, t[:, :1], text, mask)
    with pytest.raises(ValueError, match="x must be"):
        model(x[:, :2], t, text, mask)
    with pytest.raises(ValueError, match="text must be"):
        model(x, t, text[..., :5], mask)
    with pytest.raises(ValueError, match="unknown DiT preset"):
        DiTConfig.preset("XXL")
    with pytest.raises(ValueError, match="divisible"):
        DiTConfig(dim=100, heads=3)


def test_presets_grow_and_flops_count_attention():
    sizes = [DiT(DiTConfig.preset(n)).num_params() for n in ("tiny", "S")]
    assert sizes[0] < sizes[1]
    assert set(PRESETS) >= {"tiny", "S", "B", "L", "XL"}
    assert "XL" in preset_table() and "M" in preset_table().splitlines()[-1]
    config = DiTConfig()
    # Doubling tokens more than doubles FLOPs (attention is quadratic).
    assert forward_flops(config, 2000, 64) > 2 * forward_flops(config, 1000, 64)


def test_forward_flops_match_torch_flop_counter():
    """The analytic count behind every MFU figure (training bar, dit_vs_peer) against PyTorch's own.
    In bf16 on the CPU attention is plain matmuls, which the counter sees (it skips the fused kernel)."""
    from torch.utils.flop_counter import FlopCounterMode

    config = tiny(dim=64, heads=4)
    model = DiT(config).to(torch.bfloat16)
    x, t, text, mask = inputs(B=2, C=config.in_channels, T=3, H=8, W=8, L=5, text_dim=config.text_dim)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x.bfloat16(), t.bfloat16(), text.bfloat16(), mask)
    assert {str(op) for op in counter.get_flop_counts()["Global"]} >= {"aten.addmm", "aten.bmm"}
    pt, ph, pw = config.patch_size
    tokens = -(-3 // pt) * -(-8 // ph) * -(-8 // pw)
    assert forward_flops(config, tokens, 5, batch=2) == pytest.approx(counter.get_total_flops(), rel=0.05)
