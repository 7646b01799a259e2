"""`spacetime world render|export|eval` from the command line."""

import json

import pytest

from spacetime.cli import main
from spacetime.video import probe


def test_render_prompt_writes_clip_and_scene(tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    rc = main(["world", "render", "a small blue square bounces on a white background", "-o", str(out),
               "--size", "64x48", "--frames", "6", "--fps", "12"])
    assert rc == 0
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (64, 48, 6)
    scene = json.loads((tmp_path / "clip.json").read_text())
    assert scene["background"] == "white" and scene["objects"][0]["motion"] == "bounce"
    assert '"bounce"' in capsys.readouterr().out
    # the scene file renders again
    rc = main(["world", "render", "--scene", str(tmp_path / "clip.json"), "-o", str(tmp_path / "still.png"),
               "--frames", "1"])
    assert rc == 0 and (tmp_path / "still.png").is_file()


def test_render_unknown_words_is_one_line_error(tmp_path, capsys):
    rc = main(["world", "render", "a purple dragon flies", "-o", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and "'dragon'" in err and "shapes" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.mp4").exists()


def test_export_command(tmp_path):
    rc = main(["world", "export", str(tmp_path / "d"), "--clips", "2", "--size", "32x32", "--frames", "4",
               "--seed", "1"])
    assert rc == 0
    lines = (tmp_path / "d" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 2 and (tmp_path / "d" / json.loads(lines[0])["path"]).is_file()


@pytest.mark.parametrize("argv", [["world", "--help"], ["world", "render", "--help"], ["world", "export", "--help"],
                                  ["world", "eval", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "usage" in capsys.readouterr().out
