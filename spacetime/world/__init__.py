"""The synthetic world of ../shared/WORLD.md: scenes, physics, renderer, captions, datasets.

    from spacetime.world import sample_scene, render, caption, parse_prompt
    scene = sample_scene(np.random.default_rng(0), seconds=2.0)
    frames = render(scene, 128, 128, fps=12, num_frames=24)   # uint8 (T, H, W, 3)
    text = caption(scene, np.random.default_rng(0), "descriptive")

`WorldClips` (torch) loads on first use, so the rest stays numpy-only. See docs/world.md.
"""

from spacetime.world.captions import caption
from spacetime.world.parse import parse_prompt
from spacetime.world.render import render
from spacetime.world.scene import (
    SCENARIOS,
    ObjectTrack,
    Scene,
    SceneObject,
    camera_offset,
    object_states,
    place_objects,
    sample_scene,
    world_positions,
)

__all__ = [
    "SCENARIOS", "ObjectTrack", "Scene", "SceneObject", "WorldClips", "camera_offset", "caption",
    "object_states", "parse_prompt", "place_objects", "render", "sample_scene", "world_positions",
]


def __getattr__(name):
    if name == "WorldClips":  # imports torch
        from spacetime.world.dataset import WorldClips

        return WorldClips
    raise AttributeError(f"module 'spacetime.world' has no attribute {name!r}")
