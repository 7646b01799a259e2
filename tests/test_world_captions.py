"""Captions of world scenes and the parser that reads the world's words back into scenes."""

import numpy as np
import pytest

from spacetime.errors import RequestError
from spacetime.world import vocab
from spacetime.world.captions import caption
from spacetime.world.parse import parse_prompt
from spacetime.world.scene import sample_scene


def words_of(scene, full):
    """What a caption must carry; `full` adds size, speed and background (descriptive captions)."""
    objects = []
    for o in scene.objects:
        item = (o.color, o.shape, o.motion, o.trail)
        if full:
            item += (o.size, o.speed if o.motion in vocab.DIRECTIONS else None)
        objects.append(item)
    return (sorted(objects), scene.camera, scene.pillar, scene.collide) + ((scene.background,) if full else ())


@pytest.mark.parametrize("style", ["short", "descriptive", "framed"])
def test_caption_parses_back_to_the_scene(style):
    for seed in range(300):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng, seconds=float(rng.uniform(0.5, 5)))
        text = caption(scene, rng, style)
        parsed = parse_prompt(text)
        assert words_of(parsed, style == "descriptive") == words_of(scene, style == "descriptive"), text
        if style != "descriptive":  # what a short caption leaves out falls back to the defaults
            for o in scene.objects:
                p = next(q for q in parsed.objects if q.color == o.color)
                assert p.size in (o.size, "medium"), text
            assert parsed.background in (scene.background, "black"), text


def test_the_issue_example():
    scene = parse_prompt("a small blue square bounces on a white background")
    assert scene.background == "white" and len(scene.objects) == 1
    o = scene.objects[0]
    assert (o.color, o.shape, o.size, o.motion) == ("blue", "square", "small", "bounce")


@pytest.mark.parametrize("prompt, expect", [
    ("crimson ball slides to the right", ("red", "circle", "right")),
    ("The emerald block drifts rightward over the checkered floor.", ("green", "square", "right")),
    ("a violet triangle moving up and to the left", ("purple", "triangle", "up-left")),
    ("a cyan disc travels from the lower right corner toward the upper left", ("cyan", "circle", "up-left")),
    ("a pink box from the left side", ("pink", "square", "right")),
    ("orange triangle spinning clockwise", ("orange", "triangle", "spin")),
    ("a yellow ball circles the center", ("yellow", "circle", "orbit")),
    ("a tiny red dot gets smaller", ("red", "circle", "shrink")),
])
def test_synonyms_and_filler(prompt, expect):
    o = parse_prompt(prompt).objects[0]
    assert (o.color, o.shape, o.motion) == expect


def test_scene_level_words():
    s = parse_prompt("a red ball moves right leaving a red trail as the camera pans left")
    assert s.camera == "left" and s.background == "checkered" and s.objects[0].trail and s.objects[0].motion == "right"
    s = parse_prompt("two balls collide")
    assert s.collide and [o.motion for o in s.objects] == ["right", "left"] and s.objects[0].color != s.objects[1].color
    s = parse_prompt("a green box passes behind a gray pillar on a white background")
    assert s.pillar and s.background == "white" and s.objects[0].motion == "right"


def test_unknown_words_name_what_the_world_knows():
    with pytest.raises(RequestError) as e:
        parse_prompt("a dog jumps over the red ball")
    message = str(e.value)
    assert "'dog'" in message and "'jumps'" in message and "red" in message and "triangle" in message
    assert "\n" not in message
    with pytest.raises(RequestError, match="conflicting directions"):
        parse_prompt("a red ball moves left and right")
    with pytest.raises(RequestError, match="at most 3"):
        parse_prompt("red ball, blue ball, green ball and pink ball")


def test_captions_vary_and_are_reproducible():
    scene = sample_scene(np.random.default_rng(5), num_objects=1, scenarios=("single",))
    short = {caption(scene, np.random.default_rng(i), "short") for i in range(60)}
    long = {caption(scene, np.random.default_rng(i), "descriptive") for i in range(60)}
    assert len(short) > 15 and len(long) > 30
    assert all(t.endswith(".") and t[0].isupper() for t in long)
    assert caption(scene, np.random.default_rng(1)) == caption(scene, np.random.default_rng(1))
    with pytest.raises(RequestError, match="style"):
        caption(scene, np.random.default_rng(0), "poem")


def test_world_export_offers_every_caption_style():
    from spacetime.cli import build_parser
    from spacetime.world.captions import STYLES

    for style in STYLES:
        assert build_parser().parse_args(["world", "export", "out", "--clips", "1", "--style", style]).style == style
    with pytest.raises(SystemExit):
        build_parser().parse_args(["world", "export", "out", "--clips", "1", "--style", "poetic"])


def test_jostled_captions_keep_every_world_word_in_order():
    from spacetime.world.dataset import WorldClips
    from spacetime.world.parse import _WORDS, jostle_caption

    def world_words(text):
        keys = (w.strip(".,;:!?'\"").lower() for w in text.split())
        return [k for k in keys if k in _WORDS and _WORDS[k][0] != "move"]

    rng = np.random.default_rng(0)
    changed = 0
    for i in range(200):
        text = caption(sample_scene(np.random.default_rng(i)), np.random.default_rng(i), "varied")
        jostled = jostle_caption(text, rng)
        assert world_words(jostled) == world_words(text)
        changed += jostled != text
    assert changed > 180  # the frame words do change
    plain = WorldClips([(5, 32, 32)], batch_size=4, caption_style="varied")
    noisy = WorldClips([(5, 32, 32)], batch_size=4, caption_style="varied", caption_noise=1.0)
    assert plain.batch(0)["caption"] == WorldClips([(5, 32, 32)], batch_size=4, caption_style="varied",
                                                   caption_noise=0.0).batch(0)["caption"]  # no share, same stream
    assert noisy.batch(0)["scene"][0] == plain.batch(0)["scene"][0]
    assert noisy.batch(0)["caption"][0] != plain.batch(0)["caption"][0]
    with pytest.raises(RequestError, match="caption_noise"):
        WorldClips([(5, 32, 32)], caption_noise=2.0)
