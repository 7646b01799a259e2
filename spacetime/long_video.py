"""Windows over a long latent canvas: which latent frames each sampling pass sees.

A canvas longer than the model's window is generated window by window (DESIGN.md, "Long
video"). Each window holds `window` latent frames: the last `context` latent frames of
what is already generated (known, clean), optionally the canvas's first latent frame as
an anchor against drift (known, placed in front), and new frames. Only the latents are
kept for the whole canvas (C x H/8 x W/8 per 4 pixel frames, about 1/48 of the float
pixels); pixels are decoded chunk by chunk and streamed to the writer, so the memory
held is set by the window, not by the length.

The windows are pure index arithmetic, kept here so that they can be tested and read
apart from the model code.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacetime.errors import RequestError


@dataclass(frozen=True)
class Window:
    """One sampling pass: `frames` are global latent indices in the order the model sees them."""

    frames: tuple[int, ...]
    new: tuple[int, ...]  # the indices this window generates (the rest are known context)


def plan_windows(total: int, *, window: int, context: int, anchor: bool = True) -> list[Window]:
    """Split `total` latent frames into windows of at most `window` frames.

    The first window is frames [0, window). Each later window starts `context` frames
    before the previous window's end (those are known), puts frame 0 in front when
    `anchor`, and generates the next frames. The last window is moved back (more context)
    so that every window has the same size and cost. One window when `total <= window`.
    """
    if window < 2:
        raise RequestError(f"a window needs at least 2 latent frames, got {window}")
    if not 1 <= context < window - int(anchor):
        raise RequestError(f"window context must be in [1, {window - int(anchor) - 1}], got {context}")
    if total <= window:
        return [Window(frames=tuple(range(total)), new=tuple(range(total)))]
    windows = [Window(frames=tuple(range(window)), new=tuple(range(window)))]
    done = window
    span = window - int(anchor)  # frames of the running sequence a later window holds
    while done < total:
        stop = min(done + span - context, total)
        start = stop - span  # >= done - context; further back for the last window
        frames = ((0,) if anchor else ()) + tuple(range(start, stop))
        windows.append(Window(frames=frames, new=tuple(range(done, stop))))
        done = stop
    return windows
