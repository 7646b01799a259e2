"""`spacetime probe`: JSON out, one error line and a non-zero exit for bad files."""

import json
import subprocess
import sys

from spacetime.cli import main


def test_probe_prints_json(testdata, capsys):
    assert main(["probe", str(testdata / "video_90.mov")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["width"], info["height"], info["rotation"], info["frame_count"]) == (320, 568, 90, 3)
    assert info["codec"] == "h264" and info["fps"] == 30.0 and info["is_image"] is False


def test_probe_decode_counts_good_frames_of_a_corrupt_file(testdata, capsys):
    assert main(["probe", "--decode", str(testdata / "corrupted.mp4")]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["frame_count"] == 50 and info["decoded_frames"] == 28


def test_probe_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes.mp4").write_text("not a video\n")
    assert main(["probe", str(tmp_path / "notes.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spacetime: error: ") and "notes.mp4" in err and err.count("\n") == 1


def test_probe_in_a_subprocess_has_no_ffmpeg_log_noise(testdata):
    result = subprocess.run(
        [sys.executable, "-m", "spacetime", "probe", "--decode", str(testdata / "corrupted.mp4")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(result.stderr.splitlines()) == 1 and "after 28 good frames" in result.stderr
    assert json.loads(result.stdout)["decoded_frames"] == 28
