"""Captions of world scenes: short prompts and descriptive, Sora-style re-captions.

`caption(scene, rng, style)` writes one caption from a scene's words with synonyms
("crimson" for red, "ball" for circle, "slides to the right" for right) and varied word
order. Short captions name each object's colour, shape and motion, the camera, pillar,
trail and collision, and now and then the size, speed and background; descriptive ones are
full sentences that name everything. Every word a caption uses is known to
`spacetime.world.parse`, so `parse_prompt(caption(scene))` gives back the scene's words
(tests/test_world_captions.py checks this round trip).

The "framed" style puts a short or descriptive caption in one of many sentence frames ("a
video of ...", "Here, ...") and draws the straight-motion verb from a longer list, so that
the model meets the world's words in more sentence structures than two; "varied" draws
short, descriptive and framed alike. "random" (short or descriptive) is left as it was, so
that the configs that trained earlier versions still draw the same captions.
"""

from __future__ import annotations

import numpy as np

from spacetime.errors import RequestError
from spacetime.world import vocab
from spacetime.world.scene import Scene, SceneObject

STYLES = ("short", "descriptive", "random", "framed", "varied")

# synonyms stay close to the named colour, so a caption never contradicts the pixels
COLOR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"),
    "orange": ("orange", "tangerine"),
    "yellow": ("yellow", "golden", "lemon"),
    "green": ("green", "emerald"),
    "cyan": ("cyan", "turquoise", "aqua"),
    "blue": ("blue", "cobalt", "azure"),
    "purple": ("purple", "violet"),
    "pink": ("pink", "fuchsia"),
}
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "disc", "disk", "dot"),
    "square": ("square", "box", "block", "tile"),
    "triangle": ("triangle",),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "medium": ("medium", "medium-sized", "mid-sized"),
    "large": ("large", "big", "huge"),
}
SPEED_WORDS: dict[str, tuple[str, ...]] = {
    "slowly": ("slowly", "gently", "leisurely"),
    "normal": ("steadily",),
    "quickly": ("quickly", "fast", "rapidly", "swiftly"),
}
BACKGROUND_WORDS: dict[str, tuple[str, ...]] = {
    "black": ("black", "dark"),
    "gray": ("gray", "grey"),
    "white": ("white", "pale"),
    "checkered": ("checkered", "chequered", "checkerboard", "tiled"),
}
BACKGROUND_NOUNS: dict[str, tuple[str, ...]] = {
    "black": ("background", "backdrop"),
    "gray": ("background", "backdrop"),
    "white": ("background", "backdrop"),
    "checkered": ("floor", "ground"),
}
# direction phrases; diagonals combine a vertical and a horizontal word
DIRECTION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("left", "to the left", "leftward"),
    "right": ("right", "to the right", "rightward"),
    "up": ("up", "upward", "toward the top"),
    "down": ("down", "downward", "toward the bottom"),
    "up-left": ("up and to the left", "diagonally up-left", "toward the upper left", "toward the top left"),
    "up-right": ("up and to the right", "diagonally up-right", "toward the upper right", "toward the top right"),
    "down-left": ("down and to the left", "diagonally down-left", "toward the lower left", "toward the bottom left"),
    "down-right": ("down and to the right", "diagonally down-right", "toward the lower right",
                   "toward the bottom right"),
}
SOURCE_WORDS: dict[str, str] = {  # "from the left side toward the right"
    "left": "left", "right": "right", "up": "top", "down": "bottom",
    "up-left": "upper left", "up-right": "upper right", "down-left": "lower left", "down-right": "lower right",
}
MOVE_PARTICIPLES = ("moving", "sliding", "drifting", "gliding", "travelling", "heading")
MOVE_VERBS = ("moves", "slides", "drifts", "glides", "travels", "heads")
# the framed style's further verbs for straight motion
MORE_MOVE_PARTICIPLES = ("shifting", "coasting", "cruising", "advancing", "floating", "flying", "proceeding")
MORE_MOVE_VERBS = ("shifts", "coasts", "cruises", "advances", "floats", "flies", "proceeds")
# (participle phrases for short captions, present-tense phrases for sentences)
MOTION_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "still": (("resting", "sitting still", "standing still", "motionless", "stationary"),
              ("rests", "sits still", "stays still", "stays put", "remains motionless")),
    "bounce": (("bouncing", "falling and bouncing", "dropping and bouncing"),
               ("bounces", "falls and bounces", "drops and bounces on the floor")),
    "grow": (("growing", "expanding", "growing larger", "getting bigger", "swelling"),
             ("grows", "expands", "grows larger", "gets bigger", "swells")),
    "shrink": (("shrinking", "getting smaller", "contracting", "dwindling"),
               ("shrinks", "gets smaller", "contracts", "dwindles")),
    "spin": (("spinning", "rotating", "turning", "twirling", "spinning clockwise"),
             ("spins", "rotates", "turns clockwise", "twirls", "spins in place")),
    "orbit": (("orbiting the center", "circling the centre", "orbiting around the middle",
               "revolving around the center"),
              ("orbits the center", "circles around the middle", "revolves around the centre", "orbits the middle")),
}
# one-word participles that may stand before the noun ("bouncing red ball"), first clause only
PREFIX_PARTICIPLES: dict[str, tuple[str, ...]] = {
    "still": ("motionless", "stationary"), "bounce": ("bouncing",), "grow": ("growing", "expanding"),
    "shrink": ("shrinking",), "spin": ("spinning", "rotating"), "orbit": ("orbiting",),
}
TRAIL_PHRASES = ("leaving {a_color} trail", "painting {a_color} line behind it", "tracing its path",
                 "leaving a trail", "drawing a line along its path")
CAMERA_PHRASES = ("the camera pans {dir}", "the camera is panning {dir}", "the view pans {dir}")
PILLAR_PHRASES = ("behind a pillar", "behind a gray pillar", "behind a column in the middle",
                  "behind the central pillar")
COLLIDE_PHRASES = ("collide", "bump into each other", "crash into each other", "collide head-on")
COUNT_WORDS = {2: "two", 3: "three"}
# the framed style: frames around a short caption (a phrase) and around descriptive sentences
PHRASE_FRAMES = ("a video of {c}", "video of {c}", "an animation of {c}", "footage of {c}", "a clip showing {c}",
                 "a scene with {c}", "we see {c}", "here we see {c}", "you can see {c}", "there is {c}",
                 "showing {c}", "{c}, animated", "{c} throughout the video", "{c} for the whole video",
                 "{c} in a simple animation", "{c}, nothing else")
SENTENCE_FRAMES = ("In the video, {c}", "Here, {c}", "We see that {c}", "This video shows that {c}",
                   "Throughout the video, {c}", "In the animation, {c}", "As the video plays, {c}",
                   "The video shows this: {c}")
CLOSING_SENTENCES = ("Nothing else happens.", "That is all.", "The video ends there.", "No other objects appear.")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _noun_phrase(obj: SceneObject, rng, *, size: str) -> str:
    """'[size] colour shape'; size: 'always', 'never' or 'sometimes' (non-medium, mostly)."""
    words = []
    if size == "always" or (size == "sometimes" and obj.size != "medium" and rng.random() < 0.7):
        if obj.size != "medium" or rng.random() < 0.5:
            words.append(_pick(rng, SIZE_WORDS[obj.size]))
    words.append(_pick(rng, COLOR_WORDS[obj.color]))
    words.append(_pick(rng, SHAPE_WORDS[obj.shape]))
    return " ".join(words)


def _motion_phrase(obj: SceneObject, rng, *, sentence: bool, detail: bool, more_verbs: bool = False) -> str:
    """What the object does: a participle phrase ('sliding quickly left') or a verb phrase."""
    if obj.motion in vocab.DIRECTIONS:
        verbs = MOVE_VERBS if sentence else MOVE_PARTICIPLES
        if more_verbs:
            verbs += MORE_MOVE_VERBS if sentence else MORE_MOVE_PARTICIPLES
        verb = _pick(rng, verbs)
        direction = _pick(rng, DIRECTION_WORDS[obj.motion])
        speed = ""
        if detail or (obj.speed != "normal" and rng.random() < 0.7):
            if obj.speed != "normal" or rng.random() < 0.6:
                speed = _pick(rng, SPEED_WORDS[obj.speed])
        if sentence and detail and rng.random() < 0.4:
            opposite = {"left": "right", "right": "left", "up": "down", "down": "up"}
            source = "-".join(opposite[p] for p in obj.motion.split("-"))
            side = _pick(rng, ("side", "edge")) if "-" not in obj.motion else "corner"
            direction = f"from the {SOURCE_WORDS[source]} {side} toward the {SOURCE_WORDS[obj.motion]}"
        parts = [verb, speed, direction] if rng.random() < 0.5 else [verb, direction, speed]
        return " ".join(p for p in parts if p)
    return _pick(rng, MOTION_PHRASES[obj.motion][1 if sentence else 0])


def _background_phrase(scene: Scene, rng) -> str:
    adjective = _pick(rng, BACKGROUND_WORDS[scene.background])
    noun = _pick(rng, BACKGROUND_NOUNS[scene.background])
    preposition = _pick(rng, ("on", "over", "against") if scene.background != "checkered" else ("on", "over", "across"))
    return f"{preposition} {_article(adjective)} {adjective} {noun}"


def _object_clause(obj: SceneObject, scene: Scene, rng, *, sentence: bool, detail: bool, pillar: bool,
                   first: bool = False, more_verbs: bool = False) -> str:
    noun = _noun_phrase(obj, rng, size="always" if detail else "sometimes")
    motion = _motion_phrase(obj, rng, sentence=sentence, detail=detail, more_verbs=more_verbs)
    extras = []
    if obj.trail:
        color = _pick(rng, COLOR_WORDS[obj.color])
        extras.append(_pick(rng, TRAIL_PHRASES).format(a_color=f"{_article(color)} {color}"))
    if pillar:
        extras.append(("passing " if not sentence else "and passes ") + _pick(rng, PILLAR_PHRASES))
    if first and not sentence and obj.motion in PREFIX_PARTICIPLES and not extras and rng.random() < 0.4:
        # "bouncing red ball": only first, where a leading motion word cannot belong to another object
        return f"{_pick(rng, PREFIX_PARTICIPLES[obj.motion])} {noun}"
    if detail:
        noun = f"{_article(noun)} {noun}"
    clause = f"{noun} {motion}"
    return ", ".join([clause, *extras]) if extras and not sentence else " ".join([clause, *extras])


def short_caption(scene: Scene, rng: np.random.Generator, *, more_verbs: bool = False) -> str:
    """A terse prompt: 'red circle moving right', 'small blue box bouncing and green ball spinning'."""
    objs = list(scene.objects)
    order = rng.permutation(len(objs)) if not scene.collide else np.arange(len(objs))
    crossing = {i for i, o in enumerate(objs) if scene.pillar and o.motion in ("left", "right")}
    if scene.collide and len(objs) >= 2:
        a, b = (_noun_phrase(o, rng, size="sometimes") for o in objs[:2])
        clauses = [f"{a} and {b} {_pick(rng, COLLIDE_PHRASES)}"]
        clauses += [_object_clause(objs[i], scene, rng, sentence=False, detail=False, pillar=i in crossing,
                                   more_verbs=more_verbs) for i in range(2, len(objs))]
    else:
        clauses = [_object_clause(objs[i], scene, rng, sentence=False, detail=False, pillar=i in crossing,
                                  first=n == 0, more_verbs=more_verbs) for n, i in enumerate(order)]
    if scene.pillar and not crossing:
        clauses.append("a pillar in the middle")
    text = " and ".join(clauses) if clauses else f"an empty {_pick(rng, BACKGROUND_WORDS[scene.background])} scene"
    extras = []
    if scene.camera is not None:
        extras.append(_pick(rng, CAMERA_PHRASES).format(dir=_pick(rng, DIRECTION_WORDS[scene.camera])))
    if clauses and (rng.random() < 0.5 or scene.background == "checkered"):
        extras.append(_background_phrase(scene, rng))
    rng.shuffle(extras)
    return ", ".join([text, *extras])


def descriptive_caption(scene: Scene, rng: np.random.Generator, *, more_verbs: bool = False) -> str:
    """Full sentences naming every object's size, colour, shape, motion and speed, the background and camera."""
    objs = list(scene.objects)
    background = _background_phrase(scene, rng)
    crossing = {i for i, o in enumerate(objs) if scene.pillar and o.motion in ("left", "right")}
    sentences = []
    if scene.collide and len(objs) >= 2:
        a, b = (f"{_article(n)} {n}" for n in (_noun_phrase(o, rng, size="always") for o in objs[:2]))
        ma, mb = (_motion_phrase(o, rng, sentence=False, detail=True, more_verbs=more_verbs) for o in objs[:2])
        sentences.append(f"{a} {ma} and {b} {mb} {_pick(rng, COLLIDE_PHRASES)} {background}")
        rest = list(range(2, len(objs)))
    else:
        rest = list(rng.permutation(len(objs)))
    for n, i in enumerate(rest):
        clause = _object_clause(objs[i], scene, rng, sentence=True, detail=True, pillar=i in crossing,
                                more_verbs=more_verbs)
        if not sentences and n == 0:
            clause = f"{background}, {clause}" if rng.random() < 0.4 else f"{clause} {background}"
        sentences.append(clause)
    if not objs:
        sentences.append(f"an empty scene {background}")
    if scene.pillar and not crossing:
        sentences.append(f"a pillar in the middle is in front of {'it' if len(objs) == 1 else 'them'}")
    if scene.camera is not None:
        pan = _pick(rng, CAMERA_PHRASES).format(dir=_pick(rng, DIRECTION_WORDS[scene.camera]))
        sentences.insert(int(rng.integers(2)) * len(sentences), pan)
    return " ".join(s[0].upper() + s[1:] + "." for s in sentences)


def framed_caption(scene: Scene, rng: np.random.Generator) -> str:
    """A short caption in a phrase frame ('a video of red circle cruising right') or descriptive
    sentences in a sentence frame ('Here, a small red circle ...'), now and then with a closing sentence."""
    if rng.random() < 0.5:
        return _pick(rng, PHRASE_FRAMES).format(c=short_caption(scene, rng, more_verbs=True))
    text = descriptive_caption(scene, rng, more_verbs=True)
    text = _pick(rng, SENTENCE_FRAMES).format(c=text[0].lower() + text[1:])
    return f"{text} {_pick(rng, CLOSING_SENTENCES)}" if rng.random() < 0.3 else text


def caption(scene: Scene, rng: np.random.Generator, style: str = "random") -> str:
    """A caption of `scene` in `style`: 'short', 'descriptive', 'framed', 'random' (short or
    descriptive, half the time each) or 'varied' (short, descriptive or framed, a third each)."""
    if style not in STYLES:
        raise RequestError(f"unknown caption style {style!r}; use one of: {', '.join(STYLES)}")
    if style == "random":
        style = "short" if rng.random() < 0.5 else "descriptive"
    elif style == "varied":
        style = _pick(rng, ("short", "descriptive", "framed"))
    if style == "framed":
        return framed_caption(scene, rng)
    return short_caption(scene, rng) if style == "short" else descriptive_caption(scene, rng)
