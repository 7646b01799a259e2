"""An endless training set rendered on the fly: batches of world clips in size/length buckets.

    clips = WorldClips(shapes=[(17, 128, 128), (1, 64, 128)], fps=12, batch_size=4, seed=0)
    loader = torch.utils.data.DataLoader(clips, batch_size=None, num_workers=2)
    batch = next(iter(loader))   # video (B, 3, T, H, W) in [-1, 1], caption [str], scene [JSON str]

Each batch has one shape, drawn from `shapes` (frames, height, width): Sora-style native
sizes, aspect ratios and lengths instead of crops to one square. Batch number i of rank r
is drawn from `np.random.SeedSequence(seed, spawn_key=(r, i))` alone. So ranks differ;
data-loader workers split the batch numbers (worker w of n makes i = w, w + n, ...), which
DataLoader hands out in order: the stream is the same with any number of workers, and a
resumed run continues exactly with `start_batch` = batches already consumed.
A one-frame bucket is an image: still objects, no camera pan. `mover_images` turns a share of the
other batches into images too: first frames of straight-line movers, captioned with their motion;
`shape_images` a share into images of one still object, the shape word's own practice.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from spacetime.errors import RequestError
from spacetime.world import vocab
from spacetime.world.captions import caption
from spacetime.world.parse import jostle_caption
from spacetime.world.render import MIN_SIDE, render
from spacetime.world.scene import SCENARIOS, check_start, check_world_names, sample_scene

# (frames, height, width): 1 + 4k frames (a causal 4x VAE), sides multiples of 16, aspect 2:1 to 1:2,
# from one-frame images to 4 seconds at 12 fps; about the same number of pixels per batch row
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1, 128, 128), (1, 96, 192), (1, 192, 96), (1, 112, 160), (1, 160, 112),
    (17, 128, 128), (17, 96, 144), (17, 144, 96), (17, 64, 128), (17, 128, 64),
    (33, 96, 96), (33, 64, 128), (33, 128, 64), (49, 64, 64), (49, 48, 96), (49, 96, 48),
)


def one_object_scene(rng: np.random.Generator, aspect: float = 1.0):
    """One still object, its colour, shape, size, background and place drawn as in any scene: the
    scene of a `shape_images` batch (also `benchmarks/shape_learnability.py --scenes world`)."""
    return sample_scene(rng, num_objects=(1, 1), scenarios=("single",), seconds=0.0, aspect=aspect, motions=("still",))


def _worker() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class WorldClips(torch.utils.data.IterableDataset):
    """Endless batches of freshly rendered world clips, one bucket shape per batch.

    shapes: (frames, height, width) buckets (default `DEFAULT_SHAPES`).
    batch_size: one int, or a dict {shape: batch size} covering every shape.
    weights: optional relative frequency of each bucket (default: equal).
    rank, world_size: this process among torchrun's; None reads RANK / WORLD_SIZE (default 0 / 1).
    start_batch: batches of this rank already consumed (to resume a run where it stopped).
    caption_style, num_objects, scenarios, motions: passed to `caption` and `sample_scene` (motions
    for clips only: images are still); fewer scenarios or motions make a curriculum's first stage.
    start: "anywhere" (WORLD.md's placement), or "centre" (with scenarios ["single"]): a straight-line
    mover starts by the centre and moves slowly, so a clip's first frame does not tell its direction.
    centred_share: the chance that a clip (of 2+ frames) is instead one object with one of
    `centred_motions` (default: the straight-line ones of `motions`), a straight-line mover started
    as by start="centre", any other motion placed as usual; such clips are flagged in the batch's
    "first_frame_given" (B,) bool, for the trainer to give them their first frame: the motion
    word is then the only clue to the motion (a mover by the centre does not show its direction),
    and the rest of the stream keeps everything else.
    centred_start: where the share's straight-line movers start: "centre" (as above) or "inside"
    (anywhere wholly inside the frame, whatever the direction, as start="inside"): a first frame
    drawn without regard to the direction, as a text-to-video image pass draws it, is then one
    the share has trained to animate the asked way, toward the nearest border included.
    mover_images: the chance that a batch is instead one-frame images: the first frames of scenes
    whose objects all move in straight lines (those of `motions`), placed as WORLD.md places them (with room ahead),
    captioned with their motion (one or several objects, the bucket's height and width). An
    image pass of text to video must put a mover where its direction leaves it room; in the
    rest of the stream that cue is diluted by still objects, other motions and centred starts.
    shape_images: the chance that a batch is instead one-frame images of one still object each
    (colour, shape, size, background and place drawn as in any scene, with the stream's captions):
    where nothing but the words explains the object, as in `benchmarks/shape_learnability.py`,
    whose probe learns the shape word from such images and the rest of the stream does not.
    shape_image_batch: the number of images in such a batch (default: the bucket's batch size). One
    frame costs a sixteenth or less of a clip, so a batch of them can hold many more scenes than a
    clip batch in the same time.
    caption_noise: the chance that a caption's sentence frame is disturbed (`parse.jostle_caption`:
    words without world meaning dropped, neutral words inserted; the world words kept).
    pixels: "float" gives video in [-1, 1]; "uint8" gives the rendered bytes, a quarter of the
    size to pass from data-loader workers, for the trainer to scale on its device.
    Use with DataLoader(batch_size=None): the dataset yields whole batches.
    """

    def __init__(
        self,
        shapes=DEFAULT_SHAPES,
        *,
        fps: float = 12.0,
        batch_size: int | dict = 4,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        weights=None,
        caption_style: str = "random",
        num_objects=(1, 3),
        scenarios=SCENARIOS,
        motions=vocab.MOTIONS,
        start_batch: int = 0,
        pixels: str = "float",
        start: str = "anywhere",
        centred_share: float = 0.0,
        centred_motions=None,
        centred_start: str = "centre",
        mover_images: float = 0.0,
        shape_images: float = 0.0,
        shape_image_batch: int | None = None,
        caption_noise: float = 0.0,
    ):
        super().__init__()
        self.shapes = [tuple(int(v) for v in s) for s in shapes]
        if not self.shapes:
            raise RequestError("WorldClips needs at least one (frames, height, width) shape")
        for t, h, w in self.shapes:
            if t < 1 or h < MIN_SIDE or w < MIN_SIDE:
                raise RequestError(f"bucket shape {(t, h, w)} is invalid; frames >= 1, height and width >= {MIN_SIDE}")
        if isinstance(batch_size, dict):
            sizes = {tuple(int(v) for v in k): int(v) for k, v in batch_size.items()}
            missing = [s for s in self.shapes if s not in sizes]
            if missing:
                raise RequestError(f"batch_size dict has no entry for bucket shapes {missing}")
            self.batch_sizes = [sizes[s] for s in self.shapes]
        else:
            self.batch_sizes = [int(batch_size)] * len(self.shapes)
        if min(self.batch_sizes) < 1:
            raise RequestError(f"batch sizes must be >= 1, got {self.batch_sizes}")
        if not fps > 0:
            raise RequestError(f"fps must be positive, got {fps}")
        p = np.ones(len(self.shapes)) if weights is None else np.asarray(weights, dtype=np.float64)
        if p.shape != (len(self.shapes),) or np.any(p < 0) or p.sum() <= 0:
            raise RequestError(f"weights must be {len(self.shapes)} non-negative numbers, not all zero")
        self.weights = p / p.sum()
        self.fps = float(fps)
        self.seed = int(seed)
        self.rank = int(os.environ.get("RANK", 0)) if rank is None else int(rank)
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise RequestError(f"rank {self.rank} is not within world_size {self.world_size}")
        self.caption_style = caption_style
        self.num_objects = num_objects
        self.scenarios = tuple(scenarios)
        self.motions = tuple(motions)
        check_world_names(scenarios=self.scenarios, motions=self.motions)  # here, not at the first batch
        check_start(start, self.scenarios)
        self.start = start
        if not 0.0 <= centred_share <= 1.0:
            raise RequestError(f"centred_share must be within [0, 1], got {centred_share}")
        if centred_motions is None:
            self.centred_motions = tuple(m for m in self.motions if m in vocab.LINEAR_MOTIONS)
            if centred_share > 0 and not self.centred_motions:
                raise RequestError(f"centred_share needs a straight-line motion among the motions "
                                   f"({', '.join(vocab.LINEAR_MOTIONS)}), got {list(self.motions)}; "
                                   "or name the share's centred_motions")
        else:
            self.centred_motions = tuple(centred_motions)
            check_world_names(motions=self.centred_motions)
        self.centred_share = float(centred_share)
        if centred_start not in ("centre", "inside"):
            raise RequestError(f"centred_start must be 'centre' or 'inside', got {centred_start!r}")
        self.centred_start = centred_start
        if not 0.0 <= mover_images <= 1.0:
            raise RequestError(f"mover_images must be within [0, 1], got {mover_images}")
        self.mover_images = float(mover_images)
        self.mover_scenarios = tuple(s for s in self.scenarios if s in ("single", "multi"))
        if mover_images > 0 and not self.mover_scenarios:
            raise RequestError(f"mover_images needs the scenario 'single' or 'multi', got {list(self.scenarios)}")
        self.mover_motions = tuple(m for m in self.motions if m in vocab.LINEAR_MOTIONS)
        if mover_images > 0 and not self.mover_motions:
            raise RequestError(f"mover_images needs a straight-line motion among the motions "
                               f"({', '.join(vocab.LINEAR_MOTIONS)}), got {list(self.motions)}")
        if not 0.0 <= shape_images <= 1.0:
            raise RequestError(f"shape_images must be within [0, 1], got {shape_images}")
        self.shape_images = float(shape_images)
        if shape_image_batch is not None and int(shape_image_batch) < 1:
            raise RequestError(f"shape_image_batch must be >= 1, got {shape_image_batch}")
        self.shape_image_batch = None if shape_image_batch is None else int(shape_image_batch)
        if not 0.0 <= caption_noise <= 1.0:
            raise RequestError(f"caption_noise must be within [0, 1], got {caption_noise}")
        self.caption_noise = float(caption_noise)
        self.start_batch = int(start_batch)
        if pixels not in ("float", "uint8"):
            raise RequestError(f"pixels must be 'float' or 'uint8', got {pixels!r}")
        self.pixels = pixels

    def batch(self, index: int) -> dict:
        """Batch number `index` of this rank's stream (a pure function of seed, rank and index)."""
        return self.make_batch(np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.rank, index))))

    def make_batch(self, rng: np.random.Generator, shape_index: int | None = None) -> dict:
        """One batch drawn with `rng` (from a random bucket unless `shape_index` is given)."""
        if shape_index is None:
            shape_index = int(rng.choice(len(self.shapes), p=self.weights))
        frames, height, width = self.shapes[shape_index]
        # drawn only when there is a share, so that streams without one stay as they were
        movers = frames > 1 and self.mover_images > 0 and rng.random() < self.mover_images
        one_object = not movers and frames > 1 and self.shape_images > 0 and rng.random() < self.shape_images
        videos, captions, scenes, centred = [], [], [], []
        size = self.shape_image_batch if one_object and self.shape_image_batch else self.batch_sizes[shape_index]
        for _ in range(size):
            centred.append(not (movers or one_object) and frames > 1 and self.centred_share > 0
                           and rng.random() < self.centred_share)
            scene, text, pixels = self.sample(rng, frames, height, width, centred=centred[-1], mover_image=movers,
                                              one_object=one_object)
            videos.append(pixels)
            captions.append(text)
            scenes.append(scene.to_json())
        video = torch.from_numpy(np.stack(videos)).permute(0, 4, 1, 2, 3).contiguous()  # (B, 3, T, H, W) uint8
        if self.pixels == "float":
            video = video.float().div_(127.5).sub_(1.0)
        batch = {"video": video, "caption": captions, "scene": scenes}
        if self.centred_share > 0:
            batch["first_frame_given"] = torch.tensor(centred, dtype=torch.bool)
        return batch

    def sample(self, rng: np.random.Generator, frames: int, height: int, width: int, centred: bool = False,
               mover_image: bool = False, one_object: bool = False):
        """One (scene, caption, uint8 frames (T, H, W, 3)) of the given shape; centred: a clip of
        the centred share (one object with one of `centred_motions`); mover_image: only the first
        frame (T = 1) of a clip of straight-line movers (see `mover_images`); one_object: an image
        (T = 1) of one still object (see `shape_images`)."""
        seconds = frames / self.fps
        if one_object:
            scene, frames = one_object_scene(rng, width / height), 1
        elif frames == 1:  # an image: nothing moves, no pan, so the caption says what is seen
            image_scenarios = [s for s in self.scenarios if s in ("single", "multi", "pillar")] or ["single"]
            scene = sample_scene(rng, num_objects=self.num_objects, scenarios=image_scenarios, seconds=0.0,
                                 aspect=width / height, motions=("still",))
        elif mover_image:
            scene = sample_scene(rng, num_objects=self.num_objects, scenarios=self.mover_scenarios, seconds=seconds,
                                 aspect=width / height, motions=self.mover_motions)
            frames = 1
        elif centred:
            scene = sample_scene(rng, num_objects=1, scenarios=("single",), seconds=seconds,
                                 aspect=width / height, motions=self.centred_motions, start=self.centred_start)
        else:
            scene = sample_scene(rng, num_objects=self.num_objects, scenarios=self.scenarios, seconds=seconds,
                                 aspect=width / height, motions=self.motions, start=self.start)
        text = caption(scene, rng, self.caption_style)
        if self.caption_noise > 0 and rng.random() < self.caption_noise:  # drawn only with a share: streams stay
            text = jostle_caption(text, rng)
        return scene, text, render(scene, width, height, self.fps, frames)

    def __iter__(self):
        worker, workers = _worker()
        index = self.start_batch + worker
        while True:
            yield self.batch(index)
            index += workers

