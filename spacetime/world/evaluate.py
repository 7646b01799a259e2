"""The world evaluator: does a video show what its prompt or scene asks (../shared/WORLD.md)?

A video is read by colour alone (`spacetime.world.tracking`): each palette colour gives a
track of its main blob (centroid, area, shape moments). Against the expected `Scene` (or
a prompt, parsed into one) each expected object is checked for

- prompt adherence: colour present, shape, motion class (and, coarser, whether it moves at
  all), size class, speed class; the number of objects in the clip;
- consistency: present in the frames where it should be, a stable size (except grow /
  shrink), no unexpected colour appearing, a trail that stays painted;
- physics: the gravity fitted to a bounce (piecewise parabolas sharing one g) against
  g = 2.0 s/s^2; momentum and energy kept through a collision;
- camera: the pan direction, from the shift of the checkered floor (object motion is
  judged in floor coordinates, so a pan does not read as object motion).

Conditioned generation has its own metrics: `seam_continuity`, `loop_closure`,
`connection_endpoints` and `given_frame_fidelity` (PSNR).

`evaluate_video` returns one dict per clip; `evaluate_many` aggregates rates over clips;
`summary_table` prints them. `spacetime world eval` wraps it all (see the CLI functions
at the end).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from spacetime.errors import RequestError, SpacetimeError, SpacetimeWarning
from spacetime.world import vocab
from spacetime.world.scene import Scene, camera_offset, object_states
from spacetime.world.tracking import (
    MIN_AREA_PX,
    MIN_AREA_S2,
    ColorTrack,
    classify_motion,
    classify_shape,
    color_coverage,
    dilate,
    direction_word,
    floor_shift,
    linear_fit,
    shape_size,
    track_colors,
    trail_opening,
)

# --- thresholds (short-side units and seconds) -------------------------------------------
PRESENCE_RATE = 0.95  # share of frames an object must be seen in, where it should be
SIZE_TOLERANCE = 0.10  # relative spread of size allowed for a constant-size object
GRAVITY_TOLERANCE = 0.20  # |g_fit - g| / g
COLLISION_TOLERANCE = 0.20  # momentum and energy, relative
FLOOR_STRENGTH = 0.05  # floor_shift strength above which a checkered floor is tracked
CONNECT_PSNR = 25.0  # dB
GIVEN_FRAME_PSNR = 30.0  # dB
LOOP_RATIO = 1.5  # last-to-first difference / median frame-to-frame difference

OBJECT_CHECKS = ("color", "shape", "motion", "moves", "size", "speed", "presence", "size_stable", "gravity", "trail")
CLIP_CHECKS = ("count", "no_appearance", "collision", "camera", "seam", "loop")


# ----------------------------------------------------------------------------------------
# expected scene
# ----------------------------------------------------------------------------------------
def expected_scene(expected) -> tuple[Scene, bool]:
    """(Scene, positions_known) from a Scene, a scene dict, or a prompt string.

    A prompt only names words (colour, shape, motion, ...), so its start positions are not
    ground truth; a Scene or dict (the world export's `scene`) is.
    """
    if isinstance(expected, Scene):
        return expected, True
    if isinstance(expected, dict):
        return Scene.from_dict(expected), True
    if isinstance(expected, str):
        from spacetime.world.parse import parse_prompt

        return parse_prompt(expected), False
    raise RequestError(f"expected must be a Scene, a scene dict or a prompt string, got {type(expected).__name__}")


def _nearest_word(value: float, table: dict[str, float]) -> str:
    return min(table, key=lambda k: abs(math.log(max(value, 1e-9) / table[k])))


def _motion_matches(expected: str, measured: str, shape: str) -> bool:
    if expected == measured:
        return True
    return expected == "spin" and shape == "circle" and measured == "still"  # a spinning circle looks still


# ----------------------------------------------------------------------------------------
# one clip
# ----------------------------------------------------------------------------------------
def _visible_share(x, y, size, half_w, half_h, pillar_x) -> np.ndarray:
    """Rough share (T,) of an object's extent inside the canvas and not behind the pillar."""
    half = np.maximum(size / 2, 1e-9)

    def overlap(lo, hi, a, b):
        return np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)

    share_x = overlap(x - half, x + half, -half_w, half_w)
    if pillar_x is not None:
        pw = vocab.PILLAR_WIDTH / 2
        share_x = share_x - overlap(x - half, x + half, pillar_x - pw, pillar_x + pw)
    share_y = overlap(y - half, y + half, -half_h, half_h)
    return np.clip(share_x / (2 * half), 0, 1) * np.clip(share_y / (2 * half), 0, 1)


def _expected_sizes(obj, times) -> np.ndarray:
    if obj.motion == "grow":
        return obj.diameter * vocab.GROWTH_PER_SECOND**times
    if obj.motion == "shrink":
        return obj.diameter * vocab.GROWTH_PER_SECOND ** (-times)
    return np.full_like(times, obj.diameter)


def _should_be_seen(scene, obj_index, tracks, times, aspect, positions_known, short_side) -> np.ndarray:
    """(T,) frames where the object must be visible (most of it, and a few pixels), and
    (T,) frames where it is wholly visible (None when positions are unknown).

    Frames where another object, drawn in front, overlaps it are excused too.
    """
    track = tracks.get(scene.objects[obj_index].color)
    obj = scene.objects[obj_index]
    half_w, half_h = 0.5 * max(aspect, 1.0), 0.5 * max(1.0 / aspect, 1.0)
    size = _expected_sizes(obj, times)
    # big enough to survive the 3 x 3 noise opening and twice the minimum area
    area_px = (size * short_side) ** 2 * {"circle": math.pi / 4, "square": 1.0, "triangle": math.sqrt(3) / 4}[obj.shape]
    inscribed = size * short_side * (1 / math.sqrt(3) if obj.shape == "triangle" else 1.0)  # pixels
    big_enough = (inscribed >= 4.0) & (area_px >= 2 * max(MIN_AREA_PX, MIN_AREA_S2 * short_side**2))
    if positions_known:
        gt = object_states(scene, times, aspect)[obj_index]
        pillar_x = _pillar_positions(scene, times) if scene.pillar else None
        share = _visible_share(gt.x, gt.y, gt.size, half_w, half_h, pillar_x)
        states = object_states(scene, times, aspect)
        covered = np.zeros(len(times), dtype=bool)
        for other in states[obj_index + 1 :]:  # drawn later, so in front
            covered |= np.hypot(gt.x - other.x, gt.y - other.y) < (gt.size + other.size) / 2
        return big_enough & (share >= 0.6) & ~covered, (share >= 0.999) & ~covered
    should = big_enough.copy()
    if track is None or not track.present.any():
        return should, None
    # positions unknown: excuse missing frames next to where the object was last / next seen
    # at the border or the pillar (it left the canvas or went behind the pillar)
    seen = np.flatnonzero(track.present)
    for k in np.flatnonzero(~track.present):
        before, after = seen[seen < k], seen[seen > k]
        for j in ([before[-1]] if before.size else []) + ([after[0]] if after.size else []):
            r = size[j] / 2 + 0.02
            at_border = abs(track.x[j]) + r >= half_w or abs(track.y[j]) + r >= half_h
            at_pillar = scene.pillar and abs(track.x[j]) <= vocab.PILLAR_WIDTH / 2 + r
            behind_other = any(
                o is not track and o.present[k] and math.hypot(o.x[k] - track.x[j], o.y[k] - track.y[j]) < 2 * r
                + math.sqrt(o.area[k])
                for o in tracks.values()
            )
            if at_border or at_pillar or behind_other:
                should[k] = False
    return should, None


def _pillar_positions(scene, times) -> np.ndarray:
    """x (T,) of the pillar's centre in the frame: it stands at the world origin."""
    return -camera_offset(scene, times)[:, 0]


def _collision_check(scene, tracks, times, floor) -> dict | None:
    """Elastic equal-mass collision of the first two objects: momentum and energy kept, and
    the velocity components along the line of centres exchanged.

    The contact is the frame where the two centres come closest; velocities are fitted on
    the frames before it and after it (leaving one frame out on each side).
    """
    if not scene.collide:
        return None
    a, b = (tracks.get(o.color) for o in scene.objects[:2])
    if a is None or b is None:
        return {"passed": False, "reason": "an object is missing"}
    both = a.present & b.present & ~a.clipped & ~b.clipped
    pa = np.stack([a.x, a.y], 1) - floor
    pb = np.stack([b.x, b.y], 1) - floor
    dist = np.where(both, np.linalg.norm(pa - pb, axis=1), np.inf)
    reach = (scene.objects[0].diameter + scene.objects[1].diameter) / 2
    first = int(np.argmin(dist))  # frames straddle the contact: the closest one marks it
    if not dist[first] <= 1.6 * reach:
        return {"passed": False, "reason": "the objects never meet"}
    before = both.copy()
    before[max(first - 1, 0) :] = False
    after = both.copy()
    after[: first + 2] = False
    if before.sum() < 3 or after.sum() < 3:
        return {"passed": None, "reason": "too few frames before or after the contact"}
    va_b = linear_fit(times[before], pa[before])[1]
    vb_b = linear_fit(times[before], pb[before])[1]
    va_a = linear_fit(times[after], pa[after])[1]
    vb_a = linear_fit(times[after], pb[after])[1]
    scale = max(np.linalg.norm(va_b) + np.linalg.norm(vb_b), 1e-6)
    momentum_error = float(np.linalg.norm((va_a + vb_a) - (va_b + vb_b)) / scale)
    energy_before = float(va_b @ va_b + vb_b @ vb_b)
    energy_ratio = float((va_a @ va_a + vb_a @ vb_a) / max(energy_before, 1e-12))
    # equal masses, elastic: the velocity components along the line of centres swap, so
    # each object must leave with the other's (passing through each other would not)
    normal = pb[first] - pa[first]
    normal = normal / max(np.linalg.norm(normal), 1e-12)
    swap = ((va_b - vb_b) @ normal) * normal
    exchange_error = float(
        (np.linalg.norm(va_a - (va_b - swap)) + np.linalg.norm(vb_a - (vb_b + swap))) / scale
    )
    return {
        "passed": bool(
            momentum_error <= COLLISION_TOLERANCE
            and abs(energy_ratio - 1) <= COLLISION_TOLERANCE
            and exchange_error <= COLLISION_TOLERANCE
        ),
        "momentum_error": momentum_error,
        "energy_ratio": energy_ratio,
        "exchange_error": exchange_error,
        "contact_time": float(times[first]),
    }


def _orientation(track: ColorTrack, frames: np.ndarray, shape: str) -> np.ndarray | None:
    """Unwrapped shape angle (radians) from the phase of C40 (square) or C30 (triangle)."""
    if shape == "square":
        return np.unwrap(np.angle(track.c40[frames]) * 1.0) / 4.0
    if shape == "triangle":
        return np.unwrap(np.angle(track.c30[frames])) / 3.0
    return None


def trail_kept(frames: np.ndarray, color: str, track: ColorTrack, size: float) -> float | None:
    """Share of the trail painted by 3/4 of the clip that is still painted in the last frame.

    (The frame nearest 3/4 of the clip where the object is seen whole.)

    Trail pixels: the colour, at least half covered, away from the object itself (beyond
    0.8 x its size from its centre). In the last frame a pixel counts as kept if it, or a
    neighbour, still shows an object colour (another object or trail may be drawn over it). None when
    the object has not moved far enough by then to leave a trail beside itself.
    """
    t_count, h, w = frames.shape[:3]
    s = min(h, w)
    seen = np.flatnonzero(track.present & ~track.clipped)
    if seen.size == 0:
        return None
    # the clear view nearest 3/4 of the clip: there the object can be told from its trail
    mid = int(seen[np.argmin(np.abs(seen - (3 * t_count) // 4))])
    if mid == t_count - 1:
        return None
    index, coverage = color_coverage(frames[[mid, -1]])
    from spacetime.world.tracking import COLOR_NAMES

    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = track.x[mid] * s + w / 2 - 0.5, track.y[mid] * s + h / 2 - 0.5
    away = np.hypot(xx - cx, yy - cy) > 0.8 * size * s
    painted = (index[0] == COLOR_NAMES.index(color)) & (coverage[0] >= 0.5) & away
    if painted.sum() < (vocab.TRAIL_WIDTH * size * s) ** 2:
        first = seen[0]
        travelled = math.hypot(track.x[mid] - track.x[first], track.y[mid] - track.y[first])
        # moved well past its own size, so a trail should show: there is none
        return 0.0 if travelled > 1.2 * size else None
    # one pixel of slack: where two colours meet, anti-aliasing mixes them toward gray
    still = dilate(((index[1] >= 0) & (coverage[1] >= 0.5))[None], 3)[0]
    return float(still[painted].mean())


def _longest_run(frames: np.ndarray) -> np.ndarray:
    """The longest run of consecutive frame indices in a sorted index array."""
    if frames.size == 0:
        return frames
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    runs = np.split(frames, breaks)
    return max(runs, key=len)


def _centre_beside_pillar(track: ColorTrack, pillar_x: np.ndarray, width: float, partial: np.ndarray,
                         pixel: float) -> np.ndarray:
    """Object centre x (T,) from the outer edges of its visible parts beside the pillar, in
    the `partial` frames (elsewhere the centroid); `width` is the object's expected width."""
    left, right = pillar_x - vocab.PILLAR_WIDTH / 2 - pixel, pillar_x + vocab.PILLAR_WIDTH / 2 + pixel
    both_sides = (track.x_lo < left) & (track.x_hi > right)
    left_side = track.x_hi <= right
    x = np.where(left_side, track.x_lo + width / 2, track.x_hi - width / 2)
    x = np.where(both_sides, (track.x_lo + track.x_hi) / 2, x)
    return np.where(partial & np.isfinite(x), x, track.x)


def _evaluate_object(scene, index, track, frames, times, should, whole, floor, positions_known, aspect, min_side) -> dict:
    obj = scene.objects[index]
    expected = {"color": obj.color, "shape": obj.shape, "size": obj.size, "motion": obj.motion, "speed": obj.speed}
    checks: dict = {name: None for name in OBJECT_CHECKS}
    result = {"expected": expected, "measured": {}, "checks": checks}
    if positions_known and not should.any():
        # hidden (behind another object, the pillar or outside) in every frame: nothing to judge
        result["measured"]["hidden"] = True
        return result
    if should.any():
        seen_rate = float(track.present[should].mean()) if track is not None else 0.0
        result["measured"]["presence"] = seen_rate
        checks["presence"] = seen_rate >= PRESENCE_RATE
    found = track is not None and track.present.sum() >= max(min(2, len(times)), 0.5 * should.sum())
    checks["color"] = bool(found)
    if not found:
        for name in ("shape", "motion", "moves"):
            checks[name] = False
        if positions_known or obj.size != vocab.DEFAULT_SIZE:
            checks["size"] = False
        if obj.motion in vocab.DIRECTIONS and (positions_known or obj.speed != vocab.DEFAULT_SPEED):
            checks["speed"] = False
        if obj.motion == "bounce":
            checks["gravity"] = False
        return result
    seen = np.flatnonzero(track.present)
    clear = np.flatnonzero(track.present & ~track.clipped)  # wholly visible
    if whole is not None and np.any(track.present & whole):  # the ground truth knows better
        clear = np.flatnonzero(track.present & whole)
    shape_frames = clear if clear.size else seen
    good = clear if clear.size >= 5 else seen  # for motion: partial views beat none
    shape_track = track
    if obj.trail:
        # the line joins the object once it moves: judge shape and size before that, on
        # those frames measured again without the opening that removes the line
        x0, y0 = track.x[seen[0]], track.y[seen[0]]
        moved = np.hypot(track.x[seen] - x0, track.y[seen] - y0)
        early = seen[moved <= 0.25 * obj.diameter]
        if early.size:
            early_tracks = track_colors(frames[: early[-1] + 1], colors=(obj.color,))
            if obj.color in early_tracks:
                shape_track = early_tracks[obj.color]
                shape_frames = early[shape_track.present[early]]
    # the median moment magnitudes over the frames: robust to a few frames spoiled by
    # compression or overlap (the magnitudes do not depend on the angle, so spin is fine)
    shape = "circle"
    if shape_frames.size:
        shape = classify_shape(float(np.median(np.abs(shape_track.c30[shape_frames]))),
                               float(np.median(np.abs(shape_track.c40[shape_frames]))))
    checks["shape"] = shape == obj.shape
    sizes = np.array([shape_size(shape, a) for a in shape_track.area[shape_frames]]) if shape_frames.size else np.ones(1)
    x = track.x
    if scene.pillar:
        # partly behind the pillar: the edges away from it are unbiased, the centroid is not
        partial = ~whole if whole is not None else track.clipped
        x = _centre_beside_pillar(track, _pillar_positions(scene, times), obj.diameter, partial, 1.0 / min_side)
    # the track in floor coordinates (a camera pan moves floor and objects together)
    x, y = x - floor[:, 0], track.y - floor[:, 1]
    motion_frames = good
    if scene.collide and index < 2:  # judge the motion before the collision changes it
        motion_frames = good[times[good] < _contact_time_estimate(scene, times, aspect)]
        if motion_frames.size < 3:
            motion_frames = good[:3]
    spin_frames = _longest_run(np.intersect1d(seen, np.arange(motion_frames[0], motion_frames[-1] + 1)))
    spin = None
    if spin_frames.size >= 3 and shape != "circle":
        orientation = _orientation(track, spin_frames, shape)
        spin = float(np.polyfit(times[spin_frames], orientation, 1)[0])
    size_rate = None
    if clear.size >= 3 and times[clear[-1]] > times[clear[0]]:
        size_rate = float(np.polyfit(times[clear], 0.5 * np.log(track.area[clear]), 1)[0])
    motion = classify_motion(times[motion_frames], x[motion_frames], y[motion_frames], size_rate, spin)
    judged = len(motion_frames) >= 3  # an image or a glimpse has no motion to judge
    checks["motion"] = _motion_matches(obj.motion, motion["motion"], obj.shape) if judged else None
    # coarser than the class: does it move when it should and keep still when it should
    # (a spinning circle looks still), whatever the direction or kind of motion
    looks_still = _motion_matches(obj.motion, "still", obj.shape)
    checks["moves"] = (motion["motion"] == "still") == looks_still if judged else None
    # size at t = 0 (grow / shrink change it at a known rate)
    rate = {"grow": 1.0, "shrink": -1.0}.get(obj.motion, 0.0) * math.log(vocab.GROWTH_PER_SECOND)
    size0 = float(np.median(sizes * np.exp(-rate * times[shape_frames])))
    # a prompt that names no size or speed gets the defaults: judge only words it named
    if positions_known or obj.size != vocab.DEFAULT_SIZE:
        checks["size"] = _nearest_word(size0, vocab.SIZES) == obj.size
    if judged and obj.motion in vocab.DIRECTIONS and (positions_known or obj.speed != vocab.DEFAULT_SPEED):
        checks["speed"] = _nearest_word(motion["speed"], vocab.SPEEDS) == obj.speed
    if obj.motion not in ("grow", "shrink") and clear.size >= 2:
        all_sizes = np.array([shape_size(shape, a) for a in track.area[clear]])
        spread = float((np.percentile(all_sizes, 95) - np.percentile(all_sizes, 5)) / np.median(all_sizes))
        result["measured"]["size_spread"] = spread
        checks["size_stable"] = spread <= SIZE_TOLERANCE * (2.0 if obj.trail else 1.0)
    if obj.motion == "bounce":
        g = motion.get("gravity")
        result["measured"]["gravity"] = g
        if good is clear:  # partial views bias the centroid: fit gravity on whole views only
            checks["gravity"] = g is not None and abs(g - vocab.GRAVITY) / vocab.GRAVITY <= GRAVITY_TOLERANCE
    if obj.trail:
        kept = trail_kept(frames, obj.color, track, obj.diameter)
        result["measured"]["trail_kept"] = kept
        checks["trail"] = None if kept is None else kept >= 0.9
    result["measured"].update(shape=shape, size=_nearest_word(size0, vocab.SIZES), size_s=size0, **motion)
    if positions_known:
        gt = object_states(scene, times, aspect)[index]
        err = np.hypot(track.x[good] - gt.x[good], track.y[good] - gt.y[good])
        result["measured"]["position_error"] = float(np.median(err))
    return result


def _contact_time_estimate(scene, times, aspect) -> float:
    """When the two colliding objects first touch, from the scene (start positions)."""
    reach = (scene.objects[0].diameter + scene.objects[1].diameter) / 2
    gt = object_states(scene, times, aspect)
    d = np.hypot(gt[0].x - gt[1].x, gt[0].y - gt[1].y)
    # frames straddle the instant of contact: the closest frame marks it
    closest = int(np.argmin(d))
    return float(times[closest]) if d[closest] <= 1.6 * reach else float(times[-1] + 1)


def _size_bound(obj, positions_known: bool) -> float:
    if positions_known or obj.size != vocab.DEFAULT_SIZE:
        return obj.diameter
    return min(vocab.SIZES.values())


def evaluate_video(
    frames: np.ndarray, fps: float, expected, *, seam_frame: int | None = None, loop: bool = False,
    positions_known: bool | None = None,
) -> dict:
    """Check one clip against its expected scene or prompt; a JSON-ready dict.

    frames: uint8 (T, H, W, 3); fps: frames per second; expected: a `Scene`, a scene dict,
    or a prompt (parsed with `spacetime.world.parse.parse_prompt`; its start positions are
    then unknown, and presence is judged from the track itself). seam_frame / loop add the
    extension-seam and loop-closure metrics. positions_known=False judges a Scene by its
    words only (a video generated from its caption starts objects anywhere). Result:
    {"checks": {name: bool | None}, "objects": [...], "camera": {...}, ...}; a check is
    None where it does not apply.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise RequestError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if not fps > 0:
        raise RequestError(f"fps must be positive, got {fps}")
    scene, known = expected_scene(expected)
    positions_known = known if positions_known is None else bool(positions_known) and known
    t_count, h, w = frames.shape[:3]
    short_side, aspect = min(h, w), w / h
    times = np.arange(t_count) / float(fps)
    # a trail is removed by an opening sized to its object; a prompt that names no size may
    # mean any, so the smallest is assumed there
    tracks = track_colors(frames, open_sizes={
        o.color: trail_opening(o.shape, _size_bound(o, positions_known), short_side) for o in scene.objects if o.trail
    })
    # camera: the floor's shift; objects are judged relative to it
    floor = np.zeros((t_count, 2))
    camera: dict = {"expected": scene.camera, "measured": None}
    if t_count > 1 and (scene.background == "checkered" or scene.camera is not None):
        shift, strength = floor_shift(frames, short_side)
        camera["floor_strength"] = strength
        if strength >= FLOOR_STRENGTH:
            floor = shift
            _, v_floor, _ = linear_fit(times, shift)
            pan = "none" if np.linalg.norm(v_floor) < 0.5 * vocab.CAMERA_SPEED else direction_word(-v_floor)
            camera.update(measured=pan, floor_velocity=[float(v_floor[0]), float(v_floor[1])])
    objects = []
    for i, obj in enumerate(scene.objects):
        track = tracks.get(obj.color)
        should, whole = _should_be_seen(scene, i, tracks, times, aspect, positions_known, short_side)
        objects.append(
            _evaluate_object(scene, i, track, frames, times, should, whole, floor, positions_known, aspect, short_side)
        )
    # whole-clip checks
    # objects seen: the expected ones found (in at least half the frames they should be
    # seen) and any other colour present in at least 30% of the frames
    expected_colors = {o.color for o in scene.objects}
    min_frames = max(2, int(0.3 * t_count))
    persistent = sorted(
        {o["expected"]["color"] for o in objects if o["checks"]["color"]}
        | {c for c, tr in tracks.items() if c not in expected_colors and tr.present.sum() >= min_frames}
    )
    unexpected = [c for c in tracks if c not in expected_colors and tracks[c].present.sum() >= max(2, 0.05 * t_count)]
    # a second blob of an expected colour, except where the pillar or another object splits it
    extra_frames = sum(
        int(((tracks[c].extra_blobs > 0) & ~tracks[c].clipped).sum()) for c in expected_colors if c in tracks
    )
    checks = {
        # an object hidden throughout (or too small to see at this size) cannot be counted
        "count": None if any(o["measured"].get("hidden") for o in objects) else len(persistent) == len(scene.objects),
        "no_appearance": not unexpected and extra_frames <= 0.05 * t_count,
        "collision": None,
        "camera": None if scene.camera is None else camera["measured"] == scene.camera,
        "seam": None,
        "loop": None,
    }
    collision = _collision_check(scene, tracks, times, floor)
    if collision is not None:
        checks["collision"] = collision["passed"]
    result = {
        "frames": int(t_count), "fps": float(fps), "width": int(w), "height": int(h),
        "expected": scene.to_dict(), "positions_known": positions_known,
        "checks": checks, "objects": objects, "camera": camera,
        "detected_colors": persistent, "unexpected_colors": unexpected, "collision": collision,
    }
    if seam_frame is not None:
        result["seam"] = seam_continuity(frames, seam_frame, fps)
        checks["seam"] = result["seam"]["passed"]
    if loop:
        result["loop"] = loop_closure(frames)
        checks["loop"] = result["loop"]["passed"]
    return result


# ----------------------------------------------------------------------------------------
# conditioned generation
# ----------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays of one shape (inf when equal)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise RequestError(f"PSNR needs equal shapes, got {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def given_frame_fidelity(video: np.ndarray, given: np.ndarray, positions, threshold: float = GIVEN_FRAME_PSNR) -> dict:
    """PSNR of the video's frames at `positions` against the `given` frames (N, H, W, 3)."""
    given = np.asarray(given)
    if given.ndim == 3:
        given = given[None]
    positions = [int(p) for p in np.atleast_1d(positions)]
    if len(positions) != len(given):
        raise RequestError(f"{len(given)} given frames but {len(positions)} positions; give one position per frame")
    if any(not -len(video) <= p < len(video) for p in positions):
        raise RequestError(f"positions {positions} fall outside a video of {len(video)} frames")
    values = [psnr(video[p], g) for p, g in zip(positions, given)]
    return {"psnr": values, "min_psnr": min(values), "passed": bool(min(values) >= threshold), "threshold": threshold}


def connection_endpoints(video: np.ndarray, a_frames: np.ndarray, b_frames: np.ndarray,
                         threshold: float = CONNECT_PSNR) -> dict:
    """Connect A -> B: the video starts with `a_frames` (A's end) and ends with `b_frames` (B's start)."""
    a_frames, b_frames = np.asarray(a_frames), np.asarray(b_frames)
    if len(a_frames) + len(b_frames) > len(video):
        raise RequestError(f"{len(a_frames)} + {len(b_frames)} endpoint frames do not fit in {len(video)} frames")
    start = given_frame_fidelity(video, a_frames, range(len(a_frames)), threshold)
    end = given_frame_fidelity(video, b_frames, range(len(video) - len(b_frames), len(video)), threshold)
    return {"start_psnr": start["min_psnr"], "end_psnr": end["min_psnr"],
            "passed": start["passed"] and end["passed"], "threshold": threshold}


def _frame_differences(video: np.ndarray) -> np.ndarray:
    v = video.astype(np.float32)
    return np.abs(np.diff(v, axis=0)).mean(axis=(1, 2, 3))


def loop_closure(video: np.ndarray, ratio: float = LOOP_RATIO) -> dict:
    """Loop: the mean absolute difference from the last frame to the first, against the
    median frame-to-frame difference; passes when at most `ratio` times it.

    A floor of 0.5 grey levels keeps a still clip (median difference 0) judged by noise.
    """
    if len(video) < 3:
        raise RequestError(f"a loop needs at least 3 frames, got {len(video)}")
    steps = _frame_differences(video)
    wrap = float(np.abs(video[-1].astype(np.float32) - video[0].astype(np.float32)).mean())
    typical = max(float(np.median(steps)), 0.5)
    return {"wrap_difference": wrap, "median_difference": float(np.median(steps)),
            "ratio": wrap / typical, "passed": bool(wrap <= ratio * typical)}


def seam_continuity(video: np.ndarray, seam_frame: int, fps: float) -> dict:
    """Extension seam between frames seam_frame - 1 and seam_frame: positions and velocities
    of every coloured object continue across it, within one frame's natural step.

    For each colour seen on both sides, the position at the seam is predicted from the
    velocity of the (up to) 4 frames before it; the prediction error and the change of
    velocity (times one frame) must each stay within the object's median per-frame step
    plus one pixel. The pixel difference across the seam against the median frame
    difference (as in `loop_closure`) is reported too.
    """
    t_count, h, w = video.shape[:3]
    if not 3 <= seam_frame <= t_count - 3:
        raise RequestError(f"seam frame {seam_frame} must leave 3 frames on each side of a {t_count}-frame video")
    dt = 1.0 / fps
    pixel = 1.0 / min(h, w)
    tracks = track_colors(video)
    objects = {}
    for color, tr in tracks.items():
        # Centroids count unless the border or the pillar hides part of the blob: an area short
        # of the clip's trend alone (a generated object larger or smaller than the given one) does
        # not move a centroid, and excluding it would leave the seams that change an object unjudged.
        ok = tr.present & ~tr.cut
        before = np.arange(max(0, seam_frame - 4), seam_frame)
        after = np.arange(seam_frame, min(t_count, seam_frame + 4))
        if not (ok[before].all() and ok[after].all()):
            continue
        p = np.stack([tr.x, tr.y], 1)
        t = np.arange(t_count) * dt
        _, v_before, _ = linear_fit(t[before], p[before])
        _, v_after, _ = linear_fit(t[after], p[after])
        predicted = p[seam_frame - 1] + v_before * dt
        steps = np.linalg.norm(np.diff(p[ok], axis=0), axis=1)
        natural = float(np.median(steps)) + pixel if steps.size else pixel
        position_jump = float(np.linalg.norm(p[seam_frame] - predicted))
        velocity_jump = float(np.linalg.norm(v_after - v_before) * dt)
        objects[color] = {"position_jump": position_jump, "velocity_jump": velocity_jump, "natural_step": natural,
                          "passed": bool(position_jump <= natural and velocity_jump <= natural)}
    steps = _frame_differences(video)
    seam_diff = float(steps[seam_frame - 1])
    others = np.delete(steps, seam_frame - 1)
    typical = max(float(np.median(others)), 0.5)
    pixels_ok = seam_diff <= LOOP_RATIO * typical
    passed = pixels_ok and all(o["passed"] for o in objects.values())
    return {"objects": objects, "seam_difference": seam_diff, "median_difference": float(np.median(others)),
            "ratio": seam_diff / typical, "passed": bool(passed)}


# ----------------------------------------------------------------------------------------
# many clips, the report and its table
# ----------------------------------------------------------------------------------------
def evaluate_many(items) -> dict:
    """Evaluate clips and aggregate: items yield dicts {frames, fps, expected, name?, seam_frame?,
    loop?, positions_known?} (the keyword arguments of `evaluate_video`).

    Returns {"clips": n, "errors": [...], "rates": {check: {"rate", "passed", "n"}},
    "gravity_error_median": ..., "items": [...]}: object checks are counted per object, clip
    checks per clip; None (not applicable) is skipped. A clip whose expectation cannot be
    read (a SpacetimeError, e.g. an unparseable prompt) is listed in "errors" with a warning.
    """
    results, errors = [], []
    for item in items:
        name = item.get("name", str(len(results) + len(errors)))
        try:
            r = evaluate_video(item["frames"], item["fps"], item["expected"], seam_frame=item.get("seam_frame"),
                               loop=bool(item.get("loop", False)), positions_known=item.get("positions_known"))
        except SpacetimeError as e:  # e.g. a prompt outside the world's words: skip it, say so
            warnings.warn(f"{name}: not evaluated: {e}", SpacetimeWarning)
            errors.append({"name": name, "error": str(e)})
            continue
        r["name"] = name
        results.append(r)
    tallies: dict[str, list[bool]] = {name: [] for name in (*OBJECT_CHECKS, *CLIP_CHECKS)}
    gravity_errors = []
    for r in results:
        for o in r["objects"]:
            for name in OBJECT_CHECKS:
                if o["checks"][name] is not None:
                    tallies[name].append(bool(o["checks"][name]))
            g = o["measured"].get("gravity")
            if o["expected"]["motion"] == "bounce" and g is not None:
                gravity_errors.append(abs(g - vocab.GRAVITY) / vocab.GRAVITY)
        for name in CLIP_CHECKS:
            if r["checks"][name] is not None:
                tallies[name].append(bool(r["checks"][name]))
    rates = {name: {"rate": (sum(v) / len(v)) if v else None, "passed": sum(v), "n": len(v)} for name, v in tallies.items()}
    return {
        "clips": len(results),
        "errors": errors,
        "rates": rates,
        "gravity_error_median": float(np.median(gravity_errors)) if gravity_errors else None,
        "items": results,
    }


def summary_table(report: dict) -> str:
    """A plain-text table of the report's rates, one check a line."""
    skipped = f" ({len(report['errors'])} not evaluated)" if report.get("errors") else ""
    lines = [f"world eval: {report['clips']} clips{skipped}", f"{'check':<14} {'rate':>8} {'passed':>8} {'of':>6}"]
    for name, r in report["rates"].items():
        if r["n"]:
            lines.append(f"{name:<14} {100 * r['rate']:>7.1f}% {r['passed']:>8d} {r['n']:>6d}")
    if report.get("gravity_error_median") is not None:
        lines.append(f"bounce gravity: median error {100 * report['gravity_error_median']:.1f}% of g")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# command line (wired as `spacetime world eval` by spacetime.cli.world)
# ----------------------------------------------------------------------------------------
EVAL_EPILOG = """examples:
  spacetime world eval data/world_val                      # a folder with manifest.jsonl
  spacetime world eval --video out.mp4 --prompt "a red square moving right"
  spacetime world eval data/world_val --limit 50 --report eval.json

A manifest line is {"path", "caption" or "prompt", "fps"?, "scene"?}: with a scene the
ground-truth start positions are used (unless --words-only), else the prompt is parsed.
Optional keys "seam_frame" (int) and "loop" (true) add the extension and loop metrics.
"""


def add_eval_arguments(parser) -> None:
    """Arguments of `spacetime world eval` (and its examples, as the parser's epilog)."""
    parser.epilog = EVAL_EPILOG
    parser.add_argument("directory", nargs="?", help="folder holding manifest.jsonl and the videos it names")
    parser.add_argument("--video", help="one video file to evaluate (with --prompt)")
    parser.add_argument("--prompt", help="what the video should show, in words")
    parser.add_argument("--fps", type=float, help="frame rate to assume (default: the file's)")
    parser.add_argument("--limit", type=int, help="evaluate at most this many manifest entries")
    parser.add_argument("--report", help="write the full JSON report here")
    parser.add_argument("--words-only", action="store_true",
                        help="judge manifest scenes by their words, not their start positions "
                             "(for videos generated from the captions)")


def _manifest_items(directory: Path, limit: int | None, words_only: bool):
    manifest = directory / "manifest.jsonl"
    if not manifest.is_file():
        raise RequestError(f"{manifest} not found; give a folder written by `spacetime world export` or use --video")
    from spacetime.video.read import read_video

    with open(manifest) as f:
        for number, line in enumerate(f, 1):
            if limit is not None and number > limit:
                return
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise RequestError(f"{manifest} line {number} is not JSON ({e}); fix or remove it") from None
            expected = entry.get("scene") or entry.get("prompt") or entry.get("caption")
            if "path" not in entry or expected is None:
                raise RequestError(f"{manifest} line {number} needs 'path' and one of 'scene', 'prompt', 'caption'")
            clip = read_video(directory / entry["path"])
            yield {"frames": clip.frames, "fps": entry.get("fps") or clip.fps or 1.0, "expected": expected,
                   "name": entry["path"], "seam_frame": entry.get("seam_frame"), "loop": entry.get("loop", False),
                   "positions_known": False if words_only else None}


def run_eval_command(args) -> int:
    """`spacetime world eval`: evaluate, print the table, write the JSON report."""
    if bool(args.directory) == bool(args.video):
        raise RequestError("give either a folder with manifest.jsonl or --video FILE --prompt TEXT")
    if args.video:
        if not args.prompt:
            raise RequestError("--video needs --prompt saying what the video should show")
        from spacetime.video.read import read_video

        clip = read_video(args.video)
        # (an image has no frame rate; any will do for one frame)
        items = [{"frames": clip.frames, "fps": args.fps or clip.fps or 1.0, "expected": args.prompt,
                  "name": args.video}]
    else:
        directory = Path(args.directory)
        if not directory.is_dir():
            raise RequestError(f"{directory} is not a folder; give a folder with manifest.jsonl")
        items = _manifest_items(directory, args.limit, getattr(args, "words_only", False))
    report = evaluate_many(items)
    print(summary_table(report))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1, default=_json_default))
        print(f"report written to {args.report}")
    return 0


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
