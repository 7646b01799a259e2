"""Real data: manifests and folders, probing and skipping bad files, buckets, sharded batches, latent cache."""

import json
import logging
import math
import shutil
from pathlib import Path

import pytest
import torch

from spacetime.data.buckets import assign_bucket, make_buckets, num_tokens
from spacetime.data.dataset import VideoBatches
from spacetime.data.manifest import ManifestError, probe_entries, read_manifest, scan_folder
from spacetime.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


# ---- buckets ---------------------------------------------------------------------------------------------


def test_buckets_fit_the_budget_keep_aspect_and_balance_tokens():
    buckets = make_buckets(256, frame_counts=(1, 9, 17, 33), batch_size=2)
    assert {b.frames for b in buckets} == {1, 9, 17, 33}
    batch_tokens = []
    for b in buckets:
        tokens = num_tokens(*b.shape)
        assert tokens <= 256 and b.height % 16 == 0 and b.width % 16 == 0
        batch_tokens.append(tokens * b.batch_size)
    assert max(batch_tokens) / min(batch_tokens) < 1.5  # about the same tokens per batch
    wide = [b for b in buckets if b.frames == 1 and b.width > b.height]
    tall = [b for b in buckets if b.frames == 1 and b.height > b.width]
    assert max(b.aspect for b in wide) == pytest.approx(2.0) and min(b.aspect for b in tall) == pytest.approx(0.5)
    image = max((b for b in buckets if b.frames == 1), key=lambda b: b.height * b.width)
    video = max((b for b in buckets if b.frames == 33), key=lambda b: b.height * b.width)
    assert image.height * image.width > 4 * video.height * video.width  # long clips trade pixels for time
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        make_buckets(256, frame_counts=(8,))


def test_assign_bucket_nearest_aspect_no_longer_than_the_clip():
    buckets = make_buckets(256, frame_counts=(1, 9, 17), aspect_ratios=(16 / 9, 1.0, 9 / 16))
    wide = assign_bucket(buckets, 1920, 1080, available_frames=100)
    assert wide.frames == 17 and wide.width > wide.height
    short_tall = assign_bucket(buckets, 1080, 1920, available_frames=12)
    assert short_tall.frames == 9 and short_tall.height > short_tall.width
    assert assign_bucket(buckets, 500, 500, available_frames=1, image=True).shape[0] == 1
    assert assign_bucket(buckets, 500, 500, available_frames=5) is None  # shorter than every video bucket


# ---- manifests, folders, probing ------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path, testdata) -> Path:
    data = tmp_path / "videos"
    data.mkdir()
    for name in ("in.mp4", "flipping_a_pancake.mkv", "video_90.mov", "corrupted.mp4"):
        shutil.copy(testdata / name, data / name)
    (data / "in.txt").write_text("a street scene\n")
    (data / "flipping_a_pancake.txt").write_text("someone flips a pancake")
    (data / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    return data


def test_manifest_csv_and_jsonl(tmp_path, testdata):
    csv = tmp_path / "m.csv"
    csv.write_text(f'path,caption,start,end\n{testdata / "in.mp4"},"a, street",1,3.5\nrel.mp4,x,,\n')
    entries = read_manifest(csv)
    assert entries[0].caption == "a, street" and entries[0].start == 1.0 and entries[0].end == 3.5
    assert entries[1].path == str(tmp_path / "rel.mp4") and entries[1].end is None
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(json.dumps({"path": "a.mp4", "caption": "c", "fps": 12}) + "\n\n")
    assert read_manifest(jsonl)[0].fps == 12.0
    jsonl.write_text(json.dumps({"path": "a.mp4", "captoin": "c"}) + "\n")
    with pytest.raises(ManifestError, match="captoin"):
        read_manifest(jsonl)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "missing.csv")


def test_bad_files_are_skipped_logged_and_counted_and_probes_are_cached(folder, caplog, monkeypatch):
    entries = scan_folder(folder)
    assert [Path(e.path).name for e in entries] == ["corrupted.mp4", "flipping_a_pancake.mkv", "garbage.mp4",
                                                    "in.mp4", "video_90.mov"]
    assert entries[3].caption == "a street scene"
    (folder / "vanished.mp4").write_bytes(b"")
    entries.append(type(entries[0])(path=str(folder / "gone.mp4")))
    cache = folder / ".probe.json"
    with caplog.at_level(logging.WARNING, logger="spacetime.data"):
        clips, summary = probe_entries(entries, cache, min_seconds=1.0)
    names = {Path(c.entry.path).name for c in clips}
    assert names == {"corrupted.mp4", "flipping_a_pancake.mkv", "in.mp4"}
    skipped = {Path(p).name: why for p, why in summary.skipped}
    assert set(skipped) == {"garbage.mp4", "video_90.mov", "gone.mp4"}
    assert "too short" in skipped["video_90.mov"]
    assert summary.usable == 3 and summary.uncaptioned == 1 and "3 skipped" in str(summary)
    assert all(name in caplog.text for name in skipped)
    rotated = probe_entries([e for e in entries if e.path.endswith("video_90.mov")], None)[0][0]
    assert (rotated.width, rotated.height) == (320, 568)  # as a player shows it

    def no_probe(path, **kwargs):
        raise AssertionError(f"{path} probed again although cached")

    monkeypatch.setattr("spacetime.video.probe", no_probe)
    again, summary2 = probe_entries(entries[:-1], cache, min_seconds=1.0)
    assert len(again) == 3 and len(summary2.skipped) == 2


# ---- batches ---------------------------------------------------------------------------------------------------


def folder_config(folder, *extra):
    return load_config(None, ["data.source=folder", f'data.path="{folder}"', "data.token_budget=24",
                              "data.frames=[1,9]", "data.batch_size=1", "data.fps=8.0", *extra])


def test_batches_have_bucket_shapes_and_are_a_pure_function_of_the_index(folder):
    data = VideoBatches.from_config(folder_config(folder))
    assert len(data.clips) == 3  # garbage.mp4 and the 3-frame video_90.mov are skipped
    seen = set()
    for i in range(4):
        batch = data.batch(i)
        B, C, T, H, W = batch["video"].shape
        assert C == 3 and T == 9 and (T, H, W) in {b.shape for b in data.buckets}
        assert batch["video"].min() >= -1 and batch["video"].max() <= 1
        seen.add((H, W))
        assert torch.equal(batch["video"], data.batch(i)["video"])
    landscape = [b for b in data.buckets if b.frames == 9 and b.width > b.height]
    assert seen <= {b.shape[1:] for b in landscape}  # 4:3 and 16:9 sources go to landscape buckets
    per_epoch = len(data.plan(0))
    assert data.position(per_epoch + 1) == {"micro_batches": per_epoch + 1, "epoch": 1, "index": 1}


def test_ranks_get_disjoint_shards_of_each_epoch(folder):
    config = folder_config(folder)
    ranks = [VideoBatches.from_config(config, rank=r, world_size=2) for r in range(2)]
    plans = [{row for _, rows in r.plan(0) for row in rows} for r in ranks]
    assert plans[0] and plans[1] and not plans[0] & plans[1]
    assert len(ranks[0].plan(0)) == len(ranks[1].plan(0))


def test_images_mixed_in_and_a_clip_failing_at_read_time_is_replaced(folder, caplog):
    data = VideoBatches.from_config(folder_config(folder, "data.images=0.5", "run.seed=3"))
    frames = {bucket.frames for epoch in range(4) for bucket, _ in data.plan(epoch)}
    assert frames == {1, 9}
    # corrupted.mp4 decodes 28 of 50 frames; make a file fail after probing: it is logged, counted, replaced
    victim = next(c for c in data.clips if c.entry.path.endswith("in.mp4"))
    Path(victim.entry.path).write_bytes(b"overwritten after probing")
    with caplog.at_level(logging.WARNING, logger="spacetime.data"):
        for i in range(len(data.plan(0))):
            data.batch(i)
    assert any(path.endswith("in.mp4") for path, _ in data.failures)
    assert "in.mp4" in caplog.text


def test_latent_cache_round_trip_and_dit_training_on_it(folder, tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertModel

    from spacetime.data.latent_cache import CachedLatents, cache_dataset
    from spacetime.text import default_encoder_path
    from spacetime.train.loop import train

    encoder = tmp_path / "enc"
    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()), local_files_only=True)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(encoder))
    tokenizer.save_pretrained(str(encoder))
    config = folder_config(folder, "model.vae=tiny", f'model.text_encoder="{encoder}"')
    summary = cache_dataset(config, tmp_path / "cache", shard_size=2)
    assert summary.startswith("cached 3 clips")
    index = json.loads((tmp_path / "cache/index.json").read_text())
    assert index["latent_channels"] == 4 and index["text_dim"] == 32
    cached = CachedLatents(tmp_path / "cache", seed=0)
    batch = cached.batch(0)
    T, H, W = index["shards"][cached.plan(0)[0][0]]["shape"]
    assert batch["latents"].shape[1:] == (4, 1 + math.ceil((T - 1) / 4), H // 8, W // 8)
    assert batch["text"].shape[-1] == 32 and batch["text_mask"].dtype == torch.bool
    assert batch["caption"][0] in {"a street scene", "someone flips a pancake", ""}

    run = load_config(None, ["data.source=cache", f'data.path="{tmp_path / "cache"}"', "model.vae=tiny",
                             f'model.text_encoder="{encoder}"', f'run.dir="{tmp_path / "run"}"', "train.steps=2",
                             "train.peak_flops=1e9"])
    train(run, progress=False)
    assert (tmp_path / "run/checkpoints/step_000002/state.json").is_file()
