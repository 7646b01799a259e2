"""The renderer of the synthetic world: a `Scene` to uint8 frames (T, H, W, 3).

Vectorised numpy with analytic anti-aliasing: every shape is a signed distance d (in
pixels, negative inside) and its pixel coverage is clip(0.5 - d, 0, 1), computed only
inside the shape's bounding box. The checkered floor is separable, so its exact box-
filtered value is an outer product of two 1D averages of a square wave, cheap to redo for
every frame of a camera pan. Trails live on a layer fixed to the world, extended by the
distance the camera travels, and are sampled (bilinearly, for sub-pixel pans) each frame.

Drawing order: background, trails, objects (in scene order), pillar (in front).
There is no randomness here: the same scene, size, rate and length give the same pixels.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from spacetime.errors import RequestError
from spacetime.world import vocab
from spacetime.world.scene import Scene, camera_offset, object_states, world_positions

MIN_SIDE = 16


def _coverage(d: np.ndarray) -> np.ndarray:
    """Pixel coverage of a shape from its signed distance in pixels (box-filter approximation)."""
    return np.clip(0.5 - d, 0.0, 1.0)


def _blend(region: np.ndarray, cover: np.ndarray, rgb: np.ndarray) -> None:
    """Paint `rgb` over the uint8 `region` (h, w, 3) in place with alpha `cover` (h, w), rounding."""
    mixed = region.astype(np.float32)
    mixed += cover[..., None] * (rgb - mixed)
    mixed += 0.5
    region[...] = mixed  # the cast truncates: with +0.5, rounds to nearest (values stay in 0..255)


def _square_wave_average(u: np.ndarray, half_pixel: float, edge: float) -> np.ndarray:
    """Average over [u - h, u + h] of the +-1 square wave that is +1 on [0, edge) (period 2 edge)."""

    def integral(v):  # an antiderivative of the square wave (a triangle wave)
        return -np.abs(np.mod(v, 2 * edge) - edge)

    return (integral(u + half_pixel) - integral(u - half_pixel)) / (2 * half_pixel)


def _shape_distance(shape: str, dx: np.ndarray, dy: np.ndarray, side: float, angle: float) -> np.ndarray:
    """Signed distance (pixels) from offsets (dx, dy) to a shape of size `side` px, turned by `angle`."""
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - side / 2
    c, s = math.cos(angle), math.sin(angle)
    lx, ly = c * dx + s * dy, -s * dx + c * dy  # into the shape's own frame (y down)
    if shape == "square":
        qx, qy = np.abs(lx) - side / 2, np.abs(ly) - side / 2
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    # equilateral triangle about its centroid, apex up (-y): the three edges' half planes
    inradius = side / (2 * math.sqrt(3))
    k = math.sqrt(3) / 2
    return np.maximum(np.maximum(ly, k * lx - 0.5 * ly), -k * lx - 0.5 * ly) - inradius


def _extent(shape: str, side: float) -> float:
    """Radius (pixels) of a circle around the centre that holds the shape at any angle."""
    return side * {"circle": 0.5, "square": math.sqrt(0.5), "triangle": 1 / math.sqrt(3)}[shape]


class _Trail:
    """A coverage layer fixed to the world, into which one object stamps its path as capsules."""

    def __init__(self, world_xy: np.ndarray, widths: np.ndarray, times: np.ndarray, pad: tuple[int, int, int, int],
                 width: int, height: int, scale: float):
        self.xy, self.widths, self.times = world_xy, widths, times  # dense polyline, in pixels
        self.pad = pad  # (left, top, right, bottom): layer pixels beyond the frame the camera may reach
        self.layer = np.zeros((height + pad[1] + pad[3] + 2, width + pad[0] + pad[2] + 2), np.float32)
        self.done = 0  # polyline points stamped so far
        self.painted = None  # (x0, y0, x1, y1) layer box holding every stamp so far

    def advance(self, t: float) -> None:
        """Stamp every segment that ends at or before time t."""
        end = int(np.searchsorted(self.times, t + 1e-9, side="right"))
        if end <= self.done:
            return
        if end == 1:  # only the start point so far: a dot
            self._stamp(self.xy[:1], self.xy[:1], self.widths[:1])
        first = max(self.done - 1, 0)
        for i in range(first, end - 1, 64):  # chunks bound the (segments, h, w) temporary
            j = min(i + 64, end - 1)
            self._stamp(self.xy[i:j], self.xy[i + 1:j + 1], self.widths[i + 1:j + 1])
        self.done = end

    def _stamp(self, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> None:
        """Max-composite capsules from a[k] to b[k] of widths w[k] (pixels) into the layer."""
        lo = np.floor(np.minimum(a, b).min(0) - w.max() / 2 - 1).astype(int)
        hi = np.ceil(np.maximum(a, b).max(0) + w.max() / 2 + 1).astype(int)
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, [self.layer.shape[1], self.layer.shape[0]])
        if np.any(hi <= lo):
            return
        px = np.arange(lo[0], hi[0]) + 0.5
        py = np.arange(lo[1], hi[1]) + 0.5
        # distance from every pixel to every segment: (S, h, w)
        ab = b - a
        len2 = np.maximum((ab**2).sum(1), 1e-12)[:, None, None]
        rx = px[None, None, :] - a[:, 0, None, None]
        ry = py[None, :, None] - a[:, 1, None, None]
        h = np.clip((rx * ab[:, 0, None, None] + ry * ab[:, 1, None, None]) / len2, 0.0, 1.0)
        dist = np.sqrt((rx - h * ab[:, 0, None, None]) ** 2 + (ry - h * ab[:, 1, None, None]) ** 2)
        cover = _coverage(dist - w[:, None, None] / 2).max(0)
        view = self.layer[lo[1]:hi[1], lo[0]:hi[0]]
        np.maximum(view, cover, out=view)
        box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
        if self.painted is not None:
            box = (min(box[0], self.painted[0]), min(box[1], self.painted[1]),
                   max(box[2], self.painted[2]), max(box[3], self.painted[3]))
        self.painted = box

    def sample(self, cam_px: np.ndarray, width: int, height: int):
        """The painted part of the layer seen by the frame whose camera sits at `cam_px` (pixels).

        Returns ((y0, y1, x0, x1) frame slice, coverage of that slice) or None if nothing shows;
        sub-pixel camera positions are sampled bilinearly.
        """
        if self.painted is None:
            return None
        ox, oy = self.pad[0] + cam_px[0], self.pad[1] + cam_px[1]
        ix, iy = int(math.floor(ox)), int(math.floor(oy))
        fx, fy = ox - ix, oy - iy
        # frame rows/cols that can see painted layer pixels (one extra for the bilinear tap)
        lx0, ly0, lx1, ly1 = self.painted
        x0, x1 = max(lx0 - ix - 1, 0), min(lx1 - ix + 1, width)
        y0, y1 = max(ly0 - iy - 1, 0), min(ly1 - iy + 1, height)
        if x1 <= x0 or y1 <= y0:
            return None
        L = self.layer
        a, b, c, d = iy + y0, iy + y1, ix + x0, ix + x1
        if fx < 1e-6 and fy < 1e-6:
            return (y0, y1, x0, x1), L[a:b, c:d]
        cover = ((1 - fy) * ((1 - fx) * L[a:b, c:d] + fx * L[a:b, c + 1:d + 1])
                 + fy * ((1 - fx) * L[a + 1:b + 1, c:d] + fx * L[a + 1:b + 1, c + 1:d + 1]))
        return (y0, y1, x0, x1), cover


def _check_request(width, height, fps, num_frames, start_time) -> None:
    if not (isinstance(width, (int, np.integer)) and isinstance(height, (int, np.integer))) \
            or width < MIN_SIDE or height < MIN_SIDE:
        raise RequestError(
            f"world canvas {width}x{height} is too small; width and height must be integers >= {MIN_SIDE}"
        )
    if not (isinstance(num_frames, (int, np.integer)) and num_frames >= 1):
        raise RequestError(f"num_frames must be a positive integer, got {num_frames!r}")
    if not (fps > 0 and math.isfinite(fps)):
        raise RequestError(f"fps must be a positive number, got {fps!r}")
    if not (start_time >= 0 and math.isfinite(start_time)):
        raise RequestError(f"start_time must be >= 0 seconds, got {start_time!r}")


def render(
    scene: Scene, width: int, height: int, fps: float, num_frames: int, *, start_time: float = 0.0
) -> np.ndarray:
    """Render `num_frames` frames of `scene` at `fps`, frame k at time start_time + k / fps.

    Returns uint8 (T, H, W, 3), sRGB. Deterministic. Lengths scale with the short side, so a
    scene looks the same at every size and rate. Trails painted before `start_time` are kept.
    """
    _check_request(width, height, fps, num_frames, start_time)
    out = np.empty((int(num_frames), int(height), int(width), 3), np.uint8)
    for k, frame in enumerate(_frames(scene, width, height, fps, num_frames, start_time)):
        out[k] = frame
    return out


def object_pixels(scene: Scene, frames: np.ndarray, fps: float, threshold: float = 24.0) -> np.ndarray:
    """(T, H, W) bool: where `frames` (T, H, W, 3), values 0 to 255, differ by more than `threshold` in
    some channel from `scene` rendered at `fps` with no objects (background, pillar and camera pan
    kept): the pixels that show an object, when `frames` are the scene's own render."""
    T, H, W = frames.shape[:3]
    empty = render(dataclasses.replace(scene, objects=[], collide=False), W, H, fps, T)
    return np.abs(frames.astype(np.float32) - empty).max(axis=-1) > threshold


def iter_render(scene: Scene, width: int, height: int, fps: float, num_frames: int, *, start_time: float = 0.0):
    """The frames of `render` one at a time, each a new uint8 (H, W, 3): memory independent of length."""
    _check_request(width, height, fps, num_frames, start_time)
    for frame in _frames(scene, width, height, fps, num_frames, start_time):
        yield frame.copy()


def _frames(scene: Scene, width: int, height: int, fps: float, num_frames: int, start_time: float):
    """Draw each frame into one reused uint8 buffer and yield it (callers copy what they keep)."""
    W, H, T = int(width), int(height), int(num_frames)
    scale = float(min(W, H))  # pixels per short-side unit
    times = start_time + np.arange(T) / fps
    tracks = object_states(scene, times, aspect=W / H)
    cam = camera_offset(scene, times)  # (T, 2) world units
    # pixel-centre coordinates in short-side units, origin at the canvas centre
    u = ((np.arange(W) + 0.5) - W / 2) / scale
    v = ((np.arange(H) + 0.5) - H / 2) / scale

    def floor_image(offset) -> np.ndarray:
        """uint8 (H, W, 3), or (H, W) for the checkered floor, whose two colours are neutral gray."""
        if scene.background != "checkered":
            return np.broadcast_to(np.array(vocab.BACKGROUNDS[scene.background], np.uint8), (H, W, 3))
        half_pixel = 0.5 / scale
        sx = _square_wave_average(u + offset[0], half_pixel, vocab.CHECKER_EDGE).astype(np.float32)
        sy = _square_wave_average(v + offset[1], half_pixel, vocab.CHECKER_EDGE).astype(np.float32)
        dark, light = (float(c[0]) for c in vocab.CHECKER_COLORS)
        gray = np.outer(sy, sx)  # +1 light, -1 dark, between on edges
        gray *= 0.5 * (light - dark)
        gray += 0.5 * (light + dark) + 0.5
        return gray.astype(np.uint8)

    moving_floor = scene.camera is not None and scene.background == "checkered"
    still_floor = floor_image((0.0, 0.0))
    if still_floor.ndim == 2:
        still_floor = still_floor[..., None]
    still_floor = np.ascontiguousarray(np.broadcast_to(still_floor, (H, W, 3)))  # copied by memcpy per frame
    trails = _make_trails(scene, times, W, H, scale)
    colors = [np.array(vocab.COLORS[o.color], np.float32) for o in scene.objects]
    pillar_rgb = np.array(vocab.PILLAR_COLOR, np.float32)
    columns = np.arange(W, dtype=np.float32)

    buf = np.empty((H, W, 3), np.uint8)
    for k in range(T):
        if moving_floor:
            gray = floor_image(cam[k])
            for channel in range(3):  # three strided copies beat one stride-0 broadcast
                buf[..., channel] = gray
        else:
            np.copyto(buf, still_floor)
        for trail, obj_index in trails:
            trail.advance(times[k])
            painted = trail.sample(cam[k] * scale, W, H)
            if painted is not None:
                (y0, y1, x0, x1), cover = painted
                _blend(buf[y0:y1, x0:x1], cover, colors[obj_index])
        for i, (obj, track) in enumerate(zip(scene.objects, tracks)):
            side = track.size[k] * scale
            if side <= 0:
                continue
            cx, cy = W / 2 + track.x[k] * scale, H / 2 + track.y[k] * scale
            reach = _extent(obj.shape, side) + 1.0
            x0, x1 = max(int(cx - reach), 0), min(int(math.ceil(cx + reach)), W)
            y0, y1 = max(int(cy - reach), 0), min(int(math.ceil(cy + reach)), H)
            if x1 <= x0 or y1 <= y0:
                continue
            dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
            dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
            d = _shape_distance(obj.shape, dx, dy, side, float(track.angle[k]))
            _blend(buf[y0:y1, x0:x1], _coverage(d), colors[i])
        if scene.pillar:
            centre = W / 2 - cam[k, 0] * scale
            left, right = centre - vocab.PILLAR_WIDTH * scale / 2, centre + vocab.PILLAR_WIDTH * scale / 2
            c0, c1 = max(int(math.floor(left)), 0), min(int(math.ceil(right)), W)
            if c1 > c0:
                cols = columns[c0:c1]
                cover = np.clip(np.minimum(cols + 1, right) - np.maximum(cols, left), 0.0, 1.0)  # exact box filter
                _blend(buf[:, c0:c1], np.broadcast_to(cover[None, :], (H, c1 - c0)), pillar_rgb)
        yield buf


def _make_trails(scene: Scene, times: np.ndarray, W: int, H: int, scale: float) -> list[tuple[_Trail, int]]:
    """One world-fixed trail layer per object with `trail`, holding its dense path from t = 0."""
    indices = [i for i, o in enumerate(scene.objects) if o.trail]
    if not indices:
        return []
    t_end = float(times[-1])
    aspect = W / H
    # sample the path densely enough that consecutive points are < 0.5 px apart
    probe = np.linspace(0.0, t_end, max(int(t_end * 50), 2))
    pos = world_positions(scene, probe, aspect) * scale
    step = np.abs(np.diff(pos, axis=1)).max() if probe.size > 1 else 0.0
    dense = np.linspace(0.0, t_end, max(int(math.ceil(step / 0.5 * (probe.size - 1))) + 1, 2))
    dense = np.union1d(dense, times)  # frame times fall on polyline points: nothing stamped early
    pos = world_positions(scene, dense, aspect) * scale
    tracks = object_states(scene, dense, aspect)
    cam_end = camera_offset(scene, [t_end])[0] * scale  # the camera moves one way: pad that side only
    pad = tuple(int(math.ceil(max(sign * c, 0.0))) + 2 for sign in (-1, 1) for c in cam_end)
    out = []
    for i in indices:
        # layer pixel = world pixel + frame half-size + pad, so the camera at 0 sees the frame
        xy = pos[i] + np.array([W / 2 + pad[0], H / 2 + pad[1]])
        widths = vocab.TRAIL_WIDTH * tracks[i].size * scale
        out.append((_Trail(xy, widths, dense, pad, W, H, scale), i))
    return out
