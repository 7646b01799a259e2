"""Buckets of (frames, height, width) within a token budget: Sora-style native sizes.

Instead of cropping every clip to one square size, clips are grouped into buckets of many
aspect ratios and lengths, each holding about `token_budget` DiT tokens per clip (a long
clip gets fewer pixels per frame, an image the most), with a batch size per bucket so
every batch carries about the same number of tokens. A clip goes to the bucket nearest
its aspect ratio among those no longer than it; it is resized (never cropped to a square)
and only the small residual between its aspect ratio and the bucket's is fill-cropped.

Token count of a clip of T frames at H x W, with the VAE's 4x temporal and 8x spatial
compression and 1x2x2 patches: (1 + ceil((T - 1) / 4)) * (H / 16) * (W / 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_ASPECT_RATIOS = (2.0, 16 / 9, 4 / 3, 1.0, 3 / 4, 9 / 16, 0.5)


@dataclass(frozen=True)
class Bucket:
    frames: int
    height: int
    width: int
    batch_size: int = 1
    ratio: float = 0.0  # the nominal aspect ratio it was made for (sides are rounded to multiples of 16)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.frames, self.height, self.width

    @property
    def aspect(self) -> float:
        return self.ratio or self.width / self.height


def num_tokens(frames: int, height: int, width: int, *, spatial: int = 8, temporal: int = 4,
               patch: tuple[int, int, int] = (1, 2, 2)) -> int:
    """DiT tokens of one clip (frames, height, width) in pixels."""
    latent_t = 1 + math.ceil((frames - 1) / temporal)
    pt, ph, pw = patch
    return math.ceil(latent_t / pt) * math.ceil(height / spatial / ph) * math.ceil(width / spatial / pw)


def make_buckets(token_budget: int, *, aspect_ratios=DEFAULT_ASPECT_RATIOS, frame_counts=(1, 17, 33),
                 batch_size: int = 1, spatial: int = 8, temporal: int = 4, patch=(1, 2, 2), multiple_of: int = 16,
                 min_side: int = 16, max_batch: int = 256) -> list[Bucket]:
    """Every (frames, height, width) of `frame_counts` x `aspect_ratios` with at most `token_budget` tokens.

    Each shape is the largest of its aspect ratio (sides multiples of `multiple_of`) that fits
    the budget. `batch_size` is the batch of the bucket with the most tokens; the others get
    floor(batch_size * max tokens / their tokens), so batches carry about the same token count.
    """
    if token_budget < 1 or batch_size < 1 or multiple_of < 1:
        raise ValueError("token_budget, batch_size and multiple_of must be positive")
    for t in frame_counts:
        if t < 1 or (t - 1) % temporal:
            raise ValueError(f"frame count {t} must be 1 + {temporal}k for a causal {temporal}x VAE")
    pixels_per_token = (spatial * patch[1]) * (spatial * patch[2])
    shapes: dict[tuple[int, int, int], float] = {}
    for frames in frame_counts:
        token_frames = math.ceil((1 + (frames - 1) // temporal) / patch[0])
        area = token_budget / token_frames * pixels_per_token  # pixels per frame
        for aspect in aspect_ratios:
            height = int(math.sqrt(area / aspect)) // multiple_of * multiple_of
            width = int(height * aspect) // multiple_of * multiple_of
            while height >= min_side and width >= min_side and num_tokens(
                    frames, height, width, spatial=spatial, temporal=temporal, patch=patch) > token_budget:
                height -= multiple_of
                width = int(height * aspect) // multiple_of * multiple_of
            if height >= min_side and width >= min_side:
                shapes.setdefault((frames, height, width), float(aspect))
    if not shapes:
        raise ValueError(f"no bucket fits {token_budget} tokens with sides >= {min_side}; raise the token budget")
    tokens = {s: num_tokens(*s, spatial=spatial, temporal=temporal, patch=patch) for s in shapes}
    most = max(tokens.values())
    return [Bucket(*s, batch_size=max(1, min(max_batch, batch_size * most // tokens[s])), ratio=shapes[s])
            for s in sorted(shapes, key=lambda s: (s[0], shapes[s], s[1]))]


def assign_bucket(buckets: list[Bucket], width: int, height: int, available_frames: int,
                  image: bool = False) -> Bucket | None:
    """The bucket for a clip: nearest nominal aspect ratio (log space) among buckets no longer than the clip.

    Ties go to the longest, then the largest bucket. `image`: one-frame buckets only.
    None when no bucket fits (the clip is too short, or there is no image bucket).
    """
    usable = [b for b in buckets if (b.frames == 1 if image else 1 < b.frames <= available_frames)]
    if not usable:
        return None
    log_aspect = math.log(width / height)
    return min(usable, key=lambda b: (round(abs(math.log(b.aspect) - log_aspect), 6), -b.frames, -b.height * b.width))
