"""The generation commands end to end on a tiny random model folder."""

import numpy as np
import pytest

from spacetime.cli import build_parser, main
from spacetime.cli.generate import COMMANDS, default_output
from spacetime.conditioning import parse_pin
from spacetime.errors import RequestError, VideoReadError
from spacetime.model_folder import write_tiny_model_folder
from spacetime.sizes import parse_size, resolve_size, size_from_aspect


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    return str(write_tiny_model_folder(tmp_path_factory.mktemp("tiny_model")))


@pytest.fixture
def run(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def run(*argv):
        code = main([*argv, "--model", model, "--quiet"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def frames_of(path):
    from spacetime.video import read_video

    return read_video(path).frames


def info(path):
    from spacetime.video import probe

    i = probe(path)
    return i.frame_count, i.width, i.height, i.fps


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))


def write_clip(path, n, seed=0, w=64, h=64):
    from spacetime.video import write_video

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (1, h // 8, w // 8, 3)).repeat(8, 1).repeat(8, 2)
    frames = np.stack([np.roll(base[0], k, axis=1) for k in range(n)]).astype(np.uint8)
    return write_video(path, frames, 8)


# ---- arguments -------------------------------------------------------------------------------------------


def test_every_command_has_examples_in_help(capsys):
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and f"spacetime {name}" in text and "--seed" in text


def test_size_and_aspect_parsing():
    assert parse_size("320x192") == (320, 192)
    assert size_from_aspect("16:9", 144) == (256, 144)
    assert size_from_aspect("9:16", 144) == (144, 256)
    assert size_from_aspect("1:1", 100) == (100, 100)
    with pytest.raises(RequestError, match="WIDTHxHEIGHT"):
        parse_size("big")
    with pytest.raises(RequestError, match="A:B"):
        size_from_aspect("wide", 144)
    with pytest.raises(RequestError, match="short side must be a positive"):
        size_from_aspect("16:9", 0)


def test_resolve_size_shared_by_cli_and_app():
    defaults = dict(width=96, height=64)
    assert resolve_size(None, None, None, defaults) == (None, None)
    assert resolve_size("40x24", "16:9", 144, defaults) == (40, 24)  # a size text wins
    assert resolve_size("", "16:9", None, defaults) == (114, 64)  # the model's short side
    assert resolve_size(None, "1:2", 32, defaults) == (32, 64)
    with pytest.raises(RequestError) as e:
        resolve_size("12x", None, None, defaults)
    assert str(e.value) == "size '12x' must look like WIDTHxHEIGHT, e.g. 192x112"  # no flag named


def test_size_flag_conflicts_name_the_flags(run):
    code, _, err = run("generate", "x", "--size", "64x64", "--aspect", "1:1")
    assert code == 2 and "give --size or --aspect, not both" in err
    code, _, err = run("generate", "x", "--short-side", "64")
    assert code == 2 and "--short-side goes with --aspect" in err


def test_pin_parsing(tmp_path):
    img = tmp_path / "a@b.png"
    img.write_bytes(b"x")
    pin = parse_pin(f"{img}@2.5s")
    assert (pin.at, pin.unit, pin.strength, str(pin.frames)) == (2.5, "seconds", 1.0, str(img))
    pin = parse_pin(f"{img}@-1f:0.5")
    assert (pin.at, pin.unit, pin.strength) == (-1, "frames", 0.5)
    with pytest.raises(RequestError, match="FILE@TIME"):
        parse_pin(str(tmp_path / "plain.png"))
    with pytest.raises(RequestError, match="time 'soon' is not seconds"):
        parse_pin(f"{img}@soon")
    with pytest.raises(RequestError, match="strength 'x' is not a number"):
        parse_pin(f"{img}@1:x")
    with pytest.raises(RequestError, match=r"strength '2' must be in \(0, 1\]"):
        parse_pin(f"{img}@1:2")
    with pytest.raises(RequestError) as e:
        parse_pin(str(tmp_path / "plain.png"))
    assert "--" not in str(e.value)  # shared with the web UI: no CLI flag named
    with pytest.raises(VideoReadError, match="no such file"):
        parse_pin("missing.png@0")


def test_default_name_from_prompt_and_seed():
    assert str(default_output("A red ball, bouncing!", 7)) == "a-red-ball-bouncing-7.mp4"


# ---- commands --------------------------------------------------------------------------------------------


def test_generate_writes_what_was_asked(run, tmp_path):
    code, out, err = run("generate", "a red ball", "--size", "48x32", "--frames", "10", "--fps", "6", "--seed", "5")
    assert code == 0, err
    path = tmp_path / "a-red-ball-5.mp4"
    assert path.is_file() and str(path.name) in out and "seed: 5" in err
    assert info(path) == (10, 48, 32, 6)


def test_every_sampler_is_offered(run, tmp_path):
    from spacetime import cli
    from spacetime.model_folder import SAMPLERS

    assert cli.generate.SAMPLERS == SAMPLERS
    code, out, err = run("generate", "a red ball", "--frames", "5", "--steps", "3", "--sampler", "dpmpp_2m", "-o", "a.mp4")
    assert code == 0, err
    assert info(tmp_path / "a.mp4")[0] == 5


def test_same_seed_same_output_and_no_silent_overwrite(run, tmp_path):
    assert run("generate", "x", "--frames", "5", "--seed", "1", "-o", "a.mp4")[0] == 0
    assert run("generate", "x", "--frames", "5", "--seed", "1", "-o", "b.mp4")[0] == 0
    assert np.array_equal(frames_of(tmp_path / "a.mp4"), frames_of(tmp_path / "b.mp4"))
    before = (tmp_path / "a.mp4").read_bytes()
    code, _, err = run("generate", "y", "--frames", "5", "--seed", "2", "-o", "a.mp4")
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "a.mp4").read_bytes() == before
    assert run("generate", "y", "--frames", "5", "--seed", "2", "-o", "a.mp4", "--overwrite")[0] == 0


def test_aspect_seconds_and_gif(run, tmp_path):
    code, _, err = run("generate", "", "--aspect", "16:9", "--short-side", "36", "--seconds", "1", "--fps", "4",
                       "--seed", "0", "-o", "wide.gif")
    assert code == 0 and "empty prompt" in err
    frames = frames_of(tmp_path / "wide.gif")
    assert frames.shape == (4, 36, 64, 3)


def test_image_is_a_png(run, tmp_path):
    code, _, err = run("image", "a star", "--size", "40x24", "--seed", "0")
    assert code == 0, err
    assert info(tmp_path / "a-star-0.png")[1:3] == (40, 24)


def test_animate_extend_loop_connect_edit_keyframes(run, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", 9)
    other = write_clip(tmp_path / "other.mp4", 9, seed=1)
    first = tmp_path / "first.png"
    from spacetime.video import write_video

    write_video(first, frames_of(clip)[:1], 8)
    cases = [
        (["animate", str(first), "moves", "--frames", "9", "-o", "animate.mp4"], 9),
        (["extend", str(clip), "--after", "1", "--fps", "8", "-o", "extend.mp4"], 9 + 8),
        (["extend", str(clip), "--before", "0.5", "--fps", "8", "-o", "back.mp4"], 4 + 9),
        (["loop", "a ball circles", "--frames", "12", "-o", "loop.mp4"], 12),
        (["loop", str(clip), "--seconds", "1", "--fps", "8", "-o", "vloop.mp4"], 9 + 8),
        (["connect", str(clip), str(other), "--seconds", "1", "--fps", "8", "-o", "connect.mp4"], 9 + 8 + 9),
        (["connect", str(clip), str(other), "--seconds", "1", "--fps", "8", "--transition-only", "-o", "t.mp4"], 8),
        (["edit", str(clip), "blue", "--strength", "0.5", "--fps", "8", "-o", "edit.mp4"], 9),
        (["keyframes", "", "--at", f"{first}@0", "--at", f"{clip}@-9f", "--frames", "25", "-o", "keys.mp4"], 25),
    ]
    for argv, frames in cases:
        code, _, err = run(*argv, "--seed", "0")
        assert code == 0, (argv, err)
        assert info(tmp_path / argv[argv.index("-o") + 1])[:3] == (frames, 64, 64), argv
    # The given clip is written unchanged at the end of the keyframed video (up to the codec:
    # random 8x8 blocks re-encoded at CRF 18 stay above 30 dB; the generated frames are far below).
    keys = frames_of(tmp_path / "keys.mp4").astype(float)
    given = frames_of(clip).astype(float)
    assert psnr(keys[-9:], given) > 30 > psnr(keys[8:12], given[:4])


@pytest.mark.parametrize(
    "argv, match",
    [
        (["generate", "x", "--size", "8x8"], "minimum"),
        (["generate", "x", "--size", "100000x100000", "--frames", "1"], "needs about"),
        (["keyframes", "x", "--at", "{img}@5s", "--seconds", "1"], "outside"),
        (["keyframes", "x", "--at", "{clip}@0", "--frames", "5"], "longer than"),
        (["keyframes", "x", "--at", "{clip}@0", "--at", "{clip}@0.5", "--seconds", "3"], "overlap"),
        (["animate", "{bad}", "x"], "bad.mp4"),
        (["extend", "missing.mp4", "--after", "1"], "no such file"),
        (["generate", "x", "-o", "out.avi"], "unknown output type"),
        (["generate", "x", "-o", "still.png"], "PNG holds one frame"),
        (["edit", "{clip}", "x", "--strength", "2"], "strength"),
        (["generate", "x", "--shift", "0"], "shift must be positive"),
        (["generate", "x", "--guidance-min-sigma", "1.5"], "guidance_min_sigma must be in"),
    ],
)
def test_bad_requests_fail_in_one_line_without_output(run, tmp_path, argv, match):
    clip = write_clip(tmp_path / "clip.mp4", 9)
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    img = tmp_path / "img.png"
    from spacetime.video import write_video

    write_video(img, frames_of(clip)[:1], 8)
    argv = [a.format(clip=clip, bad=tmp_path / "bad.mp4", img=img) for a in argv]
    before = set(tmp_path.iterdir())
    code, out, err = run(*argv, "--seed", "0")
    assert code == 2 and match in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("spacetime: error")]) == 1
    assert set(tmp_path.iterdir()) == before


def test_missing_model_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["generate", "x", "--model", str(tmp_path / "nope"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_bad_size_is_refused_before_the_model_loads(tmp_path, capsys):
    # The model folder does not exist: a size error that comes first proves nothing was loaded.
    rc = main(["generate", "a ball", "--size", "12x", "--model", str(tmp_path / "no_model"), "-o", str(tmp_path / "o.mp4")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "12x" in err and "no_model" not in err
    assert not (tmp_path / "o.mp4").exists()
