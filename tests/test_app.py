"""The web UI's logic without a browser: upload checks, settings, requests, error lines, the Blocks.

The browser itself is exercised in tests/test_app_browser.py.
"""

import os

import numpy as np
import pytest
import torch

from spacetime.app import (
    MODES,
    AppLimits,
    Settings,
    check_settings,
    check_upload,
    group_values,
    page_progress,
    resolve_size,
    run_request,
    user_message,
)
from spacetime.errors import RequestError, SpacetimeError, SpacetimeWarning, VideoReadError
from spacetime.model_folder import write_tiny_model_folder

DEFAULTS = dict(width=64, height=64, fps=8, seconds=2, steps=4, guidance=3.0, sampler="euler")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from spacetime.pipeline import Pipeline

    return Pipeline.from_pretrained(write_tiny_model_folder(tmp_path_factory.mktemp("tiny_model")))


def clip(path, frames=8, fps=8, w=32, h=32, seed=0):
    from spacetime.video import write_video

    rng = np.random.default_rng(seed)
    return write_video(path, rng.integers(0, 255, (frames, h, w, 3), dtype=np.uint8), fps)


def settings(**kw):
    return Settings(**{**dict(width=None, height=None, seconds=None, fps=None, steps=2, guidance=None, seed=3), **kw})


# ---- uploads ----------------------------------------------------------------------------------------


def test_check_upload_accepts_a_video_and_an_image(tmp_path):
    info = check_upload(clip(tmp_path / "a.mp4", frames=16, fps=8), AppLimits())
    assert (info.width, info.height, info.frame_count) == (32, 32, 16)
    assert info.duration == pytest.approx(2.0)
    png = clip(tmp_path / "a.png", frames=1)
    assert check_upload(png, AppLimits()).is_image


def test_check_upload_refuses_by_content_size_and_duration(tmp_path):
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 10)
    with pytest.raises(VideoReadError) as e:
        check_upload(damaged, AppLimits(), what="video")
    message = str(e.value)
    assert "damaged.mp4" in message and str(tmp_path) not in message and "\n" not in message

    long_clip = clip(tmp_path / "long.mp4", frames=40, fps=8)  # 5 s
    with pytest.raises(RequestError, match=r"long.mp4 lasts 5.0 s, above the limit of 4 s"):
        check_upload(long_clip, AppLimits(max_upload_seconds=4))
    assert check_upload(long_clip, AppLimits(max_upload_seconds=6)).duration == pytest.approx(5.0)

    with pytest.raises(RequestError, match=r"above the limit of 0.0001 MB"):
        check_upload(long_clip, AppLimits(max_upload_mb=0.0001))
    with pytest.raises(RequestError, match="no file given"):
        check_upload(None, AppLimits())
    assert check_upload(None, AppLimits(), required=False) is None


# ---- settings --------------------------------------------------------------------------------------


def test_size_from_the_panel():
    limits = AppLimits(max_side=512)
    assert resolve_size("model default", 64, "", DEFAULTS, limits) == (None, None)
    assert resolve_size("16:9", 144, "", DEFAULTS, limits) == (256, 144)
    assert resolve_size("9:16", 144, "", DEFAULTS, limits) == (144, 256)
    assert resolve_size("16:9", 144, "96x48", DEFAULTS, limits) == (96, 48)  # the explicit size wins
    with pytest.raises(RequestError, match="above this server's limit of 512"):
        resolve_size("model default", 64, "1024x64", DEFAULTS, limits)
    with pytest.raises(RequestError) as e:
        resolve_size("model default", 64, "9x", DEFAULTS, limits)
    assert "--" not in str(e.value) and "size '9x' must look like WIDTHxHEIGHT" in str(e.value)  # no flags here
    with pytest.raises(RequestError, match="aspect ratio 'wide' must look like A:B"):
        resolve_size("wide", 64, "", DEFAULTS, limits)


def test_check_settings_limits_and_seed():
    limits = AppLimits(max_seconds=5, max_steps=10)
    kw = dict(aspect="model default", short_side=64, size_text="", fps=8, steps=4, guidance=3.0,
              defaults=DEFAULTS, limits=limits)
    s = check_settings(seconds=2, seed=7, **kw)
    assert (s.seconds, s.fps, s.steps, s.seed) == (2.0, 8.0, 4, 7)
    drawn = {check_settings(seconds=2, seed=-1, **kw).seed for _ in range(5)}
    assert len(drawn) > 1 and all(0 <= d < 2**31 for d in drawn)  # -1 draws a fresh seed, shown with the result
    with pytest.raises(RequestError, match=r"duration must be in \(0, 5\]"):
        check_settings(seconds=6, seed=1, **kw)
    with pytest.raises(RequestError, match=r"steps must be in \[1, 10\]"):
        check_settings(seconds=2, seed=1, **{**kw, "steps": 11})
    with pytest.raises(ValueError, match="max_seconds"):
        AppLimits(max_seconds=0)


def test_group_values():
    values = {"prompt": "p", "file_1": "b.mp4", "file_0": "a.mp4", "time_0": "0", "time_1": "-1f"}
    assert group_values(values) == {"prompt": "p", "files": ["a.mp4", "b.mp4"], "times": ["0", "-1f"]}


def test_user_message_is_one_line():
    assert user_message(RequestError("bad size\nsecond line")) == "bad size"
    assert user_message(MemoryError()).startswith("out of memory")
    line = user_message(KeyError("x"))
    assert line.startswith("internal error (KeyError") and "\n" not in line and "Traceback" not in line


# ---- requests on a tiny model ------------------------------------------------------------------------


def test_generate_writes_a_video_of_the_asked_length_with_its_seed(pipe, tmp_path):
    from spacetime.video import probe

    result = run_request(pipe, "generate", {"prompt": "a ball"}, settings(seconds=1.5, fps=8, seed=11), tmp_path,
                         AppLimits())
    info = probe(result.path)
    assert result.seed == 11 and result.path.parent == tmp_path
    assert (info.frame_count, info.fps, info.width) == (12, 8.0, 64)
    again = run_request(pipe, "generate", {"prompt": "a ball"}, settings(seconds=1.5, fps=8, seed=11), tmp_path,
                        AppLimits())
    other = run_request(pipe, "generate", {"prompt": "a ball"}, settings(seconds=1.5, fps=8, seed=12), tmp_path,
                        AppLimits())
    assert again.path != result.path
    # The shown seed reproduces the video (up to float summation order on a busy CPU); another seed does not.
    assert torch.allclose(again.latents, result.latents, atol=1e-4)
    assert not torch.allclose(other.latents, result.latents, atol=1e-2)


def test_page_progress_fills_the_bar_from_the_pipeline_callback():
    shown = []
    report = page_progress(lambda value, desc, unit: shown.append((value, desc)))
    for call in [("denoise", 0, 4), ("window", 0, 2), ("denoise", 2, 4), ("window", 1, 2), ("denoise", 4, 4),
                 ("window", 2, 2), ("decode", 0, 3), ("decode", 3, 3)]:
        report(*call)
    assert shown == [((0, 4), "denoising"), ((2, 4), "denoising window 1/2"), ((4, 4), "denoising window 2/2"),
                     ((0, 3), "decoding"), ((3, 3), "decoding")]


def test_run_request_reports_progress(pipe, tmp_path):
    calls = []
    run_request(pipe, "generate", {"prompt": "a ball"}, settings(seconds=0.5, fps=8, steps=2), tmp_path, AppLimits(),
                progress=lambda *a: calls.append(a))
    assert ("denoise", 2, 2) in calls and calls[-1][0] == "decode" and calls[-1][1] == calls[-1][2]


def test_every_mode_runs(pipe, tmp_path):
    from spacetime.video import probe

    video = clip(tmp_path / "in.mp4", frames=8, fps=8)
    image = clip(tmp_path / "in.png", frames=1)
    s = settings(seconds=1, fps=8)
    requests = {
        "image": {"prompt": "a star"},
        "animate": {"file": str(image), "prompt": "p", "strength": 1.0},
        "extend": {"file": str(video), "prompt": "p", "before": 0, "after": 1},
        "loop": {"file": None, "prompt": "circles"},
        "connect": {"files": [str(video), str(video)], "prompt": "p", "transition": 1, "transition_only": True},
        "edit": {"file": str(video), "prompt": "blue", "strength": 0.5},
        "keyframes": {"prompt": "p", "files": [str(image), str(image), None], "times": ["0", "-1f", ""]},
    }
    assert set(requests) | {"generate"} == set(MODES.values())
    frames = {mode: probe(run_request(pipe, mode, values, s, tmp_path, AppLimits()).path).frame_count
              for mode, values in requests.items()}
    assert frames["image"] == 1
    assert frames["extend"] == 16  # the 8 given frames and 1 s more
    assert frames["connect"] == 8  # the 1 s transition only
    assert frames["edit"] == frames["animate"] == frames["keyframes"] == 8


def test_bad_requests_are_one_line_user_errors(pipe, tmp_path):
    damaged = tmp_path / "broken.mp4"
    damaged.write_bytes(os.urandom(2000))
    limits = AppLimits(max_seconds=3)
    s = settings(seconds=1, fps=8)
    cases = [
        ("edit", {"file": str(damaged), "prompt": "x", "strength": 0.5}, "broken.mp4"),
        ("edit", {"file": None, "prompt": "x", "strength": 0.5}, "no file given"),
        ("extend", {"file": str(clip(tmp_path / "c.mp4")), "before": 2, "after": 2}, "above this server's 3 s"),
        ("keyframes", {"prompt": "", "files": [None, None], "times": ["0", ""]}, "at least one"),
        ("keyframes", {"prompt": "", "files": [str(clip(tmp_path / "k.png", frames=1))], "times": ["soon"]},
         "keyframe 1: time 'soon'"),
        ("connect", {"files": [None, None], "transition": 1}, "video A: no file given"),
        ("nonsense", {}, "unknown mode"),
    ]
    for mode, values, expected in cases:
        with pytest.raises(SpacetimeError) as e:
            run_request(pipe, mode, values, s, tmp_path, limits)
        assert expected in str(e.value) and "\n" not in str(e.value), (mode, str(e.value))
        assert str(tmp_path / "broken.mp4") not in str(e.value)


def test_build_app_configures_the_queue_and_api(pipe, tmp_path):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from spacetime.app import build_app

    demo = build_app(pipe, limits=AppLimits(queue_size=5), out_dir=tmp_path)
    assert demo.analytics_enabled is False
    assert demo._queue.max_size == 5
    api_names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert set(MODES.values()) <= api_names
    generators = [fn for fn in demo.fns.values() if fn.api_name in MODES.values()]
    assert {fn.concurrency_id for fn in generators} == {"generate"}  # one shared worker for every tab
    assert all(fn.concurrency_limit == 1 for fn in generators)



def test_upload_labels_show_the_limits(pipe, tmp_path):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from spacetime.app import build_app

    demo = build_app(pipe, limits=AppLimits(max_upload_mb=3, max_upload_seconds=7), out_dir=tmp_path)
    uploads = [block for block in demo.blocks.values() if isinstance(block, gr.File)]
    assert len(uploads) >= 7  # animate, extend, loop, connect x2, edit, keyframes
    assert all("max 3 MB and 7 s" in block.label for block in uploads)


# ---- the command ------------------------------------------------------------------------------------


def test_serve_refuses_a_taken_port_and_bad_flags_before_loading(capsys, tmp_path):
    import socket

    from spacetime.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--model", str(tmp_path / "missing")]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err
    assert main(["serve", "--max-seconds", "0"]) == 2
    assert "--max-seconds must be positive" in capsys.readouterr().err
    assert main(["serve", "--port", str(port), "--model", str(tmp_path / "missing")]) == 2  # the port is free now
    assert "model folder" in capsys.readouterr().err


def test_serve_help_has_examples(capsys):
    from spacetime.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "spacetime serve --model my_model/ --port 8080" in out and "--max-upload-mb" in out


def test_edit_re_renders_the_whole_input_up_to_the_limit(pipe, tmp_path):
    from spacetime.video import probe

    video = str(clip(tmp_path / "two_seconds.mp4", frames=16, fps=8))
    values = {"file": video, "prompt": "blue", "strength": 0.5}
    whole = run_request(pipe, "edit", values, settings(seconds=1, fps=8), tmp_path, AppLimits())
    assert probe(whole.path).frame_count == 16  # the Duration setting does not cut an edit
    with pytest.warns(SpacetimeWarning, match="only its first 1 s"):
        cut = run_request(pipe, "edit", values, settings(seconds=1, fps=8), tmp_path, AppLimits(max_seconds=1))
    assert probe(cut.path).frame_count == 8
