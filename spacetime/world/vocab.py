"""The fixed vocabulary of the synthetic world (../shared/WORLD.md), verbatim.

These values are a contract: an evaluator reads a generated video by colour alone, so
they never change. Lengths are fractions of the canvas *short side* `s`; speeds are `s`
per second; times are seconds. Coordinates used by the world: x to the right, y DOWN
(image rows), origin at the canvas centre, in short-side units.
"""

from __future__ import annotations

# --- backgrounds (low saturation) ------------------------------------------------------
BACKGROUNDS: dict[str, tuple[int, int, int] | None] = {
    "black": (18, 18, 22),
    "gray": (120, 120, 120),
    "white": (236, 236, 232),
    "checkered": None,  # the checkered floor, drawn from CHECKER_COLORS / CHECKER_EDGE
}
CHECKER_COLORS: tuple[tuple[int, int, int], tuple[int, int, int]] = ((96, 96, 96), (144, 144, 144))
CHECKER_EDGE = 0.125  # square edge, in s

# --- object colours (saturated; hue alone tells them apart) ----------------------------
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 210, 30),
    "green": (40, 180, 70),
    "cyan": (30, 195, 215),
    "blue": (45, 90, 230),
    "purple": (145, 65, 210),
    "pink": (240, 105, 180),
}

# --- shapes and sizes ------------------------------------------------------------------
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
SIZES: dict[str, float] = {"small": 0.12, "medium": 0.18, "large": 0.26}  # diameter / side, in s
DEFAULT_SIZE = "medium"

# --- motions ---------------------------------------------------------------------------
SPEEDS: dict[str, float] = {"slowly": 0.15, "normal": 0.25, "quickly": 0.40}  # s per second
DEFAULT_SPEED = "normal"
# Unit direction vectors with y pointing down (so "up" is -y); diagonals are 45 degrees.
_D = 0.5**0.5
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-_D, -_D),
    "up-right": (_D, -_D),
    "down-left": (-_D, _D),
    "down-right": (_D, _D),
}
LINEAR_MOTIONS: tuple[str, ...] = tuple(DIRECTIONS)
MOTIONS: tuple[str, ...] = ("still", *LINEAR_MOTIONS, "bounce", "grow", "shrink", "spin", "orbit")

GRAVITY = 2.0  # s / second^2, for "bounce"
RESTITUTION = 0.9  # bounce off the bottom edge
GROWTH_PER_SECOND = 1.5  # "grow" scales size by 1.5x per second, "shrink" by 1/1.5
SPIN_DEGREES_PER_SECOND = 180.0  # "spin": squares and triangles turn about their centre
ORBIT_RADIUS = 0.25  # s, about the canvas centre
ORBIT_PERIOD = 4.0  # seconds per turn

# --- scenes beyond one object ----------------------------------------------------------
MAX_OBJECTS = 3
PILLAR_COLOR: tuple[int, int, int] = (70, 70, 70)
PILLAR_WIDTH = 0.15  # s, a full-height vertical bar at the canvas centre, in front of objects
TRAIL_WIDTH = 0.3  # trail line width as a fraction of the object's size
CAMERA_SPEED = 0.2  # s per second
CAMERA_PANS: tuple[str, ...] = ("left", "right", "up", "down")
