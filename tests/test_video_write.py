"""Writing: round trips, browser playability (H.264, yuv420p, moov first), odd sizes, atomicity."""

import av
import numpy as np
import pytest
from PIL import Image

from spacetime.errors import SpacetimeWarning, VideoWriteError
from spacetime.video import VideoWriter, probe, read_video, write_video


def pattern(n, width, height):
    x = np.linspace(0, 255, width)[None, None, :]
    y = np.linspace(0, 255, height)[None, :, None]
    t = np.arange(n)[:, None, None]
    frames = np.stack(np.broadcast_arrays((x + 16 * t) % 256, y + 0 * x + 0 * t, (x * 0.3 + y * 0.7) + 0 * t), -1)
    return frames.astype(np.uint8)


def top_level_atoms(path):
    """Names of the top-level boxes of an ISO-BMFF (MP4/MOV) file, in file order."""
    data, names, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        names.append(data[offset + 4:offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if size < 8:
            break
        offset += size
    return names


def test_mp4_is_browser_playable_and_round_trips(tmp_path):
    frames = pattern(12, 64, 48)
    path = write_video(tmp_path / "out.mp4", frames, 24)
    assert path == tmp_path / "out.mp4"
    atoms = top_level_atoms(path)
    assert "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")  # faststart
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.profile in ("High", "Main", "Constrained Baseline", "Baseline")
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 48, 12, 24.0)
    clip = read_video(path)
    assert clip.frames.shape == frames.shape
    assert np.abs(clip.frames.astype(int) - frames).mean() < 3  # CRF 18: close to the input
    np.testing.assert_allclose(clip.timestamps, np.arange(12) / 24)


def test_ntsc_rate_is_kept(tmp_path):
    path = write_video(tmp_path / "ntsc.mp4", pattern(6, 32, 32), 30000 / 1001)
    assert probe(path).fps == pytest.approx(30000 / 1001, rel=1e-6)


def test_odd_size_mp4_is_padded_with_a_warning(tmp_path):
    frames = pattern(3, 33, 17)
    with pytest.warns(SpacetimeWarning, match="33x17 is padded to 34x18"):
        path = write_video(tmp_path / "odd.mp4", frames, 10)
    clip = read_video(path)
    assert clip.frames.shape == (3, 18, 34, 3)
    assert np.abs(clip.frames[:, :17, :33].astype(int) - frames).mean() < 8
    # the added column/row repeat the edge, no black border
    assert np.abs(clip.frames[:, :17, 33].astype(int) - frames[:, :, 32]).mean() < 10


@pytest.mark.parametrize("suffix,codec", [(".webm", "vp9"), (".gif", "gif")])
def test_webm_and_gif_keep_the_exact_size(tmp_path, suffix, codec):
    frames = pattern(5, 33, 17)
    path = write_video(tmp_path / f"odd{suffix}", frames, 10)
    info = probe(path)
    assert (info.width, info.height, info.codec) == (33, 17, codec)
    clip = read_video(path)
    assert clip.frames.shape == (5, 17, 33, 3)
    assert np.abs(clip.frames.astype(int) - frames).mean() < 12
    np.testing.assert_allclose(clip.timestamps, np.arange(5) / 10, atol=1e-3)


def test_gif_delays_keep_the_total_length(tmp_path):
    path = write_video(tmp_path / "a.gif", pattern(24, 16, 16), 24)  # 4.17 cs per frame
    info = probe(path)
    assert info.duration == pytest.approx(1.0, abs=0.011) and info.fps == pytest.approx(24, rel=0.01)


def test_png_is_one_frame(tmp_path):
    frame = pattern(1, 21, 13)[0]
    path = write_video(tmp_path / "f.png", frame, 1)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), frame)  # lossless, exact size
    with pytest.raises(VideoWriteError, match="one frame"):
        write_video(tmp_path / "two.png", pattern(2, 21, 13), 1)
    assert not (tmp_path / "two.png").exists()


def test_streaming_writer_takes_chunks(tmp_path):
    frames = pattern(20, 48, 32)
    with VideoWriter(tmp_path / "s.mp4", 20) as writer:
        for start in range(0, 20, 7):
            writer.write(frames[start:start + 7])
        writer.write(frames[0])  # a single (H, W, 3) frame is a chunk of one
    assert writer.frames_written == 21
    assert probe(tmp_path / "s.mp4").frame_count == 21


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(target, 10) as writer:
            writer.write(pattern(5, 32, 32))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    # an existing file survives a failed rewrite untouched
    write_video(target, pattern(2, 32, 32), 10)
    before = target.read_bytes()
    with pytest.raises(VideoWriteError, match="frame size changed"):
        with VideoWriter(target, 10) as writer:
            writer.write(pattern(3, 32, 32))
            writer.write(pattern(3, 16, 16))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


def test_bad_requests_raise_one_line_errors(tmp_path):
    frames = pattern(2, 16, 16)
    cases = [
        (dict(path=tmp_path / "a.avi", frames=frames, fps=10), "cannot write '.avi'"),
        (dict(path=tmp_path / "a.mp4", frames=frames.astype(np.float32), fps=10), "uint8"),
        (dict(path=tmp_path / "a.mp4", frames=frames[..., :2], fps=10), "shape"),
        (dict(path=tmp_path / "a.mp4", frames=frames, fps=0), "fps"),
        (dict(path=tmp_path / "a.mp4", frames=frames[:0], fps=10), "no frames"),
    ]
    for kwargs, match in cases:
        with pytest.raises(VideoWriteError, match=match) as error:
            write_video(**kwargs)
        assert "\n" not in str(error.value)
    write_video(tmp_path / "exists.mp4", frames, 10)
    with pytest.raises(VideoWriteError, match="already exists"):
        write_video(tmp_path / "exists.mp4", frames, 10, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.mp4"]  # no temporary files left


def test_round_trip_of_real_footage(testdata):
    clip = read_video(testdata / "flipping_a_pancake.mkv", max_frames=16)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = write_video(Path(folder) / "pancake.mp4", clip.frames, clip.fps)
        back = read_video(path)
    assert back.frames.shape == clip.frames.shape
    psnr = 10 * np.log10(255**2 / np.mean((back.frames.astype(float) - clip.frames) ** 2))
    assert psnr > 35, psnr


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_saturated_colours_round_trip(tmp_path, suffix):
    """The writer converts with BT.709 and tags it; the reader honours the tag (601/709 mix-ups show here)."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [200, 150, 100]], np.uint8)
    frames = np.repeat(np.repeat(colours[:, None, None, :], 32, 1), 32, 2).reshape(1, -1, 32, 3).repeat(2, 0)
    back = read_video(write_video(tmp_path / f"c{suffix}", frames, 10)).frames
    centres = back[0, 16::32, 16].astype(int)
    assert np.abs(centres - colours).max() <= 3, centres
    with av.open(str(tmp_path / f"c{suffix}")) as container:
        assert container.streams.video[0].codec_context.colorspace == 1  # BT.709 tagged
