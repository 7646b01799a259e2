"""Batches of real video for training: bucketed, sharded per rank, indexed by micro-batch.

    batches = VideoBatches(clips, buckets, fps=12, seed=0, rank=0, world_size=1)
    batch = batches.batch(0)   # dict(video (B, 3, T, H, W) in [-1, 1], caption [str], path [str])

Each epoch is planned from (seed, epoch) alone: clips are put into their buckets (a share
`images` of videos as one-frame images), shuffled, cut into per-bucket batches (a partial
last batch is dropped), the batch order shuffled, and batch j of the epoch goes to rank
j % world_size (the tail that does not divide evenly is dropped, so ranks stay in step).
`batch(i)` is therefore a pure function of i: the data position in a checkpoint is the
micro-batch counter, and (epoch, index) is derived from it.

A clip that fails to decode at training time (a file changed or corrupt past its header)
is logged, counted in `failures`, and replaced by the next clip of the same bucket.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from spacetime.data.buckets import Bucket, assign_bucket, make_buckets
from spacetime.data.manifest import ClipInfo, probe_entries, read_manifest, scan_folder
from spacetime.errors import RequestError, SpacetimeError

log = logging.getLogger("spacetime.data")


class VideoBatches:
    def __init__(self, clips: list[ClipInfo], buckets: list[Bucket], *, fps: float, seed: int = 0, rank: int = 0,
                 world_size: int = 1, images: float = 0.0, require_batches: bool = True):
        if not clips:
            raise RequestError("the dataset has no usable clips (see the skipped files logged above)")
        self.clips, self.buckets, self.fps = clips, buckets, float(fps)
        self.seed, self.rank, self.world_size, self.images = seed, rank, world_size, float(images)
        self.failures: list[tuple[str, str]] = []
        self._plans: dict[int, list] = {}
        self._starts = [0]  # first micro-batch index of each planned epoch (for this rank)
        self.unassigned = [c.entry.path for c in clips if self._bucket_of(c, False) is None]
        if len(self.unassigned) == len(clips):
            raise RequestError(f"no clip fits any bucket ({len(buckets)} buckets, shortest video bucket "
                               f"{min((b.frames for b in buckets if b.frames > 1), default=None)} frames); "
                               "add shorter data.frames or longer clips")
        if require_batches and not self.plan(0):
            raise RequestError(f"the dataset gives no full batch for {world_size} process(es); "
                               "lower data.batch_size or add clips")

    @classmethod
    def from_config(cls, config, rank: int = 0, world_size: int = 1, require_batches: bool = True) -> "VideoBatches":
        d = config.data
        path = Path(d.path)
        entries = read_manifest(path) if d.source == "manifest" else scan_folder(path)
        cache = d.probe_cache or (str(path) + ".probe.json" if d.source == "manifest" else str(path / ".probe.json"))
        buckets = make_buckets(d.token_budget, aspect_ratios=d.aspect_ratios, frame_counts=d.frames,
                               batch_size=d.batch_size)
        video_lengths = [b.frames for b in buckets if b.frames > 1]
        min_seconds = (min(video_lengths) - 1) / d.fps if video_lengths else 0.0
        clips, summary = probe_entries(entries, cache, min_seconds=min_seconds)
        if rank == 0:
            print(f"data: {summary}", flush=True)
        return cls(clips, buckets, fps=d.fps, seed=config.run.seed, rank=rank, world_size=world_size, images=d.images,
                   require_batches=require_batches)

    def _frames_available(self, clip: ClipInfo) -> int:
        fps = clip.entry.fps or self.fps
        return 1 if clip.is_image else int(clip.duration * fps + 1e-6)

    def _bucket_of(self, clip: ClipInfo, as_image: bool) -> Bucket | None:
        image = clip.is_image or as_image
        return assign_bucket(self.buckets, clip.width, clip.height, self._frames_available(clip), image=image)

    def members(self) -> dict[Bucket, list[int]]:
        """Every usable clip in its own bucket (no image draw, no partial batches dropped): what a cache holds."""
        out: dict[Bucket, list[int]] = {}
        for i, clip in enumerate(self.clips):
            bucket = self._bucket_of(clip, False)
            if bucket is not None:
                out.setdefault(bucket, []).append(i)
        return out

    def plan(self, epoch: int) -> list[tuple[Bucket, list[int]]]:
        """This rank's batches of `epoch`: (bucket, clip indices) each."""
        if epoch in self._plans:
            return self._plans[epoch]
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(epoch,)))
        members: dict[Bucket, list[int]] = {}
        for i in rng.permutation(len(self.clips)):
            clip = self.clips[int(i)]
            as_image = not clip.is_image and self.images > 0 and rng.random() < self.images
            bucket = self._bucket_of(clip, as_image) or self._bucket_of(clip, False)
            if bucket is not None:
                members.setdefault(bucket, []).append(int(i))
        batches = []
        for bucket in sorted(members, key=lambda b: b.shape):
            rows = members[bucket]
            batches += [(bucket, rows[k:k + bucket.batch_size])
                        for k in range(0, len(rows) - bucket.batch_size + 1, bucket.batch_size)]
        order = rng.permutation(len(batches))
        usable = len(batches) // self.world_size * self.world_size
        mine = [batches[int(j)] for j in order[:usable]][self.rank::self.world_size]
        if len(self._plans) > 4:
            self._plans.pop(min(self._plans))
        self._plans[epoch] = mine
        return mine

    def locate(self, index: int) -> tuple[int, int]:
        """(epoch, batch within the epoch) of micro-batch `index`."""
        epoch = 0
        while True:
            if epoch + 1 >= len(self._starts):
                self._starts.append(self._starts[epoch] + len(self.plan(epoch)))
            if index < self._starts[epoch + 1]:
                return epoch, index - self._starts[epoch]
            epoch += 1

    def position(self, index: int) -> dict:
        epoch, k = self.locate(index)
        return {"micro_batches": index, "epoch": epoch, "index": k}

    def batch(self, index: int) -> dict:
        epoch, k = self.locate(index)
        bucket, rows = self.plan(epoch)[k]
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(epoch, k, self.rank, 1)))
        videos, captions, paths = [], [], []
        for row in rows:
            tensor, clip = self.read(row, bucket, rng)
            videos.append(tensor)
            captions.append(clip.entry.caption)
            paths.append(clip.entry.path)
        return {"video": torch.stack(videos), "caption": captions, "path": paths}

    def read(self, row: int, bucket: Bucket, rng: np.random.Generator) -> tuple[torch.Tensor, ClipInfo]:
        """Clip `row` as (3, T, H, W) in [-1, 1] at the bucket's shape; a failing clip is replaced."""
        from spacetime.video import fit_frames, frames_to_tensor, read_video

        # The clip itself, then clips of the same bucket, then any clip long enough (fill-cropped harder).
        # Earlier failures are retried rather than remembered, so the outcome is the same after a resume.
        image = bucket.frames == 1
        same = [i for i, c in enumerate(self.clips) if i != row and self._bucket_of(c, image) == bucket]
        others = [i for i, c in enumerate(self.clips) if i != row and i not in same
                  and (image or self._frames_available(c) >= bucket.frames)]
        for i in [row] + same + others:
            clip = self.clips[i]
            fps = clip.entry.fps or self.fps
            span = (bucket.frames - 1) / fps
            slack = max(0.0, clip.duration - span - 1.0 / fps)
            start = clip.entry.start + (float(rng.uniform(0, slack)) if slack > 0 and not clip.is_image else 0.0)
            try:
                frames = read_video(clip.entry.path, start=start, fps=None if clip.is_image else fps,
                                    max_frames=bucket.frames).frames
                if clip.is_image and bucket.frames > 1:
                    raise SpacetimeError("is an image, the bucket needs video")
                if len(frames) < bucket.frames:
                    raise SpacetimeError(f"gave {len(frames)} of {bucket.frames} frames")
            except Exception as e:  # never a crash mid-run: log, count, use the next clip of this bucket
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                log.warning("skipping %s at training time: %s", clip.entry.path, reason)
                self.failures.append((clip.entry.path, reason))
                continue
            frames = fit_frames(frames[: bucket.frames], bucket.width, bucket.height, mode="fill")
            return frames_to_tensor(frames), clip
        raise RequestError(f"no clip of bucket {bucket.shape} can be read any more (see the log)")

    def describe(self) -> str:
        per_epoch = len(self.plan(0))
        return f"{len(self.clips)} clips in {len(self.buckets)} buckets, {per_epoch} batches per epoch per process"

    def __len__(self) -> int:
        return len(self.plan(0))

