"""The world's renderer and physics: exact colours, scale and rate invariance, WORLD.md constants."""

import math

import numpy as np
import pytest

from spacetime.errors import RequestError
from spacetime.world import vocab
from spacetime.world.render import render
from spacetime.world.scene import Scene, SceneObject, camera_offset, object_states, sample_scene, world_positions


def one(color="red", shape="circle", size="medium", motion="still", start=(0.0, 0.0), speed="normal", **scene_kw):
    obj = SceneObject(color, shape, size, motion, speed, start=start, **scene_kw.pop("obj", {}))
    return Scene(objects=[obj], **scene_kw)


def mask_of(frame, rgb, tol=2):
    return np.all(np.abs(frame.astype(int) - np.array(rgb)) <= tol, axis=-1)


def test_shape_dtype_and_determinism():
    scene = sample_scene(np.random.default_rng(3), seconds=1.0)
    a = render(scene, 48, 32, 12, 7)
    assert a.shape == (7, 32, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render(scene, 48, 32, 12, 7))


@pytest.mark.parametrize("background", ["black", "gray", "white"])
def test_exact_background_and_object_colours(background):
    for color, rgb in vocab.COLORS.items():
        frame = render(one(color, size="large", background=background), 64, 64, 12, 1)[0]
        assert tuple(frame[0, 0]) == vocab.BACKGROUNDS[background]
        assert tuple(frame[32, 32]) == rgb  # the centre pixel is wholly inside the object


def test_anti_aliased_edges_and_area():
    frame = render(one("blue", size="large"), 128, 128, 12, 1)[0].astype(float)
    bg, fg = np.array(vocab.BACKGROUNDS["black"]), np.array(vocab.COLORS["blue"])
    coverage = ((frame - bg) @ (fg - bg)) / ((fg - bg) @ (fg - bg))
    partial = (coverage > 0.05) & (coverage < 0.95)
    assert partial.sum() > 20  # soft edges exist
    expected = math.pi * (0.26 * 128 / 2) ** 2
    assert abs(coverage.sum() - expected) / expected < 0.01


def test_same_scene_at_every_size_and_rate():
    scene = one("green", "square", "small", "right", start=(-0.2, 0.1))
    small = render(scene, 64, 64, 12, 13)[12]
    large = render(scene, 256, 256, 24, 25)[24]  # both at t = 1 s
    down = large.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    assert np.abs(down - small).mean() < 2.0
    assert np.array_equal(render(scene, 64, 64, 12, 13)[12], render(scene, 64, 64, 24, 25)[24])


def test_rendered_position_matches_object_states():
    scene = one("yellow", "circle", "medium", "down-right", start=(-0.2, -0.2))
    video = render(scene, 96, 64, 10, 11)
    track = object_states(scene, np.arange(11) / 10, aspect=96 / 64)[0]
    for k in (0, 5, 10):
        ys, xs = np.nonzero(mask_of(video[k], vocab.COLORS["yellow"], tol=60))
        cx, cy = (xs.mean() + 0.5 - 48) / 64, (ys.mean() + 0.5 - 32) / 64
        assert abs(cx - track.x[k]) < 0.01 and abs(cy - track.y[k]) < 0.01


def test_bounce_gravity_and_restitution():
    scene = one("red", motion="bounce", start=(0.0, -0.3))
    t = np.linspace(0, 6, 60001)
    y = object_states(scene, t)[0].y
    floor = 0.5 - 0.09
    assert floor - 1e-4 < y.max() <= floor + 1e-12  # touches the bottom edge, never sinks below it
    assert abs(y[100] - (-0.3 + 0.5 * vocab.GRAVITY * t[100] ** 2)) < 1e-9  # free fall
    # apex heights above the floor shrink by e^2 per bounce
    drops = floor - y
    apexes = [drops[i] for i in range(1, len(t) - 1)
              if drops[i] > drops[i - 1] and drops[i] >= drops[i + 1] and drops[i] > 1e-3]
    assert abs(apexes[0] / (floor + 0.3) - vocab.RESTITUTION**2) < 1e-4
    assert abs(apexes[1] / apexes[0] - vocab.RESTITUTION**2) < 1e-4


def test_elastic_equal_mass_collision():
    a = SceneObject("red", motion="right", speed="quickly", start=(-0.35, 0.0))
    b = SceneObject("blue", motion="left", speed="slowly", start=(0.3, 0.05))
    scene = Scene(objects=[a, b], collide=True)
    t = np.array([0.0, 0.01, 2.99, 3.0])
    ta, tb = object_states(scene, t)
    va0 = np.array([ta.x[1] - ta.x[0], ta.y[1] - ta.y[0]]) / 0.01
    vb0 = np.array([tb.x[1] - tb.x[0], tb.y[1] - tb.y[0]]) / 0.01
    va1 = np.array([ta.x[3] - ta.x[2], ta.y[3] - ta.y[2]]) / 0.01
    vb1 = np.array([tb.x[3] - tb.x[2], tb.y[3] - tb.y[2]]) / 0.01
    assert not np.allclose(va0, va1)  # they did collide
    np.testing.assert_allclose(va0 + vb0, va1 + vb1, atol=1e-6)  # momentum
    assert abs(va0 @ va0 + vb0 @ vb0 - va1 @ va1 - vb1 @ vb1) < 1e-6  # kinetic energy
    dense = np.linspace(0, 3, 30001)
    ta, tb = object_states(scene, dense)
    gap = np.hypot(ta.x - tb.x, ta.y - tb.y)
    assert gap.min() > 0.18 - 1e-4  # they touch, never overlap


def test_orbit_spin_grow_shrink_constants():
    t = np.array([0.0, 1.0, 4.0])
    orbit = object_states(one(motion="orbit", start=(0.0, 0.25)), t)[0]
    np.testing.assert_allclose(np.hypot(orbit.x, orbit.y), vocab.ORBIT_RADIUS)
    np.testing.assert_allclose([orbit.x[2], orbit.y[2]], [orbit.x[0], orbit.y[0]], atol=1e-12)
    assert abs(object_states(one(shape="square", motion="spin"), t)[0].angle[1] - math.pi) < 1e-12
    assert abs(object_states(one(motion="grow"), t)[0].size[1] / 0.18 - 1.5) < 1e-12
    assert abs(object_states(one(motion="shrink"), t)[0].size[1] * 1.5 / 0.18 - 1) < 1e-12


def test_pillar_is_in_front_and_hides():
    scene = one("pink", size="small", motion="right", speed="slowly", start=(-0.3, 0.0), pillar=True)
    times = np.array([0.0, 2.0])  # at 2 s the object is at x = 0, behind the pillar
    video = render(scene, 100, 100, 0.5, 2)
    assert tuple(video[1, 50, 50]) == vocab.PILLAR_COLOR
    assert not mask_of(video[1], vocab.COLORS["pink"], tol=10).any()
    assert list(object_states(scene, times)[0].visible) == [True, False]


def test_trail_persists():
    scene = one("cyan", "square", "medium", "right", start=(-0.3, 0.0), obj={"trail": True})
    video = render(scene, 100, 100, 4, 9)  # the object goes from x = -0.3 to x = 0.2
    assert tuple(video[-1, 50, 20]) == vocab.COLORS["cyan"]  # where it was at the start
    assert tuple(video[-1, 45, 20]) == vocab.BACKGROUNDS["black"]  # the line is 0.3 x size wide
    assert tuple(video[0, 50, 60]) == vocab.BACKGROUNDS["black"]  # not painted ahead of time


def test_camera_pan_shifts_floor_and_objects():
    scene = one("orange", start=(0.0, 0.0), background="checkered", camera="right")
    video = render(scene, 100, 100, 20, 6).astype(int)  # 0.2 s/s at 100 px: one pixel per frame
    np.testing.assert_allclose(video[5, :, :-5], video[0, :, 5:], atol=1)  # scene moves left
    light, dark = vocab.CHECKER_COLORS[1], vocab.CHECKER_COLORS[0]
    assert {tuple(video[0, 2, 2]), tuple(video[0, 2, 20])} == {light, dark}


@pytest.mark.parametrize("size", [(8, 64), (64, 15)])
def test_bad_requests_raise(size):
    with pytest.raises(RequestError, match="too small"):
        render(one(), *size, 12, 1)
    with pytest.raises(RequestError, match="num_frames"):
        render(one(), 32, 32, 12, 0)


def test_scene_json_round_trip_and_validation():
    for seed in range(20):
        scene = sample_scene(np.random.default_rng(seed))
        assert Scene.from_json(scene.to_json()).to_dict() == scene.to_dict()
    with pytest.raises(RequestError, match="magenta"):
        SceneObject("magenta")
    with pytest.raises(RequestError, match="unknown scene keys"):
        Scene.from_dict({"objects": [], "colour": "red"})
    with pytest.raises(RequestError, match="collide"):
        Scene(objects=[SceneObject("red")], collide=True)


def test_sampler_knobs_keep_objects_in_frame():
    seen = set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng, num_objects=(2, 3), scenarios=("multi", "collide", "pan"), seconds=3.0, aspect=2.0)
        assert 2 <= len(scene.objects) <= 3
        assert len({o.color for o in scene.objects}) == len(scene.objects)
        seen.add("collide" if scene.collide else "pan" if scene.camera else "multi")
        if not scene.collide:
            for track in object_states(scene, np.linspace(0, 3, 13), aspect=2.0):
                assert track.visible[0]
    assert seen == {"multi", "collide", "pan"}
    with pytest.raises(RequestError):
        sample_scene(np.random.default_rng(0), num_objects=1, scenarios=("collide",))


def test_sampler_respects_shape_motion_and_background_knobs():
    for seed in range(40):
        scene = sample_scene(np.random.default_rng(seed), shapes=("square",), motions=("spin", "grow"),
                             backgrounds=("white",), scenarios=("single", "multi"), seconds=2.0)
        assert scene.background == "white"
        assert all(o.shape == "square" and o.motion in ("spin", "grow") for o in scene.objects)


@pytest.mark.parametrize("camera", ["left", "right", "up", "down"])
def test_trail_stays_on_the_world_while_the_camera_pans(camera):
    scene = one("purple", "circle", "small", "orbit", start=(0.25, 0.0), obj={"trail": True},
                background="checkered", camera=camera)
    W, H, fps, T = 120, 100, 10, 21
    video = render(scene, W, H, fps, T)
    past = np.arange(0, 1.2, 0.1)  # where it was during its first 1.2 s, seen from the last frame's camera
    xy = world_positions(scene, past, W / H)[0] - camera_offset(scene, [(T - 1) / fps])[0]
    for x, y in xy:
        col, row = int(W / 2 + x * H), int(H / 2 + y * H)
        if 0 <= col < W and 0 <= row < H:
            assert np.abs(video[-1, row, col].astype(int) - vocab.COLORS["purple"]).max() <= 3


def test_object_pixels_are_where_the_scene_differs_from_its_empty_background():
    from spacetime.world.render import object_pixels

    scene = Scene(background="checkered", objects=[SceneObject(color="red", shape="square", size="large")])
    shown = object_pixels(scene, render(scene, 64, 64, 8.0, 2), 8.0)
    assert shown.shape == (2, 64, 64) and 0.02 < shown.mean() < 0.2
    assert shown[:, 32, 32].all() and not shown[:, 0, 0].any()  # the object starts at the centre
    empty = Scene(background="checkered")
    assert not object_pixels(scene, render(empty, 64, 64, 8.0, 2), 8.0).any()
