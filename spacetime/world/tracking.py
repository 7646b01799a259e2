"""Reading a world video by colour alone: per-frame object measurements (../shared/WORLD.md).

Every object colour of the world is saturated and every background, floor and pillar colour
is neutral gray. So a pixel's *opponent chroma* vector

    a = R - (G + B) / 2,   b = sqrt(3) / 2 * (G - B)

has a direction (hue) that names the object colour, and a length that is proportional to
how much of the pixel the object covers: anti-aliasing and blur mix an object colour with
a neutral one, which scales (a, b) and keeps its direction. That gives, per palette colour,
a soft coverage map in [0, 1] from which areas and moments are measured to sub-pixel
accuracy at any size.

Per colour and frame we keep the largest blob (after a small opening that removes noise
and, when asked, a trail thinner than the object), and measure in short-side units `s`
(origin at the canvas centre, x right, y down, as `spacetime.world.vocab`):
centroid, area, and the normalised complex moments

    C_pq = sum w (z - zbar)^p conj(z - zbar)^q / A^((p + q) / 2 + 1)

whose magnitudes are invariant to rotation and scale: |C30| is large only for a triangle
(3-fold symmetry), |C40| only for a square (4-fold), both vanish for a circle; their
phases give the orientation used to measure spin (Flusser, "On the independence of
rotation moment invariants", Pattern Recognition 2000).

The last section turns a track into a motion word (`classify_motion`): least-squares fits
of a line, of parabolas sharing one gravity between bounces (`fit_gravity`), and of a
circle about the canvas centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spacetime.world import vocab

COLOR_NAMES: tuple[str, ...] = tuple(vocab.COLORS)
_PALETTE = np.array([vocab.COLORS[c] for c in COLOR_NAMES], dtype=np.float32)

# A pixel below this chroma (opponent-vector length, 0..~200) carries no colour: the
# backgrounds, floor and pillar are all below 5; the weakest palette colour (pink) is 117.
MIN_CHROMA = 25.0
# Coverage above which a pixel belongs to the hard mask used for blobs (half covered).
HARD_COVERAGE = 0.5
# A blob smaller than this is not an object: (0.045 s)^2, well under a small triangle
# (0.0062 s^2), and never less than a few pixels.
MIN_AREA_S2 = 0.002
MIN_AREA_PX = 5
# Normalised moment magnitudes of the exact shapes (integrated on a fine grid): circle 0/0,
# square |C40| = 1/60, triangle |C30| = 0.0675; thresholds halfway.
_C30_TRIANGLE = 0.0675
_C40_SQUARE = 1.0 / 60.0


def opponent(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Opponent chroma components (a, b) of uint8 frames (..., 3), float32 each (...)."""
    rgb = frames.astype(np.float32)
    a = rgb[..., 0] - 0.5 * (rgb[..., 1] + rgb[..., 2])
    b = (math.sqrt(3) / 2) * (rgb[..., 1] - rgb[..., 2])
    return a, b


_PAL_A, _PAL_B = opponent(_PALETTE)
_PAL_HUE = np.arctan2(_PAL_B, _PAL_A)
_PAL_CHROMA = np.hypot(_PAL_A, _PAL_B)
# nearest palette hue by binning: boundaries halfway between neighbouring palette hues
_HUE_ORDER = np.argsort(_PAL_HUE)
_SORTED_HUE = _PAL_HUE[_HUE_ORDER]
_HUE_BOUNDS = (_SORTED_HUE + np.roll(_SORTED_HUE, -1) + np.r_[np.zeros(len(_SORTED_HUE) - 1), 2 * np.pi]) / 2


def color_coverage(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette colour index (int8, -1 = none) and its coverage (float32 in [0, 1]).

    frames: uint8 (T, H, W, 3). Returns two arrays of shape (T, H, W).
    """
    a, b = opponent(frames)
    chroma = np.hypot(a, b)
    hue = np.arctan2(b, a)
    # bins [bound[k-1], bound[k]) hold sorted hue k; the last bound wraps past +pi
    wrap = _HUE_BOUNDS[-1]
    hue = np.where(hue < wrap - 2 * np.pi, hue + 2 * np.pi, hue)
    hue = np.where(hue >= wrap, hue - 2 * np.pi, hue)
    index = _HUE_ORDER[np.searchsorted(_HUE_BOUNDS[:-1], hue, side="right") % len(_HUE_ORDER)].astype(np.int8)
    coverage = np.clip(chroma / _PAL_CHROMA[index], 0.0, 1.0).astype(np.float32)
    index[chroma < MIN_CHROMA] = -1
    coverage[chroma < MIN_CHROMA] = 0.0
    return index, coverage


# ----------------------------------------------------------------------------------------
# binary morphology and connected components, vectorised over frames (numpy only)
# ----------------------------------------------------------------------------------------
def _box_count(mask: np.ndarray, k: int) -> np.ndarray:
    """Number of True pixels in the k x k box centred on each pixel of (T, H, W)."""
    r0, r1 = (k - 1) // 2, k // 2
    padded = np.pad(mask.astype(np.int32), ((0, 0), (r0 + 1, r1), (r0 + 1, r1)))
    c = padded.cumsum(1).cumsum(2)
    return c[:, k:, k:] - c[:, :-k, k:] - c[:, k:, :-k] + c[:, :-k, :-k]


def erode(mask: np.ndarray, k: int) -> np.ndarray:
    return mask if k <= 1 else _box_count(mask, k) == k * k


def dilate(mask: np.ndarray, k: int) -> np.ndarray:
    return mask if k <= 1 else _box_count(mask, k) > 0


def opening(mask: np.ndarray, k: int) -> np.ndarray:
    """Morphological opening with a k x k box: removes everything a k x k box cannot fit in."""
    return dilate(erode(mask, k), k)


def _disk_offsets(radius: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
            if dy * dy + dx * dx <= radius * radius]


def _shifted(mask: np.ndarray, dy: int, dx: int, radius: int) -> np.ndarray:
    """mask[:, y + dy, x + dx] for every (y, x) of a (T, H, W) mask, False beyond its edges."""
    padded = np.pad(mask, ((0, 0), (radius, radius), (radius, radius)))
    h, w = mask.shape[1:]
    return padded[:, radius + dy : radius + dy + h, radius + dx : radius + dx + w]


def disk_opening(mask: np.ndarray, radius: int) -> np.ndarray:
    """Opening with a digital disk (offsets of length <= radius): keeps what a disk fits in.

    A disk fits a triangle better than a box of the same width does, which matters when
    an object must be told from a line only a little thinner than it (a trail).
    """
    offsets = _disk_offsets(radius)
    eroded = np.ones_like(mask)
    for dy, dx in offsets:
        eroded &= _shifted(mask, dy, dx, radius)
    opened = np.zeros_like(mask)
    for dy, dx in offsets:
        opened |= _shifted(eroded, -dy, -dx, radius)
    return opened


def label_components(mask: np.ndarray) -> np.ndarray:
    """8-connected components of each frame of a (T, H, W) mask; int64 labels, 0 = none.

    Label propagation (each pixel takes the largest label in its 3 x 3 neighbourhood)
    with pointer jumping (a label is 1 + the flat index of a pixel of the same component,
    so a pixel can adopt that pixel's label at once), which converges in a few dozen
    vectorised steps even for long thin blobs.
    """
    t, h, w = mask.shape
    flat_index = np.arange(1, mask.size + 1, dtype=np.int64).reshape(mask.shape)
    labels = np.where(mask, flat_index, 0)
    while True:
        padded = np.pad(labels, ((0, 0), (1, 1), (1, 1)))
        grown = labels.copy()
        for dy in range(3):
            for dx in range(3):
                np.maximum(grown, padded[:, dy : dy + h, dx : dx + w], out=grown)
        grown[~mask] = 0
        for _ in range(2):  # pointer jumping
            flat = grown.ravel()
            on = flat > 0
            flat[on] = np.maximum(flat[on], flat[flat[on] - 1])
        if np.array_equal(grown, labels):
            return labels
        labels = grown


# ----------------------------------------------------------------------------------------
# scene-level features: the checkered floor (camera pan) and the pillar
# ----------------------------------------------------------------------------------------
def floor_shift(frames: np.ndarray, short_side: int) -> tuple[np.ndarray, float]:
    """Displacement (T, 2) of the checkered floor since frame 0 in s units, and its strength.

    The checker (squares of edge e, period P = 2e) is a product of two square waves, whose
    strongest Fourier components sit at the diagonal frequencies (1/P, +-1/P). Their phases
    move by -2 pi (dx +- dy) / P as the floor shifts by (dx, dy); unwrapping them over
    frames gives the shift as long as it stays under e per frame. Only gray pixels near
    the two floor levels are used, so objects and the pillar do not disturb it. The
    strength (about 0.2 for a clear floor, near 0 without one) says whether there is a floor.
    """
    t, h, w = frames.shape[:3]
    period = 2 * vocab.CHECKER_EDGE * short_side  # pixels
    lum = frames.astype(np.float32).mean(-1)
    lo, hi = (float(np.mean(c)) for c in vocab.CHECKER_COLORS)
    chroma = np.ptp(frames, axis=-1)
    floor = (chroma < 12) & (lum > lo - 20) & (lum < hi + 20)
    signal = np.where(floor, lum - (lo + hi) / 2, 0.0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phases = []
    strength = []
    for sign in (1.0, -1.0):
        wave = np.exp(-2j * np.pi * (x + sign * y) / period).astype(np.complex64)
        coef = np.einsum("thw,hw->t", signal.astype(np.complex64), wave)
        norm = np.maximum(np.abs(signal).sum((1, 2)), 1e-6)
        strength.append(np.abs(coef) / norm)
        phases.append(np.unwrap(np.angle(coef)))
    sum_shift = -(phases[0] - phases[0][0]) * period / (2 * np.pi)  # dx + dy, pixels
    diff_shift = -(phases[1] - phases[1][0]) * period / (2 * np.pi)  # dx - dy
    shift = np.stack([(sum_shift + diff_shift) / 2, (sum_shift - diff_shift) / 2], -1) / short_side
    return shift, float(np.median(np.minimum(strength[0], strength[1])))


def pillar_columns(frames: np.ndarray) -> np.ndarray:
    """(T, W) bool: columns that are mostly the pillar's gray in each frame."""
    close = (np.abs(frames.astype(np.int16) - np.array(vocab.PILLAR_COLOR, dtype=np.int16)) < 14).all(-1)
    return close.mean(1) > 0.6


# ----------------------------------------------------------------------------------------
# per-colour tracks
# ----------------------------------------------------------------------------------------
@dataclass
class ColorTrack:
    """One palette colour through a clip: its main blob per frame, s units (arrays (T,))."""

    color: str
    present: np.ndarray  # a blob of at least the minimum area
    area: np.ndarray  # s^2, coverage-weighted
    x: np.ndarray  # centroid, from the canvas centre
    y: np.ndarray
    c30: np.ndarray  # complex, normalised moments (see module docstring)
    c40: np.ndarray
    clipped: np.ndarray  # hidden in part: at the border or pillar, or its area short of the clip's trend
    cut: np.ndarray  # the canvas border or the pillar hides part of the blob (its centroid is pulled inward)
    extra_blobs: np.ndarray  # int: other blobs of this colour above the minimum area
    total_area: np.ndarray  # s^2 of this colour anywhere (blob + trail + stray)
    x_lo: np.ndarray  # horizontal extent of all blobs of this colour (NaN where none)
    x_hi: np.ndarray


def track_colors(
    frames: np.ndarray, *, open_sizes: dict[str, tuple[int, int]] | None = None,
    colors: tuple[str, ...] | None = None
) -> dict[str, ColorTrack]:
    """Measure every palette colour that shows a blob somewhere in `frames` (T, H, W, 3).

    open_sizes: colour name -> (box side, disk radius) in pixels for the colours that may
    paint a trail (a line of the object's colour thinner than the object, see
    `trail_opening`): their masks are opened with both, which removes the line and keeps
    the object. colors: restrict to these names.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w = frames.shape[:3]
    s = min(h, w)
    index, coverage = color_coverage(frames)
    pillar = pillar_columns(frames)  # (T, W)
    min_area_px = max(MIN_AREA_PX, MIN_AREA_S2 * s * s)
    k_noise = 3 if s >= 24 else 1
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    tracks = {}
    for ci, name in enumerate(COLOR_NAMES):
        if colors is not None and name not in colors:
            continue
        is_color = index == ci
        hard = is_color & (coverage >= HARD_COVERAGE)
        if hard.sum() < min_area_px:
            continue
        total_area = np.where(is_color, coverage, 0.0).sum((1, 2)) / (s * s)
        trail_open = (open_sizes or {}).get(name)
        k_open = k_noise if trail_open is None else max(trail_open[0], 2 * trail_open[1] + 1)
        # work inside the box this colour ever touches (plus room for the dilations)
        pad = k_open + 4
        rows_any, cols_any = hard.any((0, 2)), hard.any((0, 1))
        r0, r1 = max(int(rows_any.argmax()) - pad, 0), min(h - int(rows_any[::-1].argmax()) + pad, h)
        c0, c1 = max(int(cols_any.argmax()) - pad, 0), min(w - int(cols_any[::-1].argmax()) + pad, w)
        hard_c, is_color_c = hard[:, r0:r1, c0:c1], is_color[:, r0:r1, c0:c1]
        ch, cw = r1 - r0, c1 - c0
        if trail_open is None:
            cleaned = opening(hard_c, k_open)
        else:  # a box misses diagonal lines, a disk misses straight ones: both must fit
            cleaned = opening(hard_c, trail_open[0]) & disk_opening(hard_c, trail_open[1])
        labels = label_components(cleaned)
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        frame_of = (ids - 1) // (ch * cw)
        big = counts >= min_area_px * 0.6  # opened blobs lose their rim; judged again below
        main = np.zeros(t, dtype=np.int64)
        extra = np.zeros(t, dtype=np.int64)
        order = np.lexsort((counts, frame_of))  # by frame, then by size
        for i in order:  # last (largest) per frame wins
            main[frame_of[i]] = ids[i]
        np.add.at(extra, frame_of[big], 1)
        if not main.any():
            continue
        blob = (labels == main[:, None, None]) & (main[:, None, None] > 0)
        # the blob with its anti-aliased rim (and what the opening removed next to it)
        # (a trail's blob takes only a thin rim: a wider one would take in the start of the line)
        region = dilate(blob, k_open + 2 if trail_open is None else 3) & is_color_c
        wgt = np.where(region, coverage[:, r0:r1, c0:c1], 0.0)
        area_px = wgt.sum((1, 2))
        present = area_px >= min_area_px
        safe = np.maximum(area_px, 1e-9)
        xs, ys = xx[r0:r1, c0:c1], yy[r0:r1, c0:c1]
        cx = (wgt * xs).sum((1, 2)) / safe
        cy = (wgt * ys).sum((1, 2)) / safe
        z = (xs[None] - cx[:, None, None]) + 1j * (ys[None] - cy[:, None, None])
        z2 = z * z
        c30 = (wgt * z2 * z).sum((1, 2)) / safe**2.5
        c40 = (wgt * z2 * z2).sum((1, 2)) / safe**3
        rows, cols = region.any(2), region.any(1)
        touches_border = (
            (rows[:, 0] & (r0 == 0)) | (rows[:, -1] & (r1 == h)) | (cols[:, 0] & (c0 == 0)) | (cols[:, -1] & (c1 == w))
        )
        near_pillar = (dilate(cols[:, None, :], 3)[:, 0, :] & pillar[:, c0:c1]).any(1)
        extra_blobs = np.maximum(extra - present.astype(np.int64), 0)
        any_cols = cleaned.any(1)  # (T, cw)
        has = any_cols.any(1)
        x_lo = np.where(has, c0 + any_cols.argmax(1), np.nan)
        x_hi = np.where(has, c0 + cw - 1 - any_cols[:, ::-1].argmax(1), np.nan)
        # hidden in part (by the border, the pillar or another object): area under what a
        # log-linear fit of the area over time (constant, grow or shrink) expects
        expected_area = _robust_area_trend(area_px, present, touches_border | near_pillar)
        shortfall = area_px < 0.93 * expected_area
        cut = (touches_border | near_pillar) & (area_px < 0.98 * expected_area)
        clipped = shortfall | cut
        tracks[name] = ColorTrack(
            color=name,
            present=present,
            area=area_px / (s * s),
            x=(cx + 0.5 - w / 2) / s,
            y=(cy + 0.5 - h / 2) / s,
            c30=c30,
            c40=c40,
            clipped=clipped | ~present,
            cut=cut | ~present,
            extra_blobs=extra_blobs,
            total_area=total_area,
            x_lo=(x_lo - w / 2) / s,  # left edge of the leftmost pixel
            x_hi=(x_hi + 1 - w / 2) / s,
        )
    return tracks


def trail_opening(shape: str, size: float, short_side: int) -> tuple[int, int]:
    """(box side, disk radius) in pixels that fit in an object of `shape` and `size` (s)
    but not, together, in its trail.

    The pixels at least half covered by a trail of width w = 0.3 x size lie within about
    w / 2 of its centre line. A digital disk of radius r > w / 2 does not fit in a straight
    (horizontal or vertical) line, a box of side floor(w) + 2 not in a diagonal one. Each
    must still fit in the object (less half a pixel for the half-covered rim): a box of
    0.71 x the diameter of a circle, 0.46 x the side of a triangle; a disk of radius 0.5 x
    the size of a circle or square, 0.289 x the side of a triangle. For objects too small
    for that, the largest that fit are returned (the line then stays in part).
    """
    size_px = size * short_side
    trail_px = vocab.TRAIL_WIDTH * size_px
    box_fits = {"circle": 0.71, "square": 1.0, "triangle": 0.46}[shape] * size_px - 0.5
    disk_fits = {"circle": 0.5, "square": 0.5, "triangle": 0.5 / math.sqrt(3)}[shape] * size_px - 0.5
    box = max(1, min(int(math.floor(trail_px)) + 2, int(math.floor(box_fits))))
    radius = max(1, min(int(math.floor(trail_px / 2)) + 1, int(math.floor(disk_fits))))
    return box, radius


def _robust_area_trend(area: np.ndarray, present: np.ndarray, touching: np.ndarray) -> np.ndarray:
    """exp of a line fitted to log(area) over time, refitted without the frames far below it.

    Frames where the blob touches the border or the pillar are left out of the first fit
    when enough others remain (they are the ones likely to be partly hidden).
    """
    t = np.arange(len(area), dtype=np.float64)
    use = present & ~touching
    if use.sum() < 3:  # hidden in part most of the time: the largest view is the reference
        return np.full(len(area), area[present].max() if present.any() else 0.0)
    trend = np.full(len(area), area[present].max() if present.any() else 0.0)
    slope = 0.0
    for _ in range(3):
        if use.sum() < 3:
            break
        slope, intercept = np.polyfit(t[use], np.log(area[use]), 1)
        trend = np.exp(intercept + slope * t)
        use = present & (area > 0.93 * trend)
    if abs(slope) * max(len(area) - 1, 1) < 0.6:  # constant size: an upper quantile resists occlusions
        return np.full(len(area), np.percentile(area[present & ~touching], 90))
    return trend


def classify_shape(c30: complex, c40: complex) -> str:
    """circle / square / triangle from the normalised moments of one blob."""
    tri, sq = abs(c30) / _C30_TRIANGLE, abs(c40) / _C40_SQUARE
    if tri < 0.5 and sq < 0.5:
        return "circle"
    return "triangle" if tri >= sq else "square"


def shape_size(shape: str, area_s2: float) -> float:
    """Diameter / side length (s) of a `shape` of the given area."""
    if shape == "circle":
        return 2.0 * math.sqrt(area_s2 / math.pi)
    if shape == "triangle":
        return math.sqrt(4.0 * area_s2 / math.sqrt(3.0))
    return math.sqrt(area_s2)


STILL_SPEED = 0.06  # s/s: slower than this is "still" (the slowest motion is 0.15)
GROWTH_LOG_RATE = 0.5 * math.log(vocab.GROWTH_PER_SECOND)  # half the true log size rate
SPIN_RATE = 0.5 * math.radians(vocab.SPIN_DEGREES_PER_SECOND)  # rad/s, half the true rate
ORBIT_RATE = 2 * math.pi / vocab.ORBIT_PERIOD


# ----------------------------------------------------------------------------------------
# motion from a track (s units, seconds, y down)
# ----------------------------------------------------------------------------------------
def linear_fit(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares p = p0 + v t for p (N, D): (p0, v, rms residual)."""
    design = np.stack([np.ones_like(t), t], 1)
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    rms = float(np.sqrt(np.mean(np.sum((design @ coef - p) ** 2, -1))))
    return coef[0], coef[1], rms


def fit_gravity(t: np.ndarray, y: np.ndarray, min_points: int = 3) -> tuple[float | None, float]:
    """Gravity (s/s^2, y down) of a bouncing track: parabolas between impacts sharing one g.

    Impacts are the frames where the vertical velocity turns from down to up by a clear
    jump; they are left out (the kink lies between frames). A gap in the samples (the
    object hidden) also ends a segment, since an impact may hide in it. Each flight segment j gets its
    own y_j + v_j t and all share the 1/2 g t^2 term, solved by linear least squares.
    Returns (g, rms residual), or (None, inf) with too few points.
    """
    if len(t) < min_points + 2:
        return None, math.inf
    vel = np.diff(y) / np.diff(t)  # velocity between frames k and k+1
    impacts = [k for k in range(1, len(vel)) if vel[k - 1] > 0 and vel[k] < 0 and vel[k - 1] - vel[k] > 0.3]
    step = float(np.median(np.diff(t)))
    runs, current = [], []
    for k in range(len(t)):
        if k in impacts or (current and t[k] - t[current[-1]] > 1.5 * step):
            runs.append(current)
            current = []
        if k not in impacts:
            current.append(k)
    runs.append(current)
    segments = [np.array(run) for run in runs if len(run) >= min_points]
    if not segments:
        return None, math.inf
    rows = sum(len(s) for s in segments)
    design = np.zeros((rows, 1 + 2 * len(segments)))
    target = np.zeros(rows)
    r = 0
    for j, seg in enumerate(segments):
        n = len(seg)
        design[r : r + n, 0] = 0.5 * t[seg] ** 2
        design[r : r + n, 1 + 2 * j] = 1.0
        design[r : r + n, 2 + 2 * j] = t[seg]
        target[r : r + n] = y[seg]
        r += n
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    rms = float(np.sqrt(np.mean((design @ coef - target) ** 2)))
    return float(coef[0]), rms


def _orbit_fit(t: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Circle about the canvas centre: (radius, angular rate rad/s, rms residual).

    The angle is unwrapped within runs of consecutive samples only (a long gap, the object
    hidden, may hide more than half a turn); the runs share the rate, fitted by least
    squares with one offset per run, and the phase is their circular mean.
    """
    radius = np.hypot(p[:, 0], p[:, 1])
    raw = np.arctan2(p[:, 1], p[:, 0])
    step = float(np.median(np.diff(t)))
    runs = np.split(np.arange(len(t)), np.flatnonzero(np.diff(t) > 1.5 * step) + 1)
    design = np.zeros((len(t), 1 + len(runs)))
    angle = np.zeros(len(t))
    for j, run in enumerate(runs):
        angle[run] = np.unwrap(raw[run])
        design[run, 0] = t[run]
        design[run, 1 + j] = 1.0
    coef, *_ = np.linalg.lstsq(design, angle, rcond=None)
    rate = float(coef[0])
    phase = float(np.angle(np.mean(np.exp(1j * (raw - rate * t)))))
    r = float(np.median(radius))
    fit = r * np.stack([np.cos(phase + rate * t), np.sin(phase + rate * t)], 1)
    return r, float(rate), float(np.sqrt(np.mean(np.sum((fit - p) ** 2, -1))))


def direction_word(v: np.ndarray) -> str:
    """The nearest of the eight direction words to velocity v (y down)."""
    names = list(vocab.DIRECTIONS)
    units = np.array([vocab.DIRECTIONS[n] for n in names])
    return names[int(np.argmax(units @ (v / max(np.linalg.norm(v), 1e-12))))]


def classify_motion(
    t: np.ndarray, x: np.ndarray, y: np.ndarray, size_rate: float | None = None, spin_rate: float | None = None
) -> dict:
    """Motion class of one object from its track (floor coordinates, frames it is seen well).

    t (N,) seconds; x, y (N,) s units; size_rate: d log(size) / dt (1/s) measured where the
    object is seen whole, or None; spin_rate: the rate (rad/s) of the shape's angle, or
    None for a circle. Order of tests: grow / shrink (log-size slope), spin
    (orientation rate with the centre fixed), bounce (downward gravity explains the
    vertical path much better than a line), orbit (a circle about the canvas centre fits
    much better than a line), then still or the nearest of eight directions.
    """
    out: dict = {"motion": "still", "speed": 0.0, "gravity": None}
    if len(t) < 3 or t[-1] - t[0] <= 0:
        return out
    p = np.stack([x, y], 1)
    _, v, rms_line = linear_fit(t, p)
    speed = float(np.linalg.norm(v))
    out.update(speed=speed, velocity=[float(v[0]), float(v[1])], size_rate=size_rate)
    if size_rate is not None and size_rate > GROWTH_LOG_RATE:
        out["motion"] = "grow"
        return out
    if size_rate is not None and size_rate < -GROWTH_LOG_RATE:
        out["motion"] = "shrink"
        return out
    if spin_rate is not None:
        out["spin_rate"] = spin_rate
        if abs(spin_rate) > SPIN_RATE and speed < STILL_SPEED:
            out["motion"] = "spin"
            return out
    g, rms_bounce = fit_gravity(t, y)
    _, _, rms_line_y = linear_fit(t, y[:, None])
    out["gravity"] = g
    if g is not None and g > 0.4 * vocab.GRAVITY and rms_bounce < 0.5 * rms_line_y and rms_line_y > 0.004:
        out["motion"] = "bounce"
        return out
    radius, rate, rms_orbit = _orbit_fit(t, p)
    if (
        0.5 * vocab.ORBIT_RADIUS < radius < 1.6 * vocab.ORBIT_RADIUS
        and 0.5 * ORBIT_RATE < abs(rate) < 2.0 * ORBIT_RATE
        and rms_orbit < 0.5 * rms_line
    ):
        out.update(motion="orbit", orbit_rate=rate, orbit_radius=radius)
        return out
    if speed >= STILL_SPEED:
        out["motion"] = direction_word(v)
    return out
