"""From a prompt in the world's vocabulary back to a `Scene`.

    parse_prompt("a small blue square bounces on a white background")

A small, predictable reader, not a language model: the prompt is split into words, each
word is looked up (colours, shapes, sizes, motions, directions, speeds, backgrounds,
camera, pillar, trail, collision, and a list of filler words such as "a", "the", "on",
"background"), and words attach to objects by position: adjectives before a shape noun
make one object; motion, direction and speed words after it describe that object until the
next one starts. "from the left ... toward the right" marks where a motion starts, not its
direction. A word it does not know raises `RequestError` listing what the world knows.
Start positions are then chosen with `scene.place_objects` for the clip's length and aspect.
"""

from __future__ import annotations

import re

import numpy as np

from spacetime.errors import RequestError
from spacetime.world import vocab
from spacetime.world.captions import (
    BACKGROUND_WORDS,
    COLOR_WORDS,
    MORE_MOVE_PARTICIPLES,
    MORE_MOVE_VERBS,
    MOTION_PHRASES,
    MOVE_PARTICIPLES,
    MOVE_VERBS,
    PREFIX_PARTICIPLES,
    SHAPE_WORDS,
    SIZE_WORDS,
    SPEED_WORDS,
)
from spacetime.world.scene import Scene, SceneObject, place_objects


def _table() -> dict[str, tuple[str, str]]:
    """word -> (kind, value)."""
    t: dict[str, tuple[str, str]] = {}

    def add(kind, value, words):
        for w in words:
            for part in w.replace("-", " ").split():
                if part not in ("sized",):
                    t.setdefault(part, (kind, value))

    for name in vocab.COLORS:
        add("color", name, COLOR_WORDS[name])
    for name, words in SHAPE_WORDS.items():
        add("shape", name, words)
        add("shape", name, [w + ("es" if w.endswith("x") else "s") for w in words])
    for name, words in SIZE_WORDS.items():
        add("size", name, words)
    for name, words in SPEED_WORDS.items():
        add("speed", name, words)
    add("speed", "slowly", ("slow",))
    add("speed", "normal", ("steady",))
    add("speed", "quickly", ("quick", "speedily"))
    for name, words in BACKGROUND_WORDS.items():
        add("background", name, words)
    add("background", "checkered", ("checker", "checked", "checkers"))
    directions = {
        "left": ("left", "leftward", "leftwards"), "right": ("right", "rightward", "rightwards"),
        "up": ("up", "upward", "upwards", "upper", "top"),
        "down": ("down", "downward", "downwards", "lower", "bottom"),
    }
    for name, words in directions.items():
        add("direction", name, words)
    # the motion words: captions' phrases minus their filler words, plus common forms
    motion_words = {
        "still": ("still", "motionless", "stationary", "rests", "resting", "rest", "sits", "sitting", "sit",
                  "stays", "staying", "stay", "stands", "standing", "remains", "remaining", "static"),
        "bounce": ("bounce", "bounces", "bouncing", "bouncy", "falls", "falling", "fall", "drops", "dropping", "drop"),
        "grow": ("grow", "grows", "growing", "expand", "expands", "expanding", "swell", "swells", "swelling",
                 "larger", "bigger"),
        "shrink": ("shrink", "shrinks", "shrinking", "contract", "contracts", "contracting", "dwindle",
                   "dwindles", "dwindling", "smaller"),
        "spin": ("spin", "spins", "spinning", "rotate", "rotates", "rotating", "turn", "turns", "turning",
                 "twirl", "twirls", "twirling"),
        "orbit": ("orbit", "orbits", "orbiting", "circling", "revolve", "revolves", "revolving"),
    }
    for name, words in motion_words.items():
        add("motion", name, words)
    add("move", "", ("move", "moves", "moving", "slide", "slides", "sliding", "drift", "drifts", "drifting",
                     "glide", "glides", "gliding", "travel", "travels", "travelling", "traveling", "head",
                     "heads", "heading", "go", "goes", "going", "pass", "passes", "passing", "cross",
                     "crosses", "crossing", "roll", "rolls", "rolling", "diagonally", "diagonal", "flies",
                     "flying", "fly", "runs", "running", "floats", "floating"))
    add("move", "", MOVE_VERBS + MOVE_PARTICIPLES + MORE_MOVE_VERBS + MORE_MOVE_PARTICIPLES)  # in step with captions
    for name, (participles, verbs) in MOTION_PHRASES.items():  # keeps the parser in step with captions
        for phrase in participles + verbs + PREFIX_PARTICIPLES.get(name, ()):
            for w in phrase.split():
                if w not in t and w not in _FILLER:
                    t[w] = ("motion", name)
    add("trail", "", ("trail", "trails", "line", "lines", "leaving", "leaves", "leave", "paints", "painting",
                      "paint", "draws", "drawing", "draw", "traces", "tracing", "trace", "streak"))
    add("pillar", "", ("pillar", "pillars", "column", "post", "occluder", "wall"))
    add("camera", "", ("camera", "pans", "pan", "panning", "view", "tracking"))
    add("collide", "", ("collide", "collides", "colliding", "collision", "crash", "crashes", "crashing",
                        "bump", "bumps", "bumping", "hit", "hits", "hitting", "headon"))
    add("count", "2", ("two", "pair", "2"))
    add("count", "3", ("three", "3"))
    add("from", "", ("from",))
    add("toward", "", ("toward", "towards", "to", "into", "across"))
    return t


_FILLER = frozenset("""
a an the one another some on over against in at of with and its it is are as while then so this that there
background backdrop floor ground canvas scene frame picture image video clip shot
edge side corner centre center middle central each other objects object shapes shape thing things
behind front everything them they for moment briefly around along path through out reappears reappear
emerges comes other beyond apart place put pace clockwise by empty hides hiding itself both together
gets getting sized does off onto upon
animation animated footage showing shows show we see you can here throughout whole simple nothing else happens
all plays ends no appear
""".split())

_WORDS = _table()
_KNOWN_SUMMARY = (
    f"colours {', '.join(vocab.COLORS)}; shapes {', '.join(vocab.SHAPES)} (ball, box, ...); sizes "
    f"{', '.join(vocab.SIZES)}; motions still, left/right/up/down and diagonals, bounce, grow, shrink, spin, "
    f"orbit; speeds slowly, quickly; backgrounds {', '.join(vocab.BACKGROUNDS)}; and 'camera pans <direction>', "
    "'behind a pillar', 'leaving a trail', 'collide'"
)


# Words with no say in the scene, for `jostle_caption` to insert: generic English, no world meaning
_NEUTRAL = ("the", "a", "this", "here", "now", "just", "really", "very", "also", "then", "so", "quite",
            "simply", "there", "we", "see", "scene", "video")


def jostle_caption(text: str, rng: np.random.Generator, drop: float = 0.3, insert: float = 0.1) -> str:
    """`text` with its sentence frame disturbed and its world words kept (random deletion and
    insertion, as EDA does: Wei and Zou 2019).

    Each word that carries no world meaning (not a colour, shape, size, motion, direction, speed,
    background or scene word of the parser; plain movement verbs such as "glides" count as frame)
    is dropped with probability `drop`, and after each word a neutral one is inserted with
    probability `insert`. A caption model trained on both reads the world words whatever
    sentence holds them, which is what a prompt in new words asks of it.
    """
    out = []
    for word in text.split():
        key = word.strip(".,;:!?'\"").lower()
        meaning = _WORDS.get(key) or next((_WORDS[p] for p in key.split("-") if p in _WORDS), None)
        if (meaning is None or meaning[0] == "move") and rng.random() < drop:
            continue
        out.append(word)
        if rng.random() < insert:
            out.append(_NEUTRAL[int(rng.integers(len(_NEUTRAL)))])
    return " ".join(out) or text


def _combine(names: list[str], what: str) -> str | None:
    """Directions named in a clause ('up', 'right') -> one vocab direction ('up-right')."""
    if not names:
        return None
    horizontal = {n for n in names if n in ("left", "right")}
    vertical = {n for n in names if n in ("up", "down")}
    if len(horizontal) > 1 or len(vertical) > 1:
        raise RequestError(f"conflicting directions {sorted(set(names))} for {what}; give one direction per object")
    return "-".join([*vertical, *horizontal])


def parse_prompt(text: str, *, seconds: float = 4.0, aspect: float = 1.0,
                 rng: np.random.Generator | None = None) -> Scene:
    """Read a prompt in the world's vocabulary into a `Scene` placed for `seconds` at `aspect`.

    Unspecified colours take the first palette colours not used (or random ones if `rng`
    is given); sizes default to medium, speeds to normal, the background to black (to the
    checkered floor when the camera pans). `rng` also picks the start positions
    (default: a fixed seed, so the same prompt gives the same scene).
    """
    text = re.sub(r"head[- ]on", "headon", text.lower())  # "collide head-on": not the verb "head"
    words = re.sub(r"[^a-z0-9 ]+", " ", text.replace("-", " ").replace("'", "")).split()
    unknown = [w for w in words if w not in _WORDS and w not in _FILLER]
    if unknown:
        raise RequestError(f"unknown words {', '.join(repr(w) for w in dict.fromkeys(unknown))} in the prompt; "
                           f"the world knows {_KNOWN_SUMMARY}")
    objects: list[dict] = []
    pending: dict = {}
    backgrounds, camera_dirs, flags = [], [], {"pillar": False, "collide": False, "camera": False}
    target = "object"  # or "camera": where direction words go
    from_mode = False  # after "from": directions name where a motion starts
    group = 1  # how many objects the last noun named ("three squares spin": all three spin)

    def current() -> list[dict]:
        # motion words before any noun belong to the object about to be named
        return [pending] if pending or not objects else objects[-group:]

    def flush():
        nonlocal pending, group
        if pending:
            count = group = int(pending.pop("count", 1))
            pending.setdefault("shape", "circle")
            objects.extend([dict(pending, motions=list(pending.get("motions", [])),
                                 dirs=list(pending.get("dirs", [])), sources=list(pending.get("sources", [])))
                            for _ in range(count)])
            pending = {}

    for k, word in enumerate(words):
        if word in _FILLER:
            if word not in ("the", "a", "an"):
                from_mode = from_mode and word in ("side", "edge", "corner")
            continue
        kind, value = _WORDS[word]
        following = words[k + 1] if k + 1 < len(words) else ""
        describes_other = following in _WORDS and _WORDS[following][0] in ("trail", "pillar")
        if kind in ("color", "background") and describes_other:
            continue  # "a red trail", "a gray pillar": not an object or background
        if kind != "direction" and kind != "from":
            from_mode = False
        if kind in ("color", "size", "count"):
            if kind in pending:
                flush()
            pending[kind] = value
            target = "object"
        elif kind == "shape":
            if word == "circles" and objects and not pending:
                for o in objects[-group:]:  # "the red ball circles the centre"
                    o.setdefault("motions", []).append("orbit")
                continue
            pending["shape"] = value
            flush()
            target = "object"
        elif kind == "direction":
            if target == "camera":
                camera_dirs.append(value)
            else:
                for o in current():
                    o.setdefault("sources" if from_mode else "dirs", []).append(value)
        elif kind == "from":
            from_mode = True
        elif kind == "toward":
            from_mode = False
        elif kind == "motion":
            target = "object"
            for o in current():
                o.setdefault("motions", []).append(value)
        elif kind == "speed":
            if target != "camera":
                for o in current():
                    o["speed"] = value
        elif kind == "move":  # "moves", "slides": the direction words that follow carry the meaning
            if target == "object":
                for o in current():
                    o["moves"] = True
        elif kind == "trail":
            for o in current():
                o["trail"] = True
        elif kind == "background":
            backgrounds.append(value)
        elif kind == "camera":
            flags["camera"] = True
            target = "camera"
        elif kind in ("pillar", "collide"):
            flags[kind] = True
    flush()
    return _build(objects, backgrounds, camera_dirs, flags, seconds, aspect, rng)


def _build(objects, backgrounds, camera_dirs, flags, seconds, aspect, rng) -> Scene:
    if len(objects) > vocab.MAX_OBJECTS:
        raise RequestError(f"the prompt names {len(objects)} objects; the world holds at most {vocab.MAX_OBJECTS}")
    if len(set(backgrounds)) > 1:
        raise RequestError(f"the prompt names several backgrounds {sorted(set(backgrounds))}; name one")
    camera = _combine(camera_dirs, "the camera")
    if flags["camera"] and camera is None:
        raise RequestError("the prompt mentions the camera but not where it pans; "
                           "say 'the camera pans left' (or right, up, down)")
    if camera is not None and camera not in vocab.CAMERA_PANS:
        raise RequestError(f"the camera pans left, right, up or down, not {camera!r}")
    if flags["collide"]:
        while len(objects) < 2:
            objects.append({"shape": objects[0]["shape"] if objects else "circle"})
    explicit = [o.get("color") for o in objects if o.get("color")]
    spare = [c for c in vocab.COLORS if c not in explicit]
    if rng is not None:
        spare = [str(c) for c in rng.permutation(spare)]
    built, moved = [], []
    for o in objects:
        color = o.get("color") or (spare.pop(0) if spare else "red")
        what = f"the {color} {o['shape']}"
        motions = list(dict.fromkeys(o.get("motions", [])))
        direction = _combine(o.get("dirs", []), what)
        if direction is None and o.get("sources"):  # "from the left": moving away from there
            source = _combine(o["sources"], what)
            flip = {"left": "right", "right": "left", "up": "down", "down": "up"}
            direction = "-".join(flip[p] for p in source.split("-"))
        if direction is None and not motions and o.get("moves"):
            direction = "right"  # "a ball rolls": moving, but no direction named
        if direction is not None:
            motions = [m for m in motions if m != "still"] + [direction]
        if len(motions) > 1:
            raise RequestError(f"{what} is given several motions {motions}; each object has one of: "
                               f"{', '.join(vocab.MOTIONS)}")
        moved.append(bool(motions))
        built.append(SceneObject(color=color, shape=o["shape"], size=o.get("size", vocab.DEFAULT_SIZE),
                                 motion=motions[0] if motions else "still",
                                 speed=o.get("speed", vocab.DEFAULT_SPEED), trail=bool(o.get("trail"))))
    if flags["collide"]:
        a, b = built[0], built[1]
        if a.motion == "still" and b.motion == "still":
            a.motion, b.motion = "right", "left"
        if a.shape != "circle" or b.shape != "circle":
            raise RequestError("only circles (balls) collide in this world; name two circles")
    if flags["pillar"]:
        for o, told in zip(built, moved):  # an object with a pillar crosses behind it unless told otherwise
            if not told:
                o.motion = "right"
    background = backgrounds[0] if backgrounds else ("checkered" if camera else "black")
    scene = Scene(objects=built, background=background, camera=camera, pillar=flags["pillar"],
                  collide=flags["collide"])
    return place_objects(scene, rng if rng is not None else np.random.default_rng(0), seconds=seconds, aspect=aspect)
