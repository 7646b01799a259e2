"""The generation pipeline on a tiny random model: shapes, pins, loops, windows, files, refusals.

Random weights make meaningless pictures, but every mechanism checked here is exact:
known latent frames are the encoded pins, tied loop frames are identical, windows cover
the canvas once, files have the asked frame count, size and fps.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from spacetime.conditioning import Condition
from spacetime.errors import RequestError, SpacetimeWarning, WeightsError
from spacetime.long_video import plan_windows
from spacetime.model_folder import INDEX_NAME, read_model_index, write_tiny_model_folder
from spacetime.pipeline import Pipeline


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    return write_tiny_model_folder(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def pipe(tiny_folder):
    return Pipeline.from_pretrained(tiny_folder)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def pattern(n: int, w: int = 64, h: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth moving colour gradients: something a VAE (even random) passes on recognisably."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 6.28, 3)
    frames = [
        np.stack([np.sin(6 * x + 0.3 * t + phase[c]) * np.cos(4 * y + phase[c]) for c in range(3)], -1)
        for t in range(n)
    ]
    return ((np.stack(frames) + 1) * 127.5).round().astype(np.uint8)


def round_trip(pipe, frames):
    from spacetime.video import frames_to_tensor, tensor_to_frames

    with torch.no_grad():
        z = pipe.vae.encode_latents(frames_to_tensor(frames)[None])
        return z, tensor_to_frames(pipe.vae.decode_latents(z, num_frames=len(frames)))


# ---- model folders ----------------------------------------------------------------------------------


def test_model_folder_round_trip_and_errors(tiny_folder, tmp_path):
    index = read_model_index(tiny_folder)
    assert index["defaults"]["width"] == 64 and index["text_encoder"].endswith("text_encoder")
    with pytest.raises(WeightsError, match="does not exist"):
        read_model_index(tmp_path / "nope")
    with pytest.raises(WeightsError, match="model_index.json is missing"):
        read_model_index(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / INDEX_NAME).write_text(json.dumps({"format": "spacetime", "version": 1, "defaults": {"width": 64}}))
    with pytest.raises(WeightsError, match="lacks"):
        read_model_index(broken)
    bad_shift = {**index, "defaults": {**index["defaults"], "shift": -1}}
    (broken / INDEX_NAME).write_text(json.dumps(bad_shift))
    with pytest.raises(WeightsError, match="defaults.shift must be a positive number"):
        read_model_index(broken)
    bad_min_sigma = {**index, "defaults": {**index["defaults"], "guidance_min_sigma": 2}}
    (broken / INDEX_NAME).write_text(json.dumps(bad_min_sigma))
    with pytest.raises(WeightsError, match=r"defaults.guidance_min_sigma must be a number in \[0, 1\]"):
        read_model_index(broken)
    bad_rho = {**index, "defaults": {**index["defaults"], "noise_correlation": 1}}
    (broken / INDEX_NAME).write_text(json.dumps(bad_rho))
    with pytest.raises(WeightsError, match=r"defaults.noise_correlation must be a number in \[0, 1\)"):
        read_model_index(broken)
    assert index["text_word_embeddings"] is False  # absent from the index: the states alone
    (broken / INDEX_NAME).write_text(json.dumps({**index, "text_word_embeddings": "yes"}))
    with pytest.raises(WeightsError, match="text_word_embeddings must be true or false"):
        read_model_index(broken)
    mismatched = _copy_with_defaults(tiny_folder, tmp_path / "mismatched")
    index = json.loads((mismatched / INDEX_NAME).read_text())
    (mismatched / INDEX_NAME).write_text(json.dumps({**index, "text_word_embeddings": True}))
    with pytest.raises(WeightsError, match="the DiT reads text 32 wide but its text encoder gives 64"):
        Pipeline.from_pretrained(mismatched)


def _copy_with_defaults(folder, out, **defaults):
    """A copy of a model folder whose model_index.json has `defaults` changed."""
    import shutil

    shutil.copytree(folder, out)
    index = json.loads((out / INDEX_NAME).read_text())
    index["defaults"].update(defaults)
    (out / INDEX_NAME).write_text(json.dumps(index))
    return out


def test_shift_changes_the_schedule_and_the_model_default_is_used(tiny_folder, tmp_path):
    """A larger shift moves the sigmas toward noise; a model folder's `shift` is its default."""
    base = Pipeline.from_pretrained(tiny_folder)
    kw = dict(frames=5, seed=1, steps=3, progress=False)
    default, shifted = base.generate("x", **kw), base.generate("x", shift=4.0, **kw)
    assert not np.array_equal(default.frames, shifted.frames)
    folder = _copy_with_defaults(tiny_folder, tmp_path / "shifted", shift=4.0)
    assert np.array_equal(Pipeline.from_pretrained(folder).generate("x", **kw).frames, shifted.frames)


def test_guidance_min_sigma_default_from_the_model_and_checked(tiny_folder, tmp_path):
    """guidance_min_sigma = 1 leaves guidance only at the first noise level; a folder's default is used."""
    base = Pipeline.from_pretrained(tiny_folder)
    kw = dict(frames=5, seed=1, steps=3, guidance=4.0, progress=False)
    guided, cut = base.generate("x", **kw), base.generate("x", guidance_min_sigma=1.0, **kw)
    assert not np.array_equal(guided.frames, cut.frames)
    with pytest.raises(RequestError, match=r"guidance_min_sigma must be in \[0, 1\]"):
        base.generate("x", guidance_min_sigma=-0.1, **kw)
    folder = _copy_with_defaults(tiny_folder, tmp_path / "cut", guidance_min_sigma=1.0)
    assert np.array_equal(Pipeline.from_pretrained(folder).generate("x", **kw).frames, cut.frames)


def test_noise_correlation_of_the_model_shapes_the_starting_noise(tiny_folder, tmp_path):
    """A folder trained with correlated frame noise samples from the same prior; 0 is the old noise."""
    kw = dict(frames=9, seed=3, steps=1, guidance=1.0, progress=False)
    base = Pipeline.from_pretrained(tiny_folder).generate("x", **kw)
    zero = Pipeline.from_pretrained(_copy_with_defaults(tiny_folder, tmp_path / "zero", noise_correlation=0.0))
    assert torch.equal(zero.generate("x", **kw).latents, base.latents)
    folder = _copy_with_defaults(tiny_folder, tmp_path / "rho", noise_correlation=0.9)
    correlated = Pipeline.from_pretrained(folder).generate("x", **kw).latents  # (1, C, T, h, w)
    def frame_corr(z):
        return float(torch.corrcoef(z[0].transpose(0, 1).flatten(1))[0, 1:].mean())  # frame 0 vs the others
    assert frame_corr(correlated) > frame_corr(base.latents) + 0.3


def test_embedded_model_missing_says_what_to_do(monkeypatch, tmp_path):
    import spacetime.pipeline as pipeline

    monkeypatch.setattr(pipeline, "EMBEDDED", tmp_path / "embedded")
    with pytest.raises(WeightsError, match="embedded model is not in this build.*--model"):
        Pipeline.from_pretrained()


def test_lazy_import_from_package():
    import spacetime

    assert spacetime.Pipeline is Pipeline


# ---- text to video ------------------------------------------------------------------------------------


def test_generate_any_size_and_length(pipe):
    out = pipe.generate("a red ball", width=40, height=24, frames=10, fps=6, seed=3, progress=False)
    assert out.frames.shape == (10, 24, 40, 3) and out.frames.dtype == np.uint8
    assert out.fps == 6 and out.seed == 3


def test_same_seed_same_output(pipe):
    a = pipe.generate("a ball", frames=5, seed=11, progress=False).frames
    b = pipe.generate("a ball", frames=5, seed=11, progress=False).frames
    c = pipe.generate("a ball", frames=5, seed=12, progress=False).frames
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_image_is_one_frame(pipe):
    out = pipe.image("a star", width=48, height=32, seed=0, progress=False)
    assert out.frames.shape == (1, 32, 48, 3)
    with pytest.raises(RequestError, match="image limit"):
        pipe.image("a star", width=4096, height=64, progress=False)


def test_streams_to_file_with_frames_size_and_fps(pipe, tmp_path):
    from spacetime.video import probe

    path = tmp_path / "out.mp4"
    out = pipe.generate("a ball", frames=13, fps=8, seed=0, output=path, progress=False)
    info = probe(out.path)
    assert (info.frame_count, info.width, info.height, info.fps) == (13, 64, 64, 8)
    with pytest.raises(RequestError, match="exists"):
        pipe.generate("a ball", frames=5, seed=0, output=path, progress=False)


def test_empty_and_overlong_prompts_are_accepted_with_a_note(pipe):
    with pytest.warns(SpacetimeWarning, match="empty prompt"):
        pipe.generate("", frames=1, seed=0, progress=False)
    with pytest.warns(SpacetimeWarning, match="cut"):
        pipe.generate("über 長い " * 100, frames=1, seed=0, progress=False)


# ---- conditioned modes: the given frames are reproduced ---------------------------------------------


def test_animate_keeps_the_image_exactly_in_latent_space(pipe):
    image = pattern(1)
    z_image, recon = round_trip(pipe, image)
    out = pipe.animate(image[0], "moves", frames=9, seed=0, paste_known=False, progress=False)
    assert torch.equal(out.latents[:, :, :1], z_image)
    # The causal decoder's frame 0 depends on latent 0 alone: the reconstruction of the input.
    assert psnr(out.frames[0], recon[0]) > 40


def test_animate_pastes_the_given_frame(pipe):
    image = pattern(1)
    out = pipe.animate(image[0], "moves", frames=9, seed=0, progress=False)
    assert np.array_equal(out.frames[0], image[0])


def test_first_image_is_the_image_pass_then_image_to_video(pipe):
    two_pass = pipe.generate("a red ball", frames=9, seed=3, first_image=True, progress=False)
    image = pipe.image("a red ball", seed=3, progress=False)
    animated = pipe.animate(image.frames[0], "a red ball", frames=9, seed=3, progress=False)
    assert np.array_equal(two_pass.frames, animated.frames) and np.array_equal(two_pass.frames[0], image.frames[0])
    assert two_pass.timings["first_image"] > 0
    one_pass = pipe.generate("a red ball", frames=9, seed=3, progress=False)  # the tiny folder's default: off
    assert "first_image" not in one_pass.timings and not np.array_equal(one_pass.frames, two_pass.frames)
    with pytest.raises(RequestError, match="first_image"):
        pipe.generate("a red ball", frames=9, loop=True, first_image=True, progress=False)


def test_a_model_folder_can_make_first_image_its_default(tiny_folder, tmp_path):
    import shutil

    folder = Path(shutil.copytree(tiny_folder, tmp_path / "model"))
    index = json.loads((folder / INDEX_NAME).read_text())
    index["defaults"]["first_image"] = True
    (folder / INDEX_NAME).write_text(json.dumps(index))
    pipe = Pipeline.from_pretrained(folder)
    assert "first_image" in pipe.generate("a ball", frames=9, seed=0, progress=False).timings
    assert "first_image" not in pipe.animate(pattern(1)[0], "a ball", frames=9, seed=0, progress=False).timings
    long = pipe.generate("a ball", frames=4 * pipe.window + 5, seed=0, progress=False)  # several windows
    assert "first_image" not in long.timings
    index["defaults"]["first_image"] = "yes"
    (folder / INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(WeightsError, match="first_image"):
        Pipeline.from_pretrained(folder)


def test_keyframes_in_the_middle_are_known_latents(pipe):
    key = pattern(1, seed=1)
    clip = pattern(4, seed=2)
    conds = [Condition(key, at=6, unit="frames"), Condition(clip, at=13, unit="frames")]
    out = pipe.generate("", frames=21, seed=0, conditions=conds, paste_known=False, progress=False)
    # frame 6 -> latent 2 (frames 5..8); the 4-frame clip at 13..16 is exactly latent 4.
    held = np.repeat(key, 4, axis=0)  # the image held over its latent frame, one held context frame in front
    z_key, _ = round_trip(pipe, np.concatenate([key, held]))
    z_clip, recon = round_trip(pipe, np.concatenate([clip[:1], clip]))
    assert torch.equal(out.latents[:, :, 2:3], z_key[:, :, 1:])
    assert torch.equal(out.latents[:, :, 4:5], z_clip[:, :, 1:])
    assert not torch.equal(out.latents[:, :, 3], out.latents[:, :, 2])


def test_soft_pins_are_released(pipe):
    image = pattern(1)
    hard = pipe.animate(image[0], frames=9, seed=0, strength=1.0, paste_known=False, progress=False)
    soft = pipe.animate(image[0], frames=9, seed=0, strength=0.5, paste_known=False, progress=False)
    assert not torch.allclose(hard.latents[:, :, 0], soft.latents[:, :, 0])


def test_multistep_sampler_runs_each_stretch_of_held_frames_in_one_call(pipe, monkeypatch):
    from spacetime import flow

    image = pattern(1)
    runs, calls = [], []
    real = flow.sample_dpmpp_2m

    def spy(velocity_fn, x, sigmas, **kw):
        runs.append(len(sigmas) - 1)
        return real(lambda x, t: calls.append(1) or velocity_fn(x, t), x, sigmas, **kw)

    monkeypatch.setattr(flow, "sample_dpmpp_2m", spy)
    steps = []
    soft = pipe.animate(image[0], frames=9, seed=0, steps=6, strength=0.5, sampler="dpmpp_2m", paste_known=False,
                        progress=lambda stage, done, total: steps.append(done) if stage == "denoise" else None)
    assert runs == [3, 3] and len(calls) == 6  # held while sigma > 0.5, then released: one call a step
    assert steps == list(range(7)) and torch.isfinite(soft.latents).all()
    runs.clear()
    pipe.animate(image[0], frames=9, seed=0, steps=6, sampler="dpmpp_2m", progress=False)
    assert runs == [6]


def test_extend_forward_backward_keeps_the_original(pipe):
    video = pattern(9)
    fwd = pipe.extend(video, "more", after=1.0, fps=8, seed=0, progress=False)
    assert fwd.frames.shape == (9 + 8, 64, 64, 3)
    assert np.array_equal(fwd.frames[:9], video)
    both = pipe.extend(video, "more", before=0.5, after=0.5, fps=8, seed=0, progress=False)
    assert both.frames.shape[0] == 4 + 9 + 4
    assert np.array_equal(both.frames[4:13], video)


def test_extend_forward_context_is_reproduced(pipe):
    # Without pasting, the canvas's first frames are the decoded latents of the given tail.
    video = pattern(9)
    out = pipe.generate("", frames=17, fps=8, seed=0, conditions=[Condition(video, at=0, unit="frames")],
                        paste_known=False, progress=False)
    _, recon = round_trip(pipe, video)
    assert psnr(out.frames[:9], recon) > 40


def test_connect_holds_a_transition_and_b(pipe):
    a, b = pattern(9, seed=1), pattern(9, seed=2)
    out = pipe.connect(a, b, "", seconds=1.0, context_seconds=0.5, fps=8, seed=0, progress=False)
    assert out.frames.shape[0] == 9 + 8 + 9
    assert np.array_equal(out.frames[:9], a) and np.array_equal(out.frames[-9:], b)
    only = pipe.connect(a, b, "", seconds=1.0, context_seconds=0.5, fps=8, seed=0, transition_only=True,
                        progress=False)
    assert np.array_equal(only.frames, out.frames[9:17])


def test_edit_follows_the_input_more_at_low_strength(pipe):
    video = pattern(9)
    _, recon = round_trip(pipe, video)
    low = pipe.generate("blue", edit=video, edit_strength=0.1, seed=0, progress=False)
    high = pipe.generate("blue", edit=video, edit_strength=1.0, seed=0, progress=False)
    assert low.frames.shape == video.shape
    assert psnr(low.frames, recon) > psnr(high.frames, recon) + 3


# ---- loops ------------------------------------------------------------------------------------------------


def test_loop_closes(pipe):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 16 frames is a whole number of groups: no note
        out = pipe.generate("circles", frames=16, seed=0, loop=True, progress=False)
    assert out.frames.shape[0] == 16
    z = out.latents[0]  # (C, T' + tie, h, w): canvas latents 0..4, tied tail 5..6
    assert torch.equal(z[:, 5], z[:, 1]) and torch.equal(z[:, 6], z[:, 2])
    # Written latents are 1..4 and the tail follows latent 4: the step from the last written
    # latent back to the first is an ordinary step of the sequence, not a cut.
    steps = [(z[:, j + 1] - z[:, j]).norm() for j in range(1, 5)]
    wrap = (z[:, 1] - z[:, 4]).norm()
    assert torch.allclose(wrap, steps[-1])
    assert wrap <= 1.5 * torch.stack(steps[:-1]).median()


def test_loop_is_decoded_as_it_replays(tiny_folder):
    """The causal decoder draws a frame from the latents before it: the written loop is the lap
    that follows a lap of itself, so replaying it never shows the frames of the causal start."""
    from spacetime.video import tensor_to_frames

    pipe = Pipeline.from_pretrained(tiny_folder)
    torch.manual_seed(0)
    with torch.no_grad():  # the tiny VAE's temporal mixing starts at zero, as in training: give it some
        for name, p in pipe.vae.decoder.named_parameters():
            if "temporal" in name:
                p.normal_(0.0, 0.3)
    out = pipe.generate("circles", frames=16, seed=0, loop=True, progress=False)
    z = out.latents[:, :, :5]  # canvas latents: 0 (the causal start), then the loop's 1..4
    with torch.no_grad():
        laps = pipe.vae.decode_latents(torch.cat([z] + [z[:, :, 1:]] * 3, dim=2))  # 1 + 4 laps of 16 frames
    h, w = out.frames.shape[1:3]
    frames = tensor_to_frames(laps[0].float())[:, :h, :w].astype(np.int16)
    first_lap, third_lap = frames[1:17], frames[33:49]
    assert np.abs(out.frames - third_lap).max() <= 1  # what every replay shows
    assert np.abs(first_lap - third_lap).max() > 8  # the decoder's context matters, so the test can fail


def test_loop_of_a_video_ends_where_it_starts(pipe):
    video = pattern(9)
    out = pipe.loop_video(video, seconds=1.0, context_seconds=0.5, fps=8, seed=0, progress=False)
    assert out.frames.shape[0] == 9 + 8 and np.array_equal(out.frames[:9], video)


# ---- long video --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("total, window, context, anchor", [(5, 8, 2, True), (20, 8, 2, True), (21, 6, 1, False)])
def test_windows_cover_the_canvas_once(total, window, context, anchor):
    windows = plan_windows(total, window=window, context=context, anchor=anchor)
    new = [i for w in windows for i in w.new]
    assert new == list(range(total))
    assert all(len(w.frames) == min(window, total) for w in windows)
    for w in windows[1:]:
        assert set(w.frames) - set(w.new) >= ({0} if anchor else set())
        assert min(w.new) > 0 and all(i in w.frames for i in w.new)


def test_long_video_in_windows(pipe, monkeypatch):
    monkeypatch.setattr(pipe, "window", 4)
    monkeypatch.setattr(pipe, "context", 1)
    image = pattern(1)
    out = pipe.generate("", frames=41, seed=0, conditions=[Condition(image, at=0, unit="frames")],
                        paste_known=False, progress=False)  # 11 latent frames in 4 windows
    assert out.frames.shape[0] == 41
    z_image, _ = round_trip(pipe, image)
    assert torch.equal(out.latents[:, :, :1], z_image)
    short = pipe.generate("", frames=41, seed=0, conditions=[Condition(image, at=0, unit="frames")],
                          paste_known=False, progress=False)
    assert torch.equal(out.latents, short.latents)


# ---- progress ------------------------------------------------------------------------------------------------


def counts(calls, stage):
    return [(done, total) for s, done, total in calls if s == stage]


def test_progress_callback_counts_every_step_window_and_chunk(pipe, monkeypatch, capsys):
    monkeypatch.setattr(pipe, "window", 4)
    monkeypatch.setattr(pipe, "context", 1)
    calls = []
    # 21 frames = 6 latent frames; windows of 4 with 1 frame of context: 2 windows.
    out = pipe.generate("a ball", frames=21, steps=3, seed=0, progress=lambda *a: calls.append(a))
    assert {s for s, _, _ in calls} == {"denoise", "window", "decode"}
    assert counts(calls, "denoise") == [(k, 6) for k in range(7)]  # 3 steps x 2 windows, from 0 to the total
    assert counts(calls, "window") == [(0, 2), (1, 2), (2, 2)]
    decode = counts(calls, "decode")
    assert decode[0] == (0, 6) and decode[-1] == (6, 6) and len(decode) >= 3
    assert all(a[0] < b[0] for a, b in zip(decode, decode[1:]))
    # Each window is reported once its steps are done, and decoding follows denoising.
    stages = [(s, d) for s, d, _ in calls]
    assert stages.index(("window", 1)) == stages.index(("denoise", 3)) + 1
    assert stages.index(("decode", 0)) > stages.index(("window", 2))
    assert out.frames.shape[0] == 21
    assert "denoising" not in capsys.readouterr().err  # a callback replaces the bars
    pipe.generate("a ball", frames=5, steps=1, seed=0, progress=True)
    assert "denoising" in capsys.readouterr().err


def test_progress_reaches_every_capability(pipe):
    image, video = pattern(1), pattern(9)
    runs = {
        "image": lambda cb: pipe.image("x", seed=0, steps=1, progress=cb),
        "animate": lambda cb: pipe.animate(image[0], "x", frames=5, seed=0, steps=1, progress=cb),
        "extend": lambda cb: pipe.extend(video, "x", before=0.5, after=0.5, fps=8, seed=0, steps=1, progress=cb),
        "connect": lambda cb: pipe.connect(video, video, "x", seconds=0.5, fps=8, seed=0, steps=1, progress=cb),
        "loop_video": lambda cb: pipe.loop_video(video, "x", seconds=0.5, fps=8, seed=0, steps=1, progress=cb),
    }
    for name, run in runs.items():
        calls = []
        run(lambda *a: calls.append(a))
        passes = 2 if name == "extend" else 1  # extend both ways is two passes, each reported from 0
        for stage in ("denoise", "window", "decode"):
            ends = [done for done, total in counts(calls, stage) if done == total]
            assert len(ends) == passes, (name, stage, calls)


def test_progress_must_be_a_bool_or_a_callable(pipe):
    with pytest.raises(ValueError, match="progress must be"):
        pipe.generate("x", frames=1, progress="yes")


# ---- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(width=8, height=64), "minimum"),
        (dict(width=200_000, height=200_000, frames=1), "needs about .* GiB"),
        (dict(frames=5, conditions=[Condition(np.zeros((9, 64, 64, 3), np.uint8))]), "longer than"),
        (dict(frames=9, conditions=[Condition(np.zeros((1, 64, 64, 3), np.uint8), at=3.0)]), "outside"),
        (dict(frames=9, sampler="ddim"), "sampler"),
        (dict(seconds=-1), "positive"),
    ],
)
def test_impossible_requests_are_refused(pipe, kwargs, match):
    with pytest.raises(RequestError, match=match):
        pipe.generate("x", seed=0, progress=False, **kwargs)


def test_bad_input_file_is_a_read_error(pipe, tmp_path):
    from spacetime.errors import VideoReadError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoReadError):
        pipe.animate(bad, frames=5, progress=False)


def test_precision_defaults_to_native_bf16_and_an_explicit_choice_sticks(tiny_folder):
    from spacetime.pipeline import PRECISIONS, default_dtype

    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert default_dtype("cpu") == (torch.bfloat16 if native else torch.float32)
    fresh = Pipeline.from_pretrained(tiny_folder)
    assert fresh.dtype == default_dtype("cpu")
    fresh.to(dtype=PRECISIONS["fp32"]).to("cpu")  # moving later keeps the asked-for precision
    assert fresh.dtype == torch.float32
    video = fresh.generate("a red ball", width=32, height=32, frames=5, steps=2, seed=0, progress=False)
    assert video.frames.shape == (5, 32, 32, 3)
