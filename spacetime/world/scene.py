"""Scenes of the synthetic world: what is in a clip, its physics, and a random scene sampler.

A `Scene` names everything with the words of `vocab` (colour, shape, size, motion, speed,
background, camera pan); only the start positions are numbers. It does not know the clip's
duration or size: physics is a pure function of time in seconds (`object_states`), so the
same scene renders the same at any size, frame rate and length.

Coordinates: short-side units `s`, origin at the canvas centre, x right, y DOWN (image rows).
`start` is where an object is at t = 0 in those units (the camera starts at the origin).
Angles are radians, growing clockwise on screen (because y points down).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from spacetime.errors import RequestError
from spacetime.world import vocab

SCENARIOS: tuple[str, ...] = ("single", "multi", "collide", "pillar", "trail", "pan")


# ----------------------------------------------------------------------------------------
# dataclasses + JSON
# ----------------------------------------------------------------------------------------
@dataclass
class SceneObject:
    """One object: every field is a vocabulary word except `start` (x, y in s from the centre).

    `speed` matters for the straight-line motions only. An orbiting object uses only the
    direction of `start` (its phase); its radius is always `vocab.ORBIT_RADIUS`.
    """

    color: str
    shape: str = "circle"
    size: str = vocab.DEFAULT_SIZE
    motion: str = "still"
    speed: str = vocab.DEFAULT_SPEED
    start: tuple[float, float] = (0.0, 0.0)
    trail: bool = False

    def __post_init__(self):
        self.start = (float(self.start[0]), float(self.start[1]))
        self.trail = bool(self.trail)
        for name, value, allowed in (
            ("color", self.color, vocab.COLORS),
            ("shape", self.shape, vocab.SHAPES),
            ("size", self.size, vocab.SIZES),
            ("motion", self.motion, vocab.MOTIONS),
            ("speed", self.speed, vocab.SPEEDS),
        ):
            if value not in allowed:
                raise RequestError(f"unknown object {name} {value!r}; use one of: {', '.join(allowed)}")
        if not all(math.isfinite(v) for v in self.start):
            raise RequestError(f"object start {self.start} is not finite; give two numbers in short-side units")

    @property
    def diameter(self) -> float:
        """Size at t = 0 in short-side units (diameter or side length)."""
        return vocab.SIZES[self.size]


@dataclass
class Scene:
    """A whole clip: background, up to three objects, camera pan, pillar and collision flags.

    `collide` makes the first two objects (still or moving in a straight line) collide
    elastically with equal mass. `camera` is None or a pan direction of `vocab.CAMERA_PANS`.
    """

    objects: list[SceneObject] = field(default_factory=list)
    background: str = "black"
    camera: str | None = None
    pillar: bool = False
    collide: bool = False

    def __post_init__(self):
        self.objects = [o if isinstance(o, SceneObject) else SceneObject(**o) for o in self.objects]
        if self.background not in vocab.BACKGROUNDS:
            raise RequestError(f"unknown background {self.background!r}; use one of: {', '.join(vocab.BACKGROUNDS)}")
        if self.camera is not None and self.camera not in vocab.CAMERA_PANS:
            raise RequestError(
                f"unknown camera pan {self.camera!r}; use None or one of: {', '.join(vocab.CAMERA_PANS)}"
            )
        if len(self.objects) > vocab.MAX_OBJECTS:
            raise RequestError(f"a scene holds at most {vocab.MAX_OBJECTS} objects, got {len(self.objects)}")
        if self.collide:
            if len(self.objects) < 2:
                raise RequestError("collide needs at least two objects in the scene")
            for o in self.objects[:2]:
                if o.motion != "still" and o.motion not in vocab.DIRECTIONS:
                    raise RequestError(
                        f"collide needs the first two objects still or moving straight, got {o.motion!r}"
                    )

    def to_dict(self) -> dict:
        d = asdict(self)
        for o in d["objects"]:
            o["start"] = [round(o["start"][0], 6), round(o["start"][1], 6)]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Scene:
        if not isinstance(d, dict):
            raise RequestError(f"a scene must be a JSON object, got {type(d).__name__}")
        known = {"objects", "background", "camera", "pillar", "collide"}
        unknown = set(d) - known
        if unknown:
            raise RequestError(f"unknown scene keys {sorted(unknown)}; a scene has {sorted(known)}")
        objects = []
        for o in d.get("objects", []):
            if not isinstance(o, dict):
                raise RequestError(f"a scene object must be a JSON object, got {o!r}")
            extra = set(o) - set(SceneObject.__dataclass_fields__)
            if extra or "color" not in o:
                raise RequestError(
                    f"bad scene object keys {sorted(o)}; an object has color (required) and "
                    f"{', '.join(k for k in SceneObject.__dataclass_fields__ if k != 'color')}"
                )
            objects.append(SceneObject(**{**o, "start": tuple(o.get("start", (0.0, 0.0)))}))
        return cls(
            objects=objects,
            background=d.get("background", "black"),
            camera=d.get("camera"),
            pillar=bool(d.get("pillar", False)),
            collide=bool(d.get("collide", False)),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scene:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise RequestError(f"scene JSON does not parse: {e}") from None


# ----------------------------------------------------------------------------------------
# physics: pure functions of time in seconds
# ----------------------------------------------------------------------------------------
@dataclass
class ObjectTrack:
    """One object's state at each requested time; arrays of shape (T,), short-side units.

    x, y are *frame* coordinates (camera pan applied) from the canvas centre, y down;
    size is the diameter / side; angle in radians; visible is False when the object is
    wholly outside the canvas or wholly behind the pillar.
    """

    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    visible: np.ndarray


def canvas_half_extent(aspect: float) -> tuple[float, float]:
    """Half width and half height of a canvas of aspect width/height, in short-side units."""
    if not aspect > 0:
        raise RequestError(f"aspect (width / height) must be positive, got {aspect}")
    return 0.5 * max(aspect, 1.0), 0.5 * max(1.0 / aspect, 1.0)


def camera_offset(scene: Scene, times) -> np.ndarray:
    """Camera centre in world coordinates at each time, shape (T, 2); frame = world - offset."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if scene.camera is None:
        return np.zeros((t.size, 2))
    direction = np.array(vocab.DIRECTIONS[scene.camera])
    return vocab.CAMERA_SPEED * t[:, None] * direction[None, :]


def _velocity(obj: SceneObject) -> np.ndarray:
    if obj.motion in vocab.DIRECTIONS:
        return vocab.SPEEDS[obj.speed] * np.array(vocab.DIRECTIONS[obj.motion])
    return np.zeros(2)


def _bounce_y(y0: float, floor: float, t: np.ndarray) -> np.ndarray:
    """Height under gravity from rest at y0, bouncing on `floor` (y down) with restitution e."""
    g, e = vocab.GRAVITY, vocab.RESTITUTION
    drop = max(floor - y0, 0.0)
    if drop == 0.0:
        return np.full_like(t, floor)
    t1 = math.sqrt(2 * drop / g)
    # impact k (k >= 1) at times[k-1]; after it the object leaves upward at speed v1 * e^k
    up_speeds = [math.sqrt(2 * g * drop) * e**k for k in range(1, 400)]
    up_speeds = [u for u in up_speeds if u > 1e-6]
    impacts = t1 + np.concatenate([[0.0], np.cumsum([2 * u / g for u in up_speeds])])
    y = np.empty_like(t)
    falling = t < t1
    y[falling] = y0 + 0.5 * g * t[falling] ** 2
    k = np.searchsorted(impacts, t[~falling], side="right") - 1  # index of last impact
    resting = k >= len(up_speeds)
    u = np.asarray(up_speeds)[np.minimum(k, len(up_speeds) - 1)]
    tau = t[~falling] - impacts[k]
    y[~falling] = np.where(resting, floor, floor - (u * tau - 0.5 * g * tau**2))
    return y


def _contact_time(p0, p1, v0, v1, reach: float) -> float | None:
    """First t >= 0 with |(p1 - p0) + (v1 - v0) t| = reach while approaching, else None."""
    dp, dv = p1 - p0, v1 - v0
    a, b, c = dv @ dv, 2 * dp @ dv, dp @ dp - reach**2
    if c <= 0 or a == 0 or b >= 0:  # already touching, not moving, or separating
        return None
    disc = b * b - 4 * a * c
    if disc < 0:
        return None
    return (-b - math.sqrt(disc)) / (2 * a)


def world_positions(scene: Scene, times, aspect: float = 1.0) -> np.ndarray:
    """World positions (N, T, 2) of every object, before the camera pan is applied."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    _, half_h = canvas_half_extent(aspect)
    out = np.zeros((len(scene.objects), t.size, 2))
    for i, obj in enumerate(scene.objects):
        start = np.array(obj.start)
        if obj.motion == "bounce":
            # the floor is the canvas' bottom edge at t = 0; the object rests on it with its base
            out[i, :, 0] = start[0]
            out[i, :, 1] = _bounce_y(start[1], half_h - obj.diameter / 2, t)
        elif obj.motion == "orbit":
            phase = math.atan2(start[1], start[0]) if np.any(start != 0) else 0.0
            theta = phase + 2 * math.pi * t / vocab.ORBIT_PERIOD
            out[i, :, 0] = vocab.ORBIT_RADIUS * np.cos(theta)
            out[i, :, 1] = vocab.ORBIT_RADIUS * np.sin(theta)
        else:
            out[i] = start[None, :] + t[:, None] * _velocity(obj)[None, :]
    if scene.collide:
        a, b = scene.objects[0], scene.objects[1]
        pa, pb, va, vb = np.array(a.start), np.array(b.start), _velocity(a), _velocity(b)
        tc = _contact_time(pa, pb, va, vb, (a.diameter + b.diameter) / 2)
        if tc is not None:
            # elastic, equal mass: exchange the velocity components along the line of centres
            ca, cb = pa + va * tc, pb + vb * tc
            n = (cb - ca) / np.linalg.norm(cb - ca)
            exchange = ((va - vb) @ n) * n
            after = t >= tc
            out[0, after] = ca + (t[after, None] - tc) * (va - exchange)
            out[1, after] = cb + (t[after, None] - tc) * (vb + exchange)
    return out


def object_states(scene: Scene, times, aspect: float = 1.0) -> list[ObjectTrack]:
    """Ground truth of every object at each time (seconds), in frame coordinates.

    `aspect` is the canvas width / height: it sets where the bottom edge (the bounce floor)
    and the canvas borders (for `visible`) are. Returns one `ObjectTrack` per object.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    half_w, half_h = canvas_half_extent(aspect)
    cam = camera_offset(scene, t)
    frame = world_positions(scene, t, aspect) - cam[None]
    pillar_x = -cam[:, 0]
    tracks = []
    for i, obj in enumerate(scene.objects):
        x, y = frame[i, :, 0], frame[i, :, 1]
        if obj.motion == "grow":
            size = obj.diameter * vocab.GROWTH_PER_SECOND**t
        elif obj.motion == "shrink":
            size = obj.diameter * vocab.GROWTH_PER_SECOND ** (-t)
        else:
            size = np.full_like(t, obj.diameter)
        angle = np.deg2rad(vocab.SPIN_DEGREES_PER_SECOND) * t if obj.motion == "spin" else np.zeros_like(t)
        half = size / 2
        inside = (np.abs(x) - half < half_w) & (np.abs(y) - half < half_h)
        hidden = np.zeros_like(inside)
        if scene.pillar:
            hidden = (x - half >= pillar_x - vocab.PILLAR_WIDTH / 2) & (x + half <= pillar_x + vocab.PILLAR_WIDTH / 2)
        tracks.append(ObjectTrack(x=x, y=y, size=size, angle=angle, visible=inside & ~hidden))
    return tracks


# ----------------------------------------------------------------------------------------
# the random scene sampler
# ----------------------------------------------------------------------------------------
_MARGIN = 0.03  # s kept between an object and the canvas border at its start and end
STARTS: tuple[str, ...] = ("anywhere", "centre", "inside")  # sample_scene's placements
_CENTRE_JITTER = 0.15  # s: how far from the centre a start="centre" object may start


def _count_range(num_objects) -> tuple[int, int]:
    lo, hi = (num_objects, num_objects) if isinstance(num_objects, int) else tuple(num_objects)
    if not 1 <= lo <= hi <= vocab.MAX_OBJECTS:
        raise RequestError(
            f"num_objects must be within 1..{vocab.MAX_OBJECTS} (an int or a (min, max) pair), got {num_objects}"
        )
    return lo, hi


def _choice(rng: np.random.Generator, options):
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _place(obj: SceneObject, scene: Scene, rng, seconds: float, aspect: float) -> tuple[float, float]:
    """A start position keeping `obj` (mostly) inside the canvas for `seconds` of its motion."""
    half_w, half_h = canvas_half_extent(aspect)
    if obj.motion == "orbit":
        theta = rng.uniform(0, 2 * math.pi)
        return (vocab.ORBIT_RADIUS * math.cos(theta), vocab.ORBIT_RADIUS * math.sin(theta))
    times = np.linspace(0.0, max(seconds, 0.0), 33)
    max_size = vocab.SIZES[obj.size] * (vocab.GROWTH_PER_SECOND ** seconds if obj.motion == "grow" else 1.0)
    room = np.array([half_w, half_h]) - max_size / 2 - _MARGIN
    if obj.motion == "bounce":  # start in the upper part of the canvas: the fall is the motion
        x = rng.uniform(-1, 1) * max(room[0], 0.0)
        y = -room[1] + rng.uniform(0, 0.5) * max(room[1], 0.0)
        return (float(x), float(y))
    probe = Scene(objects=[SceneObject(**{**asdict(obj), "start": (0.0, 0.0)})], camera=scene.camera)
    path = world_positions(probe, times)[0] - camera_offset(probe, times)  # frame displacement
    lo_start, hi_start = -room - path.min(0), room - path.max(0)
    start = []
    for axis in range(2):
        if lo_start[axis] <= hi_start[axis]:
            start.append(rng.uniform(lo_start[axis], hi_start[axis]))
        else:  # the motion is longer than the canvas: start inside, as close to centred as fits
            centred = -(path[:, axis].min() + path[:, axis].max()) / 2
            start.append(float(np.clip(centred, -max(room[axis], 0), max(room[axis], 0))))
    return (float(start[0]), float(start[1]))


def _separate(scene: Scene, rng, seconds: float, aspect: float, movers: list[int]) -> None:
    """Re-place objects `movers` until no two objects overlap at t = 0 (best effort)."""
    for _ in range(50):
        pos = world_positions(scene, [0.0], aspect)[:, 0]
        clash = [
            j for i in range(len(scene.objects)) for j in range(i + 1, len(scene.objects))
            if j in movers and np.linalg.norm(pos[i] - pos[j])
            < (scene.objects[i].diameter + scene.objects[j].diameter) / 2 + 0.02
        ]
        if not clash:
            return
        for j in set(clash):
            scene.objects[j].start = _place(scene.objects[j], scene, rng, seconds, aspect)


def _fitting_speed(rng, motion: str, size: str, seconds: float, aspect: float) -> str:
    """A random speed whose straight-line travel over `seconds` fits the canvas (else the slowest)."""
    if motion not in vocab.DIRECTIONS:
        return _choice(rng, vocab.SPEEDS)
    half_w, half_h = canvas_half_extent(aspect)
    dx, dy = vocab.DIRECTIONS[motion]
    room = min(
        (2 * h - vocab.SIZES[size] - 2 * _MARGIN) / abs(d) for h, d in ((half_w, dx), (half_h, dy)) if d != 0
    )
    fitting = [name for name, v in vocab.SPEEDS.items() if v * seconds <= room]
    return _choice(rng, fitting) if fitting else min(vocab.SPEEDS, key=vocab.SPEEDS.get)


def _random_object(rng, color: str, shapes, motions, seconds: float, aspect: float) -> SceneObject:
    shape = _choice(rng, shapes)
    allowed = [m for m in motions if not (m == "spin" and shape == "circle")] or list(motions)
    # growing 1.5x per second soon covers the canvas; keep it for clips it fits in
    if seconds > 0 and vocab.SIZES["small"] * vocab.GROWTH_PER_SECOND**seconds > 0.8:
        allowed = [m for m in allowed if m != "grow"] or ["still"]
    motion = _choice(rng, allowed)
    sizes = list(vocab.SIZES)
    if motion == "grow":
        sizes = [s for s in sizes if vocab.SIZES[s] * vocab.GROWTH_PER_SECOND**seconds <= 0.8] or ["small"]
    size = _choice(rng, sizes)
    return SceneObject(color=color, shape=shape, size=size, motion=motion,
                       speed=_fitting_speed(rng, motion, str(size), seconds, aspect))


def check_world_names(**choices) -> None:
    """Raise a one-line RequestError unless each of scenarios / backgrounds / shapes / motions
    (keyword: a sequence of names) is non-empty and made of the world's names."""
    known = {"scenarios": SCENARIOS, "backgrounds": vocab.BACKGROUNDS, "shapes": vocab.SHAPES,
             "motions": vocab.MOTIONS}
    for name, values in choices.items():
        unknown = [v for v in values if v not in known[name]]
        if unknown or not values:
            raise RequestError(f"unknown or no world {name} {unknown or list(values)}; "
                               f"use some of: {', '.join(known[name])}")


def sample_scene(
    rng: np.random.Generator,
    *,
    num_objects=(1, 3),
    scenarios=SCENARIOS,
    seconds: float = 4.0,
    aspect: float = 1.0,
    backgrounds=tuple(vocab.BACKGROUNDS),
    shapes=vocab.SHAPES,
    motions=vocab.MOTIONS,
    start: str = "anywhere",
) -> Scene:
    """A random scene of one of `scenarios` with `num_objects` (an int or an inclusive (min, max)).

    Start positions are chosen so that objects stay (mostly) in a canvas of `aspect`
    (width / height) for `seconds`. `start="centre"` (single-object scenes only) instead starts
    an object that moves in a straight line within 0.15 s of the centre and moves it slowly, so
    that its first frame does not tell its direction (an object that starts by the left edge
    can only move right); it may leave the frame in clips longer than about 2 s. `start="inside"`
    (single-object scenes only) starts such an object slowly anywhere wholly inside the canvas,
    whatever its direction, so it may leave the frame early: where an object starts no longer
    tells where it goes, near the border included.
    Scenarios: single (one object), multi (2-3 objects, each its own motion), collide (two
    circles meet head-on), pillar (an object passes behind the pillar), trail (objects paint
    their path), pan (camera pan over the floor).
    All randomness comes from `rng`.
    """
    lo, hi = _count_range(num_objects)
    check_world_names(scenarios=scenarios, backgrounds=backgrounds, shapes=shapes, motions=motions)
    check_start(start, scenarios)
    sideways = [m for m in ("left", "right") if m in motions]
    possible = [
        s for s in scenarios
        if not (s == "single" and lo > 1) and not (s in ("multi", "collide") and hi < 2)
        and not (s == "collide" and (len(sideways) < 2 or "circle" not in shapes))
        and not (s in ("pillar", "collide") and lo > 2) and not (s == "pan" and "checkered" not in backgrounds)
        and not (s == "trail" and not any(m in vocab.DIRECTIONS or m in ("orbit", "bounce") for m in motions))
    ]
    if not possible:
        raise RequestError(f"no scenario of {list(scenarios)} fits {lo}..{hi} objects with these shapes, "
                           "motions and backgrounds; allow more of them")
    scenario = _choice(rng, possible)
    if scenario in ("single", "collide"):
        count = 1 if scenario == "single" else 2
    else:
        count = int(rng.integers(max(lo, 2) if scenario == "multi" else lo, hi + 1))
    colors = [str(c) for c in rng.permutation(list(vocab.COLORS))[:count]]
    scene = Scene(background=_choice(rng, backgrounds))
    if scenario == "collide":
        scene.collide = True
        for color, motion, size in zip(colors, ("right", "left"), rng.choice(list(vocab.SIZES), 2)):
            size = str(size)
            speed = _fitting_speed(rng, motion, size, seconds, aspect)
            scene.objects.append(SceneObject(color=color, shape="circle", size=size, motion=motion, speed=speed))
        return place_objects(scene, rng, seconds=seconds, aspect=aspect)
    if scenario == "pillar":
        scene.pillar = True
        for k, color in enumerate(colors[:2]):  # one object per half of the canvas height at most
            if not sideways:  # e.g. images: objects stand beside or behind the pillar
                direction = "still"
            elif k == 0 or len(sideways) == 1:
                direction = _choice(rng, sideways)
            else:
                direction = _OPPOSITE[scene.objects[0].motion]
            size = _choice(rng, vocab.SIZES)
            speed = _fitting_speed(rng, direction, size, seconds, aspect)
            scene.objects.append(SceneObject(color=color, shape=_choice(rng, shapes), size=size,
                                             motion=direction, speed=speed))
        return place_objects(scene, rng, seconds=seconds, aspect=aspect)
    if scenario == "pan":
        scene.background = "checkered"
        scene.camera = _choice(rng, vocab.CAMERA_PANS)
    for color in colors:
        obj = _random_object(rng, color, shapes, motions, seconds, aspect)
        if scenario == "trail":
            moving = [m for m in motions if m in vocab.DIRECTIONS or m in ("orbit", "bounce")]
            obj.motion = _choice(rng, moving or ["right"])
            obj.speed = _fitting_speed(rng, obj.motion, obj.size, seconds, aspect)
            obj.trail = len(scene.objects) == 0 or bool(rng.integers(2))
        scene.objects.append(obj)
    place_objects(scene, rng, seconds=seconds, aspect=aspect)
    if start in ("centre", "inside"):
        half_w, half_h = canvas_half_extent(aspect)
        for obj in scene.objects:
            if obj.motion in vocab.DIRECTIONS:
                obj.speed = "slowly"
                reach = np.array([_CENTRE_JITTER] * 2) if start == "centre" else np.maximum(
                    np.array([half_w, half_h]) - obj.diameter / 2 - _MARGIN, 0.0)
                obj.start = tuple(float(v) for v in rng.uniform(-reach, reach))
    return scene


def check_start(start: str, scenarios) -> None:
    """A RequestError unless `start` is one of STARTS and fits `scenarios` (see sample_scene)."""
    if start not in STARTS:
        raise RequestError(f"start must be one of {list(STARTS)}, got {start!r}")
    if start != "anywhere" and tuple(scenarios) != ("single",):
        raise RequestError(f"start {start!r} places one object; it needs scenarios ['single'], not {list(scenarios)}")


_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def place_objects(scene: Scene, rng: np.random.Generator, *, seconds: float = 4.0, aspect: float = 1.0) -> Scene:
    """Choose every object's `start` (in place, and returned) so the scene plays inside the canvas.

    Colliding pairs are put on one line to meet mid-clip; objects moving sideways in a
    pillar scene cross the pillar; the rest keep (mostly) in frame for `seconds` on a
    canvas of `aspect` (width / height) without overlapping at t = 0.
    """
    half_w, half_h = canvas_half_extent(aspect)
    fixed = set()
    if scene.collide:
        _place_collision(scene.objects[0], scene.objects[1], rng, seconds, half_w, half_h)
        fixed = {0, 1}
    crossers = [
        i for i, o in enumerate(scene.objects) if scene.pillar and o.motion in ("left", "right") and i not in fixed
    ]
    for k, i in enumerate(crossers):
        obj = scene.objects[i]
        # centre the crossing on the pillar; several crossers get their own heights
        travel = vocab.SPEEDS[obj.speed] * seconds
        x = float(np.clip(-travel / 2, -(half_w - obj.diameter / 2 - _MARGIN), 0.0))
        room_y = max(half_h - obj.diameter / 2 - _MARGIN, 0.0)
        if len(crossers) == 1:
            y = rng.uniform(-room_y, room_y)
        else:
            y = (k / (len(crossers) - 1) - 0.5) * 2 * min(room_y, 0.3)
        obj.start = (x if obj.motion == "right" else -x, float(y))
        fixed.add(i)
    movers = [i for i in range(len(scene.objects)) if i not in fixed]
    for i in movers:
        scene.objects[i].start = _place(scene.objects[i], scene, rng, seconds, aspect)
    _separate(scene, rng, seconds, aspect, movers=movers)
    return scene


def _place_collision(a: SceneObject, b: SceneObject, rng, seconds, half_w, half_h) -> None:
    """Put a (moving right) and b (moving left) on one line, a little offset, to meet mid-clip."""
    if (a.motion, b.motion) == ("left", "right"):
        b, a = a, b
    reach = (a.diameter + b.diameter) / 2
    closing = max(float(_velocity(a)[0] - _velocity(b)[0]), 0.0)
    gap_max = max(2 * (half_w - _MARGIN) - a.diameter - b.diameter - reach, 0.0)
    gap = min(closing * seconds * rng.uniform(0.3, 0.6), gap_max)
    x_a = -(gap + reach) / 2 + rng.uniform(-0.05, 0.05)
    y = rng.uniform(-1, 1) * max(half_h - 0.3, 0.0)
    dy = rng.uniform(-0.3, 0.3) * reach  # a glancing blow now and then
    a.start, b.start = (float(x_a), float(y)), (float(x_a + gap + reach), float(y + dy))
