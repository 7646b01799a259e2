"""Reading and probing: every file in ../shared/testdata, synthetic edge cases, bad input."""

import struct
import warnings
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from spacetime.errors import SpacetimeWarning, VideoReadError
from spacetime.video import iter_chunks, iter_frames, probe, read_video

# file: (width, height as displayed, decoded frames, fps, rotation)
TESTDATA = {
    "video_0.mov": (568, 320, 3, 30.0, 0),
    "video_90.mov": (320, 568, 3, 30.0, 90),
    "video_180.mov": (568, 320, 3, 30.0, 180),
    "video_270.mov": (320, 568, 3, 30.0, 270),
    "unordered.mov": (50, 50, 4, 32.0, 0),
    "in.mp4": (320, 240, 209, 30000 / 1001, 0),
    "flipping_a_pancake.mkv": (426, 240, 310, 30.0, 0),
}


def pattern(n, width, height):
    """Frames with a left-right/top-bottom asymmetric picture that changes over time."""
    x = np.linspace(0, 255, width)[None, None, :]
    y = np.linspace(0, 255, height)[None, :, None]
    t = np.arange(n)[:, None, None]
    frames = np.stack(np.broadcast_arrays((x + 16 * t) % 256, y + 0 * x + 0 * t, (x * 0.3 + y * 0.7) + 0 * t), -1)
    return frames.astype(np.uint8)


def encode(path, frames, *, pix_fmt="yuv420p", codec="libx264", rate=24, pts=None, time_base=None,
           rotation=None, options=None, sample_aspect=None):
    """Write frames with PyAV directly (independent of spacetime's writer)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if sample_aspect is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(format=pix_fmt)
            frame.pts = i if pts is None else pts[i]
            if time_base is not None:
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# --- the shared test files ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TESTDATA))
def test_testdata_probe_and_read(testdata, name):
    width, height, count, fps, rotation = TESTDATA[name]
    info = probe(testdata / name)
    assert (info.width, info.height, info.rotation) == (width, height, rotation)
    assert info.frame_count == count and info.frame_count_exact
    assert info.fps == pytest.approx(fps, rel=1e-6)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and not info.is_image
    assert info.duration == pytest.approx(count / fps, abs=0.06)
    clip = read_video(testdata / name)
    assert clip.frames.shape == (count, height, width, 3) and clip.frames.dtype == np.uint8
    assert np.all(np.diff(clip.timestamps) > 0)
    assert clip.timestamps[0] == 0.0
    assert clip.fps == pytest.approx(fps)


def test_in_mp4_timestamps_follow_29_97(testdata):
    clip = read_video(testdata / "in.mp4")
    np.testing.assert_allclose(clip.timestamps, np.arange(209) * 1001 / 30000, atol=1e-6)


def test_pancake_frame_count_is_counted_without_header(testdata):
    assert av.open(str(testdata / "flipping_a_pancake.mkv")).streams.video[0].frames == 0  # the premise
    info = probe(testdata / "flipping_a_pancake.mkv")
    assert info.frame_count == 310 and info.frame_count_exact


def test_probe_estimates_when_counting_takes_too_long(testdata):
    info = probe(testdata / "flipping_a_pancake.mkv", count_budget_s=0.0)
    assert not info.frame_count_exact and abs(info.frame_count - 310) <= 2  # duration x fps


def test_unordered_comes_out_in_presentation_order(testdata):
    clip = read_video(testdata / "unordered.mov")
    np.testing.assert_allclose(clip.timestamps, np.arange(4) / 32.0)


def test_corrupted_gives_good_frames_and_a_warning(testdata):
    with pytest.warns(SpacetimeWarning, match=r"corrupted\.mp4: corrupt data .* after 28 good frames"):
        clip = read_video(testdata / "corrupted.mp4")
    assert clip.frames.shape == (28, 720, 1280, 3)
    np.testing.assert_allclose(clip.timestamps, np.arange(28) / 10.0, atol=1e-6)
    with pytest.raises(VideoReadError, match="corrupted.mp4: corrupt data"):
        read_video(testdata / "corrupted.mp4", strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the first 20 frames are intact: no warning
        assert len(read_video(testdata / "corrupted.mp4", max_frames=20)) == 20


# --- rotation, time selection, resampling --------------------------------------------------

@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_rotation_metadata_is_applied_as_a_player_does(tmp_path, clockwise):
    frames = pattern(2, 64, 32)
    # FFmpeg's display matrix angle is counter-clockwise: a player turning the picture
    # clockwise by `clockwise` degrees sees a matrix of -clockwise.
    path = encode(tmp_path / "r.mp4", frames, pix_fmt="yuv444p", rotation=-clockwise, options={"qp": "0"})
    info = probe(path)
    assert info.rotation == clockwise
    got = read_video(path).frames.astype(int)
    expected = np.rot90(frames, k=-clockwise // 90, axes=(1, 2)).astype(int)
    assert got.shape == expected.shape and (info.height, info.width) == expected.shape[1:3]
    assert np.abs(got - expected).mean() < 2


def test_anamorphic_video_is_shown_with_square_pixels(tmp_path):
    path = encode(tmp_path / "wide.mp4", pattern(2, 64, 48), sample_aspect=Fraction(2, 1))
    assert (probe(path).width, probe(path).height) == (128, 48)
    assert read_video(path).frames.shape == (2, 48, 128, 3)


def test_start_duration_match_the_full_read(testdata):
    full = read_video(testdata / "in.mp4")
    clip = read_video(testdata / "in.mp4", start=2.0, duration=1.0)
    first = int(np.searchsorted(full.timestamps, 2.0 - 1e-6))
    assert len(clip) == 30 and clip.timestamps[0] == pytest.approx(full.timestamps[first])
    np.testing.assert_array_equal(clip.frames, full.frames[first:first + 30])


def test_fps_resampling_picks_the_frame_at_or_before_each_time(testdata):
    full = read_video(testdata / "in.mp4")
    clip = read_video(testdata / "in.mp4", start=1.0, duration=2.0, fps=8)
    np.testing.assert_allclose(clip.timestamps, 1.0 + np.arange(16) / 8)
    for frame, t in zip(clip.frames, clip.timestamps):
        index = int(np.searchsorted(full.timestamps, t + 1e-6, side="right")) - 1
        np.testing.assert_array_equal(frame, full.frames[index])
    up = read_video(testdata / "video_0.mov", fps=60)  # 3 frames at 30 fps -> 6 at 60 fps
    assert len(up) == 6 and np.array_equal(up.frames[0], up.frames[1])


def test_variable_frame_rate_is_resampled_by_timestamp(tmp_path):
    colours = [0, 60, 120, 180, 240]
    frames = np.stack([np.full((16, 16, 3), c, np.uint8) for c in colours])
    pts_ms = [0, 100, 500, 550, 900]
    path = encode(tmp_path / "vfr.mkv", frames, pix_fmt="yuv444p", pts=pts_ms, time_base=Fraction(1, 1000),
                  options={"qp": "0"})
    clip = read_video(path)
    np.testing.assert_allclose(clip.timestamps, np.array(pts_ms) / 1000)
    resampled = read_video(path, fps=10)  # t = 0.0, 0.1, ..., 0.9
    got = [int(round(f.mean() / 60)) for f in resampled.frames]
    assert got == [0, 1, 1, 1, 1, 2, 3, 3, 3, 4]


def test_streaming_chunks_and_bounds(testdata):
    sizes = [len(c) for c in iter_chunks(testdata / "flipping_a_pancake.mkv", 64)]
    assert sizes == [64, 64, 64, 64, 54]
    assert [len(c) for c in iter_chunks(testdata / "in.mp4", 10, max_frames=25)] == [10, 10, 5]
    first = next(iter_frames(testdata / "in.mp4"))
    assert first[0].shape == (240, 320, 3) and first[1] == 0.0


def test_memory_guard_and_bad_spans(testdata):
    with pytest.raises(VideoReadError, match="iter_chunks"):
        read_video(testdata / "in.mp4", max_bytes=1_000_000)
    with pytest.raises(VideoReadError, match="shorter"):
        read_video(testdata / "in.mp4", start=60.0)
    for bad in [dict(start=-1.0), dict(duration=0.0), dict(fps=0), dict(max_frames=0)]:
        with pytest.raises(ValueError):
            read_video(testdata / "in.mp4", **bad)


# --- pixel formats, codecs, images ---------------------------------------------------------

@pytest.mark.parametrize("codec,pix_fmt,suffix", [
    ("libx264", "yuv420p10le", ".mp4"),   # 10-bit H.264
    ("libx265", "yuv420p10le", ".mkv"),   # 10-bit HEVC
    ("mpeg4", "yuv420p", ".avi"),          # MPEG-4 part 2 in AVI
    ("libvpx-vp9", "yuv420p", ".webm"),
    ("ffv1", "bgr0", ".mkv"),              # lossless RGB
])
def test_other_codecs_and_pixel_formats_become_8bit_rgb(tmp_path, codec, pix_fmt, suffix):
    frames = pattern(5, 64, 48)
    options = {"x265-params": "log-level=none"} if codec == "libx265" else {}
    path = encode(tmp_path / f"v{suffix}", frames, codec=codec, pix_fmt=pix_fmt, options=options)
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.pix_fmt) == (64, 48, 5, pix_fmt)
    clip = read_video(path)
    assert clip.frames.shape == (5, 48, 64, 3) and clip.frames.dtype == np.uint8
    assert np.abs(clip.frames.astype(int) - frames).mean() < 8  # the picture, not garbage


def test_still_images(tmp_path):
    picture = pattern(1, 40, 24)[0]
    for suffix in (".png", ".jpg", ".webp"):
        Image.fromarray(picture).save(tmp_path / f"i{suffix}")
        info = probe(tmp_path / f"i{suffix}")
        assert info.is_image and (info.width, info.height, info.frame_count, info.fps) == (40, 24, 1, None)
        clip = read_video(tmp_path / f"i{suffix}")
        assert clip.frames.shape == (1, 24, 40, 3) and np.abs(clip.frames[0].astype(int) - picture).mean() < 6
    # EXIF orientation 6: a player turns the stored picture 90 degrees clockwise
    image = Image.fromarray(picture)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "exif.jpg", exif=exif, quality=95)
    assert (probe(tmp_path / "exif.jpg").width, probe(tmp_path / "exif.jpg").rotation) == (24, 90)
    rotated = read_video(tmp_path / "exif.jpg").frames[0].astype(int)
    assert np.abs(rotated - np.rot90(picture, k=-1)).mean() < 6
    # PNG content under a video name is still read as the image
    Image.fromarray(picture).save(tmp_path / "image.mp4", format="PNG")
    np.testing.assert_array_equal(read_video(tmp_path / "image.mp4").frames[0], picture)
    # 16-bit grey is scaled, not clipped; alpha is composited over black
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "g16.png")
    assert read_video(tmp_path / "g16.png").frames.min() == 255
    transparent = np.dstack([np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4), np.uint8)])
    Image.fromarray(transparent).save(tmp_path / "a.png")
    assert read_video(tmp_path / "a.png").frames.max() == 0


def test_animated_webp_and_gif_keep_frame_times(tmp_path):
    frames = [Image.fromarray(f) for f in pattern(4, 32, 16)]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=200, loop=0)
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=200, loop=0)
    for name in ("a.webp", "a.gif"):
        info = probe(tmp_path / name)
        assert (info.frame_count, info.is_image) == (4, False) and info.fps == pytest.approx(5.0)
        clip = read_video(tmp_path / name)
        np.testing.assert_allclose(clip.timestamps, [0.0, 0.2, 0.4, 0.6])


# --- bad input: one line naming the file, never a crash -----------------------------------

def _bad_files(tmp_path, testdata):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    whole = (testdata / "in.mp4").read_bytes()  # moov atom at the end
    audio = tmp_path / "audio.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    files = {
        "empty.mp4": (b"", "empty file"),
        "text.mp4": (b"hello\n" * 200, "not a readable video"),
        "noise.bin": (np.random.default_rng(0).bytes(50_000), "not a readable video"),
        "head.mp4": (whole[:3000], "not a readable video"),
        "no_moov.mp4": (whole[: len(whole) // 2], "not a readable video"),
        "huge.y4m": (b"YUV4MPEG2 W60000 H40000 F30:1 C420jpeg\nFRAME\n" + bytes(100), "not a readable video"),
        "huge.png": (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(bytes(10))) + chunk(b"IEND", b""), "too large"),
        "cut.png": (None, "truncated"),
    }
    Image.fromarray(pattern(1, 64, 64)[0]).save(tmp_path / "full.png")
    files["cut.png"] = ((tmp_path / "full.png").read_bytes()[:200], "truncated")
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    expected = {name: match for name, (_, match) in files.items()}
    expected["audio.m4a"] = "audio only"
    expected["missing.mp4"] = "no such file"
    (tmp_path / "folder.mp4").mkdir()
    expected["folder.mp4"] = "directory"
    return expected


def test_bad_files_raise_one_line_errors(tmp_path, testdata):
    for name, match in _bad_files(tmp_path, testdata).items():
        for action in (probe, read_video):
            with pytest.raises(VideoReadError, match=match) as error:
                action(tmp_path / name)
            message = str(error.value)
            assert name in message and "\n" not in message, message


def test_truncated_faststart_file_gives_its_frames_and_a_warning(tmp_path):
    path = encode(tmp_path / "whole.mp4", pattern(30, 64, 48))
    # move the moov atom first (as spacetime writes), then cut the file in the middle of the data
    from spacetime.video import write_video

    write_video(tmp_path / "fast.mp4", read_video(path).frames, 24)
    data = (tmp_path / "fast.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 4 // 5])
    with pytest.warns(SpacetimeWarning, match="ends early"):
        clip = read_video(tmp_path / "cut.mp4")
    assert 0 < len(clip) < 30
    with pytest.raises(VideoReadError, match="ends early"):
        read_video(tmp_path / "cut.mp4", strict=True)
