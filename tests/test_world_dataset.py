"""The endless world dataset (buckets, workers, ranks) and the MP4 + manifest export."""

import json

import numpy as np
import pytest
import torch

from spacetime.errors import RequestError
from spacetime.video import read_video
from spacetime.world.dataset import DEFAULT_SHAPES, WorldClips
from spacetime.world.export import export_world
from spacetime.world import vocab
from spacetime.world.scene import SCENARIOS, Scene

SHAPES = [(1, 32, 16), (5, 16, 32), (9, 32, 32)]


def start_ahead(obj) -> float:
    """How far ahead of the centre, along its own direction, a straight-line mover starts."""
    dx, dy = vocab.DIRECTIONS[obj.motion]
    return (obj.start[0] * dx + obj.start[1] * dy) / np.hypot(dx, dy)


def first(ds, n=3):
    it = iter(ds)
    return [next(it) for _ in range(n)]


def test_batches_have_one_bucket_shape_and_range():
    ds = WorldClips(SHAPES, fps=8, batch_size={(1, 32, 16): 4, (5, 16, 32): 2, (9, 32, 32): 3}, seed=0)
    seen = set()
    for batch in first(ds, 12):
        video = batch["video"]
        b, c, t, h, w = video.shape
        seen.add((t, h, w))
        assert (t, h, w) in SHAPES and c == 3 and b == {1: 4, 5: 2, 9: 3}[t]
        assert video.dtype == torch.float32 and video.is_contiguous() and video.min() >= -1 and video.max() <= 1
        assert len(batch["caption"]) == len(batch["scene"]) == b
        scenes = [Scene.from_json(s) for s in batch["scene"]]
        if t == 1:  # images: nothing moves
            assert all(o.motion == "still" for s in scenes for o in s.objects) and all(s.camera is None for s in scenes)
    assert seen == set(SHAPES)


def test_streams_are_reproducible_and_differ_by_rank():
    a = first(WorldClips(SHAPES, batch_size=2, seed=7, rank=0, world_size=2))
    b = first(WorldClips(SHAPES, batch_size=2, seed=7, rank=0, world_size=2))
    c = first(WorldClips(SHAPES, batch_size=2, seed=7, rank=1, world_size=2))
    assert [x["caption"] for x in a] == [x["caption"] for x in b]
    assert all(torch.equal(x["video"], y["video"]) for x, y in zip(a, b))
    assert [x["caption"] for x in a] != [x["caption"] for x in c]
    resumed = first(WorldClips(SHAPES, batch_size=2, seed=7, rank=0, world_size=2, start_batch=2), 1)
    assert resumed[0]["scene"] == a[2]["scene"]


def test_uint8_pixels_are_the_same_frames_at_a_quarter_of_the_size():
    from spacetime.train.tasks import unit_video

    as_float = WorldClips(SHAPES, batch_size=2, seed=3).batch(4)["video"]
    as_bytes = WorldClips(SHAPES, batch_size=2, seed=3, pixels="uint8").batch(4)["video"]
    assert as_bytes.dtype == torch.uint8 and as_bytes.shape == as_float.shape
    assert torch.equal(unit_video(as_bytes, torch.device("cpu")), as_float)
    assert unit_video(as_float, torch.device("cpu")) is as_float  # float batches pass through
    with pytest.raises(RequestError, match="pixels must be"):
        WorldClips(SHAPES, pixels="int16")


def test_dataloader_workers_split_one_stream():
    ds = WorldClips([(3, 16, 16), (1, 16, 32)], batch_size=2, seed=1, rank=0, world_size=1)
    it = iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2))
    batches = [next(it) for _ in range(4)]  # alternately from worker 0 and worker 1
    assert len({json.dumps(b["scene"]) for b in batches}) == 4
    assert [b["scene"] for b in batches] == [ds.batch(i)["scene"] for i in range(4)]  # as with no workers


def test_default_buckets_span_aspects_and_lengths():
    aspects = [w / h for _, h, w in DEFAULT_SHAPES]
    assert min(aspects) == 0.5 and max(aspects) == 2.0
    assert min(t for t, _, _ in DEFAULT_SHAPES) == 1 and max(t for t, _, _ in DEFAULT_SHAPES) >= 49
    with pytest.raises(RequestError, match="batch_size"):
        WorldClips(SHAPES, batch_size={(1, 32, 16): 2})
    with pytest.raises(RequestError, match="rank"):
        WorldClips(SHAPES, rank=2, world_size=2)


def test_export_writes_readable_clips_and_manifest(tmp_path):
    manifest = export_world(tmp_path, 3, seed=3, sizes=[(32, 32), (48, 32)], frames=6, fps=6, progress=False)
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 3
    for record in lines:
        assert set(record) == {"path", "caption", "fps", "frames", "width", "height", "scene"}
        clip = read_video(tmp_path / record["path"])
        assert clip.frames.shape == (6, record["height"], record["width"], 3)
        assert record["caption"] and Scene.from_dict(record["scene"])
    again = export_world(tmp_path / "again", 3, seed=3, sizes=[(32, 32), (48, 32)], frames=6, fps=6, progress=False)
    assert again.read_text() == manifest.read_text()  # reproducible
    with pytest.raises(RequestError, match="already exists"):
        export_world(tmp_path, 1, progress=False)


def test_scenarios_and_motions_narrow_the_stream_for_a_curriculum():
    ds = WorldClips([(9, 32, 32), (1, 32, 32)], batch_size=4, seed=5, scenarios=("single",), motions=("left", "right"))
    batches = [ds.batch(i) for i in range(6)]
    scenes = [json.loads(s) for b in batches for s in b["scene"]]
    clips = [json.loads(s) for b in batches if b["video"].shape[2] > 1 for s in b["scene"]]
    images = [json.loads(s) for b in batches if b["video"].shape[2] == 1 for s in b["scene"]]
    assert clips and images and all(len(s["objects"]) == 1 for s in scenes)
    assert {o["motion"] for s in clips for o in s["objects"]} == {"left", "right"}
    assert {o["motion"] for s in images for o in s["objects"]} == {"still"}  # images stay still
    with pytest.raises(RequestError, match="unknown or no world motions"):
        WorldClips(SHAPES, motions=("sideways",))
    with pytest.raises(RequestError, match="unknown or no world scenarios"):
        WorldClips(SHAPES, scenarios=())


def test_train_config_narrows_the_world_stream():
    from spacetime.train.config import load_config
    from spacetime.train.tasks import WorldSource

    config = load_config(None, ['data.world_scenarios=["single"]', 'data.world_motions=["up", "down"]',
                                "data.batch_size=3", "data.shapes=[[9, 32, 32]]"])
    scenes = [json.loads(s) for i in range(3) for s in WorldSource(config, 0, 1).batch(i)["scene"]]
    assert {o["motion"] for s in scenes for o in s["objects"]} == {"up", "down"}
    assert all(len(s["objects"]) == 1 for s in scenes)
    full = WorldSource(load_config(None, ["data.batch_size=3", "data.shapes=[[9, 32, 32]]"]), 0, 1).clips
    assert full.motions == vocab.MOTIONS and full.scenarios == SCENARIOS  # empty lists: the whole world


def test_centre_start_hides_the_direction_in_the_first_frame():
    from spacetime.train.config import load_config
    from spacetime.train.tasks import WorldSource
    from spacetime.world.scene import world_positions

    overrides = ['data.world_scenarios=["single"]', 'data.world_motions=["left", "right"]',
                 "data.batch_size=8", "data.shapes=[[17, 64, 64]]"]
    centred = WorldSource(load_config(None, overrides + ['data.world_start="centre"']), 0, 1)
    placed = WorldSource(load_config(None, overrides), 0, 1)
    for source, near_centre in ((centred, True), (placed, False)):
        scenes = [Scene.from_json(s) for i in range(4) for s in source.batch(i)["scene"]]
        starts = np.array([world_positions(s, [0.0])[0, 0] for s in scenes])  # (clips, 2)
        rightward = np.array([s.objects[0].motion == "right" for s in scenes])
        assert rightward.any() and (~rightward).any()
        # WORLD.md's placement keeps the object in frame, so rightward movers start further left
        # on average; from the centre, where it starts says nothing about its direction.
        assert (np.abs(starts).max() <= 0.15) == near_centre
        assert (starts[rightward, 0].mean() < starts[~rightward, 0].mean() - 0.1) == (not near_centre)
        if near_centre:
            assert {s.objects[0].speed for s in scenes} == {"slowly"}
    with pytest.raises(RequestError, match="needs scenarios"):
        WorldClips(SHAPES, start="centre")
    with pytest.raises(RequestError, match="start must be one of"):
        WorldClips(SHAPES, scenarios=("single",), start="middle")


def test_inside_start_puts_movers_anywhere_in_frame_whatever_their_direction():
    from spacetime.train.config import load_config
    from spacetime.train.tasks import WorldSource
    from spacetime.world.scene import canvas_half_extent

    config = load_config(None, ['data.world_centred_share=1.0', 'data.world_centred_start="inside"',
                                "data.batch_size=8", "data.shapes=[[17, 64, 64]]"])
    source = WorldSource(config, 0, 1)
    assert source.clips.centred_start == "inside"
    scenes = [Scene.from_json(s) for i in range(8) for s in source.batch(i)["scene"]]
    movers = [s.objects[0] for s in scenes if s.objects[0].motion in vocab.DIRECTIONS]
    assert len(movers) > 20 and {o.speed for o in movers} == {"slowly"}
    half = canvas_half_extent(1.0)[0]
    ahead = []
    for o in movers:
        assert max(abs(o.start[0]), abs(o.start[1])) + o.diameter / 2 <= half  # wholly in frame at t = 0
        ahead.append(start_ahead(o))
    # no room kept ahead: a good share start well past the centre toward where they go,
    # which neither WORLD.md's placement nor the centre start ever does
    assert np.mean(np.array(ahead) > 0.15) > 0.15
    with pytest.raises(RequestError, match="centred_start must be"):
        WorldClips(SHAPES, centred_start="edge")
    with pytest.raises(RequestError, match="needs scenarios"):
        WorldClips(SHAPES, start="inside")


def _image_batches(overrides: list) -> list:
    """The one-frame batches among the first 12 of a world stream of 17 x 64 x 96 clips with these
    data overrides: some, not all, and the rest clips of that shape."""
    from spacetime.train.config import load_config
    from spacetime.train.tasks import WorldSource

    source = WorldSource(load_config(None, ["data.batch_size=4", "data.shapes=[[17, 64, 96]]", *overrides]), 0, 1)
    images = []
    for i in range(12):
        batch = source.batch(i)
        assert batch["video"].shape[2:] == ((1, 64, 96) if batch["video"].shape[2] == 1 else (17, 64, 96))
        images += [batch] if batch["video"].shape[2] == 1 else []
    assert 0 < len(images) < 12  # a share of the batches, clips in the rest
    return images


def test_mover_images_are_first_frames_of_straight_movers_placed_with_room_ahead():
    ahead = []
    for batch in _image_batches(["data.world_mover_images=0.5", 'data.caption_style="descriptive"']):
        for text, s in zip(batch["caption"], batch["scene"]):
            scene = Scene.from_json(s)
            assert scene.camera is None and not scene.pillar
            for o in scene.objects:
                assert o.motion in vocab.LINEAR_MOTIONS
                ahead.append(start_ahead(o))
    # the caption names the motion and the start leaves room ahead: the placement cue to learn
    assert np.mean(ahead) < -0.1 and np.mean(np.array(ahead) > 0.05) < 0.1
    plain = WorldClips([(9, 32, 32)], batch_size=2, seed=3)
    assert torch.equal(plain.batch(5)["video"], WorldClips([(9, 32, 32)], batch_size=2, seed=3,
                                                         mover_images=0.0).batch(5)["video"])
    with pytest.raises(RequestError, match="mover_images must be"):
        WorldClips(SHAPES, mover_images=1.5)
    with pytest.raises(RequestError, match="mover_images needs the scenario"):
        WorldClips(SHAPES, scenarios=("pan",), mover_images=0.2)
    with pytest.raises(RequestError, match="mover_images needs a straight-line motion"):
        WorldClips(SHAPES, motions=("spin", "grow"), mover_images=0.2)
    narrowed = WorldClips([(9, 32, 32)], batch_size=8, motions=("left", "grow"), mover_images=1.0)
    assert {o.motion for s in narrowed.batch(0)["scene"] for o in Scene.from_json(s).objects} == {"left"}


def test_shape_images_are_images_of_one_still_object_named_in_the_streams_captions():
    from spacetime.world.parse import parse_prompt

    shapes = set()
    for batch in _image_batches(["data.world_shape_images=0.5", "data.world_centred_share=0.5",
                                 'data.caption_style="varied"']):
        assert not batch["first_frame_given"].any()
        for text, s in zip(batch["caption"], batch["scene"]):
            scene = Scene.from_json(s)
            assert len(scene.objects) == 1 and scene.objects[0].motion == "still" and scene.camera is None
            assert [o.shape for o in parse_prompt(text).objects] == [scene.objects[0].shape], text
            shapes.add(scene.objects[0].shape)
    assert shapes == set(vocab.SHAPES)
    plain = WorldClips([(9, 32, 32)], batch_size=2, seed=3)
    assert torch.equal(plain.batch(5)["video"], WorldClips([(9, 32, 32)], batch_size=2, seed=3,
                                                         shape_images=0.0).batch(5)["video"])
    with pytest.raises(RequestError, match="shape_images must be"):
        WorldClips(SHAPES, shape_images=-0.1)


def test_shape_image_batches_hold_their_own_number_of_images_and_clips_the_buckets():
    batches = [b["video"].shape for b in _image_batches(["data.world_shape_images=0.5",
                                                         "data.world_shape_image_batch=24"])]
    assert batches and all(shape[:3] == (24, 3, 1) for shape in batches)
    stream = WorldClips([(9, 32, 32)], batch_size=2, seed=3, shape_images=0.5, shape_image_batch=24)
    sizes = {tuple(stream.batch(i)["video"].shape[:3]) for i in range(12)}
    assert sizes == {(24, 3, 1), (2, 3, 9)}
    with pytest.raises(RequestError, match="shape_image_batch must be >= 1"):
        WorldClips(SHAPES, shape_images=0.5, shape_image_batch=0)
