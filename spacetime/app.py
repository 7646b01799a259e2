"""The web UI: `spacetime serve` starts a Gradio app on one loaded `Pipeline`.

    from spacetime.app import build_app, serve
    serve("my_model/", host="127.0.0.1", port=7860)        # what `spacetime serve` does
    demo = build_app(Pipeline.from_pretrained("my_model/"))  # or build it and launch it yourself

One tab per capability (text to video, image, animate, extend, loop, connect, edit,
keyframes), all sharing one panel of settings (size or aspect, duration, fps, steps,
guidance, seed) and one result area (a playable video with download, or an image, and
the seed that reproduces it).

Why it is safe to share: every generation event has the same `concurrency_id`, and the
queue runs one at a time (`default_concurrency_limit=1`, a bounded `max_size`), so several
users wait their turn instead of loading the model twice or running out of memory; the
pipeline itself refuses requests whose memory estimate is above what is free. A handler
never lets an exception out: user errors (`SpacetimeError`) become `gr.Error` with their
one line, anything else is logged on the server and shown as one line, so the server stays
up and the page never shows a stack trace.

Uploads are checked by content (`spacetime.video.probe`), size (MB) and duration (s) when
they arrive and again when a request runs (API clients skip the page); the limits are in
the upload labels. The logic below the "Gradio" line is plain functions, tested without
a browser in tests/test_app.py.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spacetime.errors import RequestError, SpacetimeError, SpacetimeWarning, VideoReadError

# Tab label -> request kind (also the API name: /generate, /image, ...).
MODES = {
    "Text to video": "generate",
    "Image": "image",
    "Animate an image": "animate",
    "Extend": "extend",
    "Loop": "loop",
    "Connect": "connect",
    "Edit": "edit",
    "Keyframes": "keyframes",
}
KEYFRAME_SLOTS = 3
DEFAULT_ASPECT = "model default"


@dataclass
class AppLimits:
    """What one request may ask of the server (shown in the page; checked on every request)."""

    max_upload_mb: float = 50.0
    max_upload_seconds: float = 30.0
    max_seconds: float = 20.0  # the longest video (or extension, or transition) one request may generate
    max_side: int = 1024  # the largest width or height of a video
    max_fps: float = 60.0
    max_steps: int = 100
    queue_size: int = 16  # requests waiting beyond this are told the queue is full

    def __post_init__(self):
        for name in ("max_upload_mb", "max_upload_seconds", "max_seconds", "max_side", "max_fps", "max_steps",
                     "queue_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"AppLimits.{name} must be positive, got {getattr(self, name)}")


@dataclass
class Settings:
    """The shared panel's values after checking; None means the model folder's default."""

    width: int | None
    height: int | None
    seconds: float | None
    fps: float | None
    steps: int | None
    guidance: float | None
    seed: int


# ---- checks (plain functions) ------------------------------------------------------------------------


def check_upload(path: str | Path | None, limits: AppLimits, *, what: str = "upload", required: bool = True):
    """Probe an uploaded file by content; refuse it if it is too large or too long. Returns its VideoInfo.

    Error messages name the file by its own name, not by the server's temporary path.
    """
    from spacetime.video import probe

    if path is None or str(path) == "":
        if required:
            raise RequestError(f"{what}: no file given; upload one")
        return None
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise VideoReadError(f"{what} {name}: the upload is missing on the server; upload it again")
    size_mb = path.stat().st_size / 2**20
    if size_mb > limits.max_upload_mb:
        raise RequestError(f"{what} {name} is {size_mb:.1f} MB, above the limit of {limits.max_upload_mb:g} MB")
    try:
        info = probe(path)
    except SpacetimeError as e:
        message = _one_line(e).replace(str(path), name)
        raise VideoReadError(f"{what}: {message}") from None
    if info.duration > limits.max_upload_seconds:
        raise RequestError(
            f"{what} {name} lasts {info.duration:.1f} s, above the limit of {limits.max_upload_seconds:g} s; trim it"
        )
    return info


def describe_upload(info) -> str:
    """One line about an accepted upload, shown under it."""
    name = Path(info.path).name
    if info.is_image:
        return f"{name}: image {info.width}x{info.height}"
    return f"{name}: {info.width}x{info.height}, {info.duration:.1f} s at {info.fps or 0:g} fps"


def resolve_size(aspect: str | None, short_side: float | None, size_text: str | None, defaults: dict,
                 limits: AppLimits) -> tuple[int | None, int | None]:
    """The panel's size: 'WxH' text wins, else an aspect ratio with a short side, else the model's default."""
    from spacetime.sizes import resolve_size as size_from_text

    if aspect == DEFAULT_ASPECT:
        aspect = None
    width, height = size_from_text(size_text, aspect, short_side, defaults)
    if width is not None and max(width, height) > limits.max_side:
        raise RequestError(f"{width}x{height} is above this server's limit of {limits.max_side} pixels a side")
    return width, height


def check_settings(*, aspect, short_side, size_text, seconds, fps, steps, guidance, seed, defaults: dict,
                   limits: AppLimits) -> Settings:
    """Turn the panel's raw values into `Settings`, refusing what the server does not allow."""
    import random

    width, height = resolve_size(aspect, short_side, size_text, defaults, limits)
    if seconds is not None and not 0 < float(seconds) <= limits.max_seconds:
        raise RequestError(f"duration must be in (0, {limits.max_seconds:g}] seconds on this server, got {seconds:g}")
    if fps is not None and not 0 < float(fps) <= limits.max_fps:
        raise RequestError(f"fps must be in (0, {limits.max_fps:g}], got {fps:g}")
    if steps is not None and not 1 <= int(steps) <= limits.max_steps:
        raise RequestError(f"steps must be in [1, {limits.max_steps}], got {steps}")
    if guidance is not None and float(guidance) < 0:
        raise RequestError(f"guidance must be >= 0, got {guidance:g}")
    if seed is None or int(seed) < 0:  # -1 in the page: draw one (and show it)
        seed = random.SystemRandom().randrange(2**31 - 1)
    return Settings(
        width=width, height=height,
        seconds=None if seconds is None else float(seconds), fps=None if fps is None else float(fps),
        steps=None if steps is None else int(steps), guidance=None if guidance is None else float(guidance),
        seed=int(seed),
    )


def parse_keyframe(path, when: str, index: int, limits: AppLimits):
    """A keyframe slot (file and 'TIME[:STRENGTH]' text) -> Condition, or None when the slot is empty."""
    from spacetime.conditioning import Condition, parse_time

    if path is None or str(path) == "":
        return None
    check_upload(path, limits, what=f"keyframe {index}")
    try:
        at, unit, strength = parse_time((when or "").strip())
    except RequestError as e:  # name the slot, not the server's path of the upload
        raise RequestError(f"keyframe {index}: {_one_line(e)}") from None
    return Condition(str(path), at=at, unit=unit, strength=strength)


# ---- running a request ------------------------------------------------------------------------------


def run_request(pipe, mode: str, values: dict, settings: Settings, out_dir: str | Path, limits: AppLimits,
                progress: bool | Callable[[str, int, int], None] = False):
    """Run one request of kind `mode` (a value of MODES) on `pipe`; returns the GeneratedVideo.

    `values` holds the tab's inputs by name (prompt, file, files, times, strength, before,
    after, transition, transition_only). The result is streamed into a fresh file in `out_dir`.
    `progress` is the pipeline's: False, True (tqdm bars) or a callback (stage, done, total),
    e.g. `page_progress(gr.Progress())`. Raises SpacetimeError for anything the user can fix.
    """
    if mode not in MODES.values():
        raise RequestError(f"unknown mode {mode!r}; choose one of {', '.join(MODES.values())}")
    prompt = values.get("prompt") or ""
    suffix = ".png" if mode == "image" else ".mp4"
    output = Path(out_dir) / f"{mode}-{settings.seed}-{uuid.uuid4().hex[:8]}{suffix}"
    kw = dict(width=settings.width, height=settings.height, steps=settings.steps, guidance=settings.guidance,
              seed=settings.seed, output=output, progress=progress)
    if mode != "image":
        kw["fps"] = settings.fps
    length = dict(seconds=settings.seconds)

    if mode == "generate":
        return pipe.generate(prompt, **length, **kw)
    if mode == "image":
        return pipe.image(prompt, **kw)
    if mode == "animate":
        check_upload(values.get("file"), limits, what="image")
        return pipe.animate(values["file"], prompt, strength=float(values.get("strength", 1.0)), **length, **kw)
    if mode == "edit":  # the whole input is re-rendered (up to the server's limit), not the Duration setting
        info = check_upload(values.get("file"), limits, what="video")
        strength = float(values.get("strength", 0.6))
        if not 0.0 < strength <= 1.0:
            raise RequestError(f"edit strength must be in (0, 1], got {strength:g}")
        seconds = None
        if info.duration > limits.max_seconds:
            seconds = limits.max_seconds
            warnings.warn(f"the video lasts {info.duration:.1f} s; only its first {seconds:g} s (this server's "
                          "limit) are re-rendered", SpacetimeWarning, stacklevel=2)
        return pipe.generate(prompt, edit=values["file"], edit_strength=strength, seconds=seconds, **kw)
    if mode == "extend":
        check_upload(values.get("file"), limits, what="video")
        before, after = float(values.get("before") or 0), float(values.get("after") or 0)
        if before + after > limits.max_seconds:
            raise RequestError(f"before + after is {before + after:g} s, above this server's {limits.max_seconds:g} s")
        return pipe.extend(values["file"], prompt, before=before, after=after, **kw)
    if mode == "connect":
        a = values.get("files", [None, None])
        check_upload(a[0], limits, what="video A")
        check_upload(a[1], limits, what="video B")
        return pipe.connect(a[0], a[1], prompt, seconds=_transition(values, limits),
                            transition_only=bool(values.get("transition_only")), **kw)
    if mode == "loop":
        if check_upload(values.get("file"), limits, what="video", required=False) is not None:
            return pipe.loop_video(values["file"], prompt, seconds=_transition(values, limits), **kw)
        return pipe.generate(prompt, loop=True, **length, **kw)
    # keyframes
    pins = [parse_keyframe(f, t, i + 1, limits) for i, (f, t) in enumerate(zip(values.get("files", []),
                                                                              values.get("times", [])))]
    pins = [p for p in pins if p is not None]
    if not pins:
        raise RequestError("keyframes: upload at least one image or clip and give its time")
    return pipe.generate(prompt, conditions=pins, **length, **kw)


def _transition(values: dict, limits: AppLimits) -> float:
    seconds = float(values.get("transition") or 0)
    if not 0 < seconds <= limits.max_seconds:
        raise RequestError(f"the transition must be in (0, {limits.max_seconds:g}] seconds, got {seconds:g}")
    return seconds


def page_progress(update):
    """A pipeline progress callback (stage, done, total) that drives a page's progress bar.

    `update` is a `gr.Progress`, called as `update((done, total), desc=..., unit=...)`. Denoising
    steps and decoded latent frames each fill the bar once; with several long-video windows
    the description says which window is running.
    """
    window = {"now": 1, "of": 1}

    def report(stage: str, done: int, total: int) -> None:
        if stage == "window":  # reported after each window: the next one is running
            window["now"], window["of"] = min(done + 1, total), total
            return
        if stage == "decode":
            update((done, total), desc="decoding", unit="latent frames")
            return
        where = f" window {window['now']}/{window['of']}" if window["of"] > 1 else ""
        update((done, total), desc=f"denoising{where}", unit="steps")

    return report


def describe_result(result, mode: str, seconds: float) -> str:
    """The line under a result: the seed (to reproduce it), what was made and how long it took."""
    from spacetime.video import probe

    info = probe(result.path)
    what = (f"image {info.width}x{info.height}" if info.is_image
            else f"{info.width}x{info.height}, {info.frame_count} frames at {result.fps:g} fps ({info.duration:.2f} s)")
    return f"**seed {result.seed}** · {mode} · {what} · made in {seconds:.1f} s"


def remove_old_files(folder: str | Path, max_age_s: float = 3600.0) -> None:
    """Results are copied into Gradio's cache when returned; our own copies need not outlive an hour."""
    now = time.time()
    for path in Path(folder).glob("*"):
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age_s:
                path.unlink()
        except OSError:
            pass  # another request removed it first


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def user_message(error: BaseException) -> str:
    """The one line the page shows for a failed request (never a stack trace)."""
    if isinstance(error, SpacetimeError):
        return _one_line(error)
    if isinstance(error, MemoryError):
        return "out of memory; ask for a smaller size or a shorter video"
    return f"internal error ({type(error).__name__}: {_one_line(error)}); the server log has the details"


# ---- Gradio ----------------------------------------------------------------------------------------

SETTING_NAMES = ("aspect", "short_side", "size_text", "seconds", "fps", "steps", "guidance", "seed")
VIDEO_TYPES = [".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif"]
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp"]


def group_values(values: dict) -> dict:
    """Tab inputs by component name -> run_request's values: file_0, file_1... -> files; time_i -> times."""
    out = {k: v for k, v in values.items() if not re.fullmatch(r"(file|time)_\d+", k)}
    for key, plural in (("file", "files"), ("time", "times")):
        slots = sorted((int(k.split("_")[1]), v) for k, v in values.items() if re.fullmatch(rf"{key}_\d+", k))
        if slots:
            out[plural] = [v for _, v in slots]
    return out


def build_app(pipe, *, limits: AppLimits | None = None, title: str = "spacetime", out_dir: str | Path | None = None):
    """The Gradio Blocks of the UI around a loaded pipeline, its queue configured (not launched)."""
    import gradio as gr

    from spacetime.sizes import ASPECTS

    limits = limits or AppLimits()
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="spacetime-serve-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    defaults = pipe.defaults
    lock = threading.Lock()  # the queue already runs one request at a time; this also guards direct calls
    note = f"max {limits.max_upload_mb:g} MB and {limits.max_upload_seconds:g} s"

    def on_upload(path):
        if path is None:
            return ""
        try:
            return describe_upload(check_upload(path, limits))
        except Exception as e:  # noqa: BLE001 - any failure is one line in the page
            raise gr.Error(user_message(e), duration=None, print_exception=False) from None

    def make_handler(mode: str, names: list[str]):
        def run(*values):
            *values, progress = values
            tab = group_values(dict(zip(names, values[: len(names)])))
            panel = dict(zip(SETTING_NAMES, values[len(names):]))
            progress(0, desc="starting")
            try:
                settings = check_settings(**panel, defaults=defaults, limits=limits)
                remove_old_files(out_dir)
                started = time.perf_counter()
                with lock, warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", SpacetimeWarning)
                    result = run_request(pipe, mode, tab, settings, out_dir, limits, progress=page_progress(progress))
                for w in caught:
                    if issubclass(w.category, SpacetimeWarning):
                        gr.Warning(_one_line(w.message))
                info = describe_result(result, mode, time.perf_counter() - started)
            except Exception as e:  # noqa: BLE001 - the server stays up; the page shows one line
                if not isinstance(e, (SpacetimeError, MemoryError)):
                    traceback.print_exc(file=sys.stderr)
                raise gr.Error(user_message(e), duration=None, print_exception=False) from None
            if mode == "image":
                return (gr.update(value=None, visible=False), gr.update(value=str(result.path), visible=True), info,
                        result.seed)
            return (gr.update(value=str(result.path), visible=True), gr.update(value=None, visible=False), info,
                    result.seed)

        # Gradio finds the gr.Progress to fill (the pipeline's progress callback drives it; no tqdm
        # patching) only among positional parameters with that default; a signature naming the
        # tab's inputs gives it one and names the API's parameters too.
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        run.__signature__ = inspect.Signature(
            [inspect.Parameter(name, positional) for name in (*names, *SETTING_NAMES)]
            + [inspect.Parameter("progress", positional, default=gr.Progress())]
        )
        return run

    def prompt(example: str = "a red ball bounces on a checkered floor"):
        return gr.Textbox(label="Prompt", placeholder=example, lines=2, elem_classes=["prompt"])

    def upload(label: str, types: list[str], **kw):
        return gr.File(label=f"{label} ({note})", file_types=types, **kw)

    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            f"## spacetime\nModel defaults: {defaults['width']}x{defaults['height']}, {defaults['seconds']:g} s at "
            f"{defaults['fps']:g} fps, {defaults['steps']} steps, guidance {defaults['guidance']:g}. "
            "Requests run one at a time: yours waits its turn in the queue."
        )
        tabs, buttons = {}, {}
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Tabs():
                    for label, mode in MODES.items():
                        with gr.Tab(label, id=mode):
                            tabs[mode] = _tab_inputs(gr, mode, prompt, upload, limits)
                            buttons[mode] = gr.Button(f"Generate ({label.lower()})", variant="primary",
                                                      elem_id=f"run-{mode}")
                upload_info = gr.Markdown("", elem_id="upload-info")
                with gr.Accordion("Settings", open=True):
                    with gr.Row():
                        aspect = gr.Dropdown([DEFAULT_ASPECT, *ASPECTS], value=DEFAULT_ASPECT, label="Aspect ratio")
                        short_side = gr.Number(min(defaults["width"], defaults["height"]), label="Short side (px)",
                                               minimum=16, maximum=limits.max_side, precision=0)
                        size_text = gr.Textbox("", label=f"or size WxH (max {limits.max_side} a side)",
                                               placeholder=f"{defaults['width']}x{defaults['height']}")
                    with gr.Row():
                        seconds = gr.Slider(0.25, limits.max_seconds, step=0.25,
                                            value=min(float(defaults["seconds"]), limits.max_seconds),
                                            label=f"Duration (s, max {limits.max_seconds:g})", elem_id="seconds")
                        fps = gr.Slider(1, limits.max_fps, value=defaults["fps"], step=1, label="fps")
                    with gr.Row():
                        steps = gr.Slider(1, limits.max_steps, value=min(defaults["steps"], limits.max_steps), step=1,
                                          label="Steps")
                        guidance = gr.Slider(0, 15, value=defaults["guidance"], step=0.5, label="Guidance")
                        seed = gr.Number(-1, label="Seed (-1: random; the result shows the one used)", precision=0,
                                         elem_id="seed")
                panel = [aspect, short_side, size_text, seconds, fps, steps, guidance, seed]
            with gr.Column(scale=2):
                video_out = gr.Video(label="Result", buttons=["download"], loop=True, elem_id="result-video",
                                     interactive=False)
                image_out = gr.Image(label="Result", visible=False, type="filepath", elem_id="result-image",
                                     interactive=False, buttons=["download"])
                info_out = gr.Markdown("", elem_id="result-info")
                last_seed = gr.State(None)
                reuse_seed = gr.Button("Reuse this seed", size="sm", elem_id="reuse-seed")

        for mode, inputs in tabs.items():
            buttons[mode].click(
                make_handler(mode, list(inputs)), inputs=[*inputs.values(), *panel],
                outputs=[video_out, image_out, info_out, last_seed], api_name=mode, concurrency_id="generate",
                concurrency_limit=1,
            )
            for component in inputs.values():
                if isinstance(component, gr.File):
                    component.upload(on_upload, inputs=component, outputs=upload_info, api_name=False,
                                     concurrency_id="uploads", concurrency_limit=4)
        reuse_seed.click(lambda seed: -1 if seed is None else seed, inputs=last_seed, outputs=seed, api_name=False,
                         queue=False)
    demo.queue(default_concurrency_limit=1, max_size=limits.queue_size)
    return demo


def _tab_inputs(gr, mode: str, prompt, upload, limits: AppLimits) -> dict:
    """The components of one tab, by the names `run_request` reads (file_i/time_i are grouped)."""
    seconds = dict(minimum=0, maximum=limits.max_seconds)
    if mode == "generate":
        return {"prompt": prompt()}
    if mode == "image":
        return {"prompt": prompt("a yellow star on a black background")}
    if mode == "animate":
        return {"file": upload("First frame: an image, or a video's first frame", IMAGE_TYPES + VIDEO_TYPES,
                               elem_id="animate-file"),
                "prompt": prompt("the ball rolls to the right"),
                "strength": gr.Slider(0.1, 1.0, value=1.0, step=0.05, label="How strictly the image is kept")}
    if mode == "extend":
        return {"file": upload("Video to extend", VIDEO_TYPES, elem_id="extend-file"),
                "prompt": prompt("the ball keeps bouncing"),
                "before": gr.Number(0, label="Seconds to add before", **seconds),
                "after": gr.Number(2, label="Seconds to add after", **seconds)}
    if mode == "loop":
        return {"file": upload("A video to make loop; none: a loop from the prompt", VIDEO_TYPES,
                               elem_id="loop-file"),
                "prompt": prompt("a red ball circles the centre"),
                "transition": gr.Number(1, label="With a video: seconds of transition back to its start", **seconds)}
    if mode == "connect":
        with gr.Row():
            files = {"file_0": upload("Video A", VIDEO_TYPES, elem_id="connect-file-0"),
                     "file_1": upload("Video B", VIDEO_TYPES, elem_id="connect-file-1")}
        return {**files, "prompt": prompt("the ball flies over"),
                "transition": gr.Number(2, label="Transition seconds", **seconds),
                "transition_only": gr.Checkbox(False, label="Only the transition (without A and B)")}
    if mode == "edit":
        return {"file": upload("Video to re-render", VIDEO_TYPES, elem_id="edit-file"),
                "prompt": prompt("the ball is blue"),
                "strength": gr.Slider(0.05, 1.0, value=0.6, step=0.05,
                                      label="Strength: 0 keeps the input, 1 ignores it")}
    if mode == "keyframes":
        slots = {"prompt": prompt("a ball moves between two poses")}
        for i, when in zip(range(KEYFRAME_SLOTS), ("0", "-1f", "")):
            with gr.Row():
                slots[f"file_{i}"] = upload(f"Keyframe {i + 1}: image or clip", IMAGE_TYPES + VIDEO_TYPES, scale=3,
                                            elem_id=f"keyframes-file-{i}")
                slots[f"time_{i}"] = gr.Textbox(when, label="at (2, 2.5s, 12f, -1f)", scale=1)
        return slots
    raise ValueError(f"unknown mode {mode!r}")


def check_port(host: str, port: int) -> None:
    """Refuse a port that is taken or an address that cannot be listened on, with one line."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise RequestError(f"--host {host!r} is not an address of this machine; use 127.0.0.1 or 0.0.0.0") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe_socket:
        probe_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe_socket.bind(address)
        except OSError as e:
            raise RequestError(f"cannot listen on {host}:{port} ({e.strerror}); try another --port") from None


def serve(model: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 7860,
          limits: AppLimits | None = None, device: str = "cpu", precision: str = "auto") -> None:
    """Load the model (the embedded one, or a model folder) and serve the UI until interrupted.

    Nothing reaches the internet: analytics are off, there is no share link, and the default
    theme's fonts are served by the app itself.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read by gradio at import and at launch
    from spacetime.pipeline import PRECISIONS, Pipeline

    limits = limits or AppLimits()
    check_port(host, port)  # before the model loads: a taken port fails in a second
    pipe = Pipeline.from_pretrained(model).to(device, PRECISIONS[precision])
    with tempfile.TemporaryDirectory(prefix="spacetime-serve-") as out_dir:  # our copies of results, removed at exit
        demo = build_app(pipe, limits=limits, out_dir=out_dir)
        try:
            demo.launch(server_name=host, server_port=port, share=False, inbrowser=False, show_error=False,
                        ssr_mode=False, max_file_size=f"{int(limits.max_upload_mb * 1024)}kb", footer_links=[],
                        quiet=True, prevent_thread_lock=True)
        except OSError as e:  # taken since check_port, or an address this machine does not have
            reason = _one_line(e).split(". ")[0]
            raise RequestError(f"cannot serve on {host}:{port} ({reason}); try another --port") from None
        print(f"spacetime: serving on {demo.local_url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        demo.block_thread()
