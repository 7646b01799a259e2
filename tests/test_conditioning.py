import numpy as np
import pytest

from spacetime.conditioning import (
    Condition,
    canvas_frames,
    latent_frames,
    latent_index,
    latent_pixel_range,
    parse_pin,
    parse_time,
    pixel_frames,
    plan_request,
)
from spacetime.errors import RequestError, SpacetimeWarning, VideoReadError


def clip(n, h=16, w=16, base=0):
    # Frame k is filled with the value base + k, so a frame says where it came from.
    return (base + np.arange(n, dtype=np.uint8))[:, None, None, None] * np.ones((1, h, w, 3), np.uint8)


def test_latent_arithmetic_matches_causal_vae():
    assert [latent_frames(t) for t in (1, 2, 5, 6, 9)] == [1, 2, 2, 3, 3]
    assert [pixel_frames(t) for t in (1, 2, 3)] == [1, 5, 9]
    assert [latent_index(f) for f in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]
    for j in range(6):
        lo, hi = latent_pixel_range(j)
        assert all(latent_index(f) == j for f in range(lo, hi))
    assert canvas_frames(10) == 13 and canvas_frames(13) == 13 and canvas_frames(1) == 1


def test_image_at_start_pins_latent_zero_only():
    plan = plan_request([Condition(clip(1), at=0)], num_frames=17, fps=8)
    assert plan.num_frames == 17 and plan.latent_frames == 5
    assert plan.known_mask().tolist() == [True, False, False, False, False]
    pixels, drop = plan.pins[0].encode_pixels()
    assert pixels.shape[0] == 1 and drop == 0


def test_clip_in_the_middle_is_group_aligned_with_held_context():
    # 6 frames at pixel 6..11 touch latent frames 2 (5..8) and 3 (9..12).
    plan = plan_request([Condition(clip(6, base=10), at=6, unit="frames")], num_frames=21, fps=8)
    assert plan.known_mask().tolist() == [False, False, True, True, False, False]
    pixels, drop = plan.pins[0].encode_pixels()
    # Encoded from pixel 4 (one context frame before group 2) to 12: 9 frames -> 3 latents, first dropped.
    assert drop == 1 and len(pixels) == 9
    values = pixels[:, 0, 0, 0].tolist()
    # context 4 and 5 held at the first frame (10); 6..11 -> 10..15; 12 held at the last (15).
    assert values == [10, 10, 10, 11, 12, 13, 14, 15, 15]


def test_negative_times_count_from_the_end():
    plan = plan_request([Condition(clip(1), at=-1, unit="frames")], num_frames=17, fps=8)
    assert plan.pins[0].start == 16 and plan.known_mask()[-1]
    plan = plan_request([Condition(clip(8), at=-1.0)], num_frames=17, fps=8)  # 1 s = 8 frames before the end
    assert plan.pins[0].start == 9 and plan.pins[0].stop == 17


def test_seconds_are_rounded_to_frames():
    plan = plan_request([Condition(clip(1), at=1.0)], num_frames=25, fps=8)
    assert plan.pins[0].start == 8 and plan.known_mask()[latent_index(8)]


def test_requested_length_is_kept_and_canvas_rounded_up():
    plan = plan_request([], num_frames=10, fps=8)
    assert plan.num_frames == 13 and plan.output_frames == 10


@pytest.mark.parametrize(
    "conditions, match",
    [
        ([Condition(clip(20), at=0)], "longer than"),
        ([Condition(clip(4), at=15, unit="frames")], "outside"),
        ([Condition(clip(1), at=-30, unit="frames")], "outside"),
        ([Condition(clip(4), at=0, unit="frames"), Condition(clip(4), at=2, unit="frames")], "overlap"),
        ([Condition(clip(1), at=5, unit="frames"), Condition(clip(1), at=7, unit="frames")], "share a latent"),
    ],
)
def test_impossible_requests_are_refused(conditions, match):
    with pytest.raises(RequestError, match=match):
        plan_request(conditions, num_frames=17, fps=8)


def test_bad_strengths_and_units_are_refused():
    with pytest.raises(RequestError, match="strength"):
        Condition(clip(1), strength=0)
    with pytest.raises(RequestError, match="unit"):
        Condition(clip(1), unit="minutes")
    with pytest.raises(RequestError, match="edit strength"):
        plan_request([], num_frames=9, fps=8, edit_strength=1.5)


def test_adjacent_pins_in_different_latents_are_fine():
    conds = [Condition(clip(1), at=0, unit="frames"), Condition(clip(4), at=1, unit="frames")]
    plan = plan_request(conds, num_frames=9, fps=8)
    assert plan.known_mask().tolist() == [True, True, False]


def test_loop_adds_a_tied_tail():
    with pytest.warns(SpacetimeWarning, match="20 frames instead of 17"):
        plan = plan_request([], num_frames=17, fps=8, loop=True, loop_tie=2)
    # 20 written frames = canvas frames 1..20 of a 21-frame canvas (6 latents) + 2 tied latents.
    assert (plan.num_frames, plan.output_start, plan.output_frames) == (21, 1, 20)
    assert plan.latent_frames == 6 + 2
    assert plan.ties() == [(1, 6), (2, 7)]
    pinned = plan_request([Condition(clip(1), at=0)], num_frames=16, fps=8, loop=True)
    assert pinned.pins[0].start == 1 and pinned.known_mask()[1]
    with pytest.raises(RequestError, match="loop"):
        plan_request([], num_frames=3, fps=8, loop=True)


def test_strengths_follow_pins():
    plan = plan_request([Condition(clip(1), at=0, strength=0.5)], num_frames=9, fps=8)
    assert plan.strengths().tolist() == [0.5, 0.0, 0.0]


@pytest.mark.parametrize(
    "text, expected",
    [("0", (0.0, "seconds", 1.0)), ("2.5s", (2.5, "seconds", 1.0)), ("12f", (12, "frames", 1.0)),
     ("-1f", (-1, "frames", 1.0)), (" 3 :0.25", (3.0, "seconds", 0.25))],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text, match",
    [("soon", "time 'soon' is not seconds"), ("1.5f", "time '1.5f'"), ("", "time ''"),
     ("1:x", "strength 'x' is not a number"), ("1:0", r"strength '0' must be in \(0, 1\]")],
)
def test_parse_time_refuses_with_the_value_and_no_flag(text, match):
    with pytest.raises(RequestError, match=match) as e:
        parse_time(text)
    assert "--" not in str(e.value)


def test_parse_pin_makes_a_condition(tmp_path):
    image = tmp_path / "key@1.png"  # the last '@' separates the time
    image.write_bytes(b"x")
    cond = parse_pin(f"{image}@-4f:0.5")
    assert (str(cond.frames), cond.at, cond.unit, cond.strength) == (str(image), -4, "frames", 0.5)
    with pytest.raises(RequestError, match=r"pin '.*key@1.png@later': time 'later'"):
        parse_pin(f"{image}@later")
    with pytest.raises(VideoReadError, match="no such file"):
        parse_pin(f"{tmp_path / 'missing.png'}@0")
    with pytest.raises(VideoReadError, match="not a file"):
        parse_pin(f"{tmp_path}@0")
