"""The public generate(): text, images and clips in; video frames or a video file out.

    from spacetime import Pipeline
    pipe = Pipeline.from_pretrained()                 # the embedded model (or a model folder)
    video = pipe.generate("a red ball bounces", seconds=4, seed=1)
    video.save("ball.mp4")

Every capability is one call of the same machinery (DESIGN.md, "One conditioning
mechanism"): `conditioning.plan_request` says which latent frames are known; the known
pixels are encoded with the VAE; the rectified-flow sampler fills in the rest, window by
window for long canvases (`long_video.plan_windows`); the latents are decoded in causal
chunks and streamed to the caller or into a `VideoWriter`.

Sampling hands the flow sampler each stretch of steps in which the same frames are held (one
call, so a multistep sampler such as DPM-Solver++(2M) keeps its history), so that:
- a pin of strength s < 1 is held while the noise level is above 1 - s, then released
  (re-noised to the current level, the start of the next stretch) for the model to refine;
- a loop's tied latent frames (see conditioning.py) get the mean of their velocities at every
  model call and stay identical (MultiDiffusion, Bar-Tal et al. 2023);
- progress is reported after every step.
Edit is SDEdit (Meng et al. 2021): the input's latents noised to t = strength, sampled from there.

Progress: `progress=True` draws tqdm bars on stderr (the command line), `progress=False`
nothing, and a callable `progress(stage, done, total)` is called instead of drawing bars (the
web UI): stage "denoise" after every sampler step (counted over all windows), "window" after
each long-video window, "decode" after each decoded chunk (counted in latent frames); each
stage is first reported with done = 0 and last with done = total. Requests made of several
passes (extend both ways, text to video with `first_image`) report each pass from 0 again.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spacetime.conditioning import (
    TEMPORAL_FACTOR,
    Condition,
    Plan,
    latent_frames,
    load_condition,
    pixel_frames,
    plan_request,
)
from spacetime.errors import RequestError, SpacetimeWarning, WeightsError
from spacetime.long_video import plan_windows
from spacetime.model_folder import SAMPLERS

EMBEDDED = Path(__file__).resolve().parent / "weights" / "embedded"
SIZE_MULTIPLE = 16  # VAE 8x times the DiT's 2x2 patch: sizes that need no padding
MIN_SIZE = 16
MAX_IMAGE_SIZE = 2048
# Long video (model-folder defaults "window", "context", "anchor" override these): a window of
# 16 latent frames (61 pixel frames); a new window sees the previous one's last 2 latent frames
# (8 pixel frames) and the first latent frame as an anchor, and generates 13 new ones.
DEFAULT_WINDOW = 16
DEFAULT_CONTEXT = 2
DECODE_CHUNK = 4  # latent frames per decode chunk

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total); see the module docstring


@dataclass
class GeneratedVideo:
    """What `generate` returns: frames uint8 (T, H, W, 3) (None when streamed to `path`)."""

    frames: np.ndarray | None
    fps: float
    seed: int
    path: Path | None = None
    latents: torch.Tensor | None = None  # the sampled canvas (1, C, T', h, w), for inspection
    timings: dict | None = None  # seconds per stage: text, denoise, decode, write

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        if self.frames is None:
            raise RequestError(f"this video was streamed to {self.path} and is not held in memory; copy that file")
        return save_frames(path, self.frames, self.fps, overwrite=overwrite)


def save_frames(path: str | Path, frames: np.ndarray, fps: float, *, overwrite: bool = False) -> Path:
    """Write uint8 (T, H, W, 3) frames by suffix (.mp4, .webm, .gif, .png), atomically."""
    from spacetime.video import write_video

    check_output_path(path, overwrite=overwrite, num_frames=len(frames))
    return write_video(path, frames, fps, overwrite=True)


def check_output_path(path: str | Path, *, overwrite: bool, num_frames: int) -> Path:
    """Refuse up front what would fail after minutes of sampling."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".webm", ".gif", ".png"):
        raise RequestError(f"{path}: unknown output type {path.suffix!r}; use .mp4, .webm, .gif or .png")
    if path.suffix.lower() == ".png" and num_frames != 1:
        raise RequestError(f"{path}: a PNG holds one frame and this video has {num_frames}; use .mp4, .webm or .gif")
    if path.exists() and not overwrite:
        raise RequestError(f"{path} exists; pass --overwrite (overwrite=True) or choose another name")
    if not path.parent.is_dir():
        raise RequestError(f"{path.parent} does not exist; create it or choose another output folder")
    return path


def default_dtype(device: torch.device | str) -> torch.dtype:
    """The transformer's compute dtype when none is asked for: bf16 where the hardware runs it natively.

    On this project's reference CPU (AVX-512 BF16) bf16 autocast runs the DiT 1.5-1.9x faster
    than fp32 (docs/model.md); CPUs without native bf16 would emulate it slowly, so they keep fp32.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


PRECISIONS = {"auto": None, "bf16": torch.bfloat16, "fp32": torch.float32}  # the --precision choices


class Pipeline:
    """Text encoder + DiT + VAE, with the generation defaults of their model folder.

    The capabilities (`image`, `animate`, `extend`, `connect`, `loop_video`) take the keywords
    of `generate`, `progress` included, and pass them on.
    """

    def __init__(self, vae, dit, text_encoder, defaults: dict):
        self.vae = vae.eval()
        self.dit = dit.eval()
        self.text_encoder = text_encoder
        self.defaults = dict(defaults)
        self.device = torch.device("cpu")
        self.requested_dtype: torch.dtype | None = None  # set by .to(dtype=...); None follows the device
        self.window = int(self.defaults.get("window", DEFAULT_WINDOW))
        self.context = int(self.defaults.get("context", DEFAULT_CONTEXT))
        self.anchor = bool(self.defaults.get("anchor", True))

    # ---- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "Pipeline":
        """Load a model folder (see spacetime.model_folder); no path = the embedded model."""
        from spacetime.model_folder import read_model_folder
        from spacetime.text import TextEncoder

        if path is None:
            if not (EMBEDDED / "model_index.json").is_file():
                raise WeightsError(
                    "the embedded model is not in this build; pass --model PATH (a folder made by `spacetime export`)"
                )
            path = EMBEDDED
        vae, dit, text_ref, defaults, word_embeddings = read_model_folder(path)
        text_encoder = TextEncoder.from_pretrained(None if text_ref == "default" else text_ref,
                                                   word_embeddings=word_embeddings)
        if dit.config.text_dim != text_encoder.dim:
            raise WeightsError(
                f"{path}: the DiT reads text {dit.config.text_dim} wide but its text encoder gives {text_encoder.dim} "
                f"(text_word_embeddings {str(word_embeddings).lower()} in model_index.json); re-export the model"
            )
        return cls(vae, dit, text_encoder, defaults)

    def to(self, device=None, dtype: torch.dtype | None = None) -> "Pipeline":
        """Move the models to `device`; `dtype` is the compute dtype of the transformer (autocast).

        Without a dtype the device's `default_dtype` is used (bf16 where it is native).
        """
        if device is not None:
            self.device = torch.device(device)
            for module in (self.vae, self.dit, self.text_encoder):
                module.to(self.device)
        if dtype is not None:
            if dtype not in (torch.float32, torch.bfloat16, torch.float16):
                raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype}")
            self.requested_dtype = dtype
        return self

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the transformer: bf16 runs it under autocast; the weights stay fp32."""
        return self.requested_dtype or default_dtype(self.device)

    # ---- requests --------------------------------------------------------------------------------

    def resolve_size(self, width: int | None, height: int | None) -> tuple[int, int]:
        width = int(width or self.defaults["width"])
        height = int(height or self.defaults["height"])
        if width < MIN_SIZE or height < MIN_SIZE:
            raise RequestError(f"{width}x{height} is below the model's minimum of {MIN_SIZE}x{MIN_SIZE}")
        return width, height

    def resolve_frames(self, seconds: float | None, frames: int | None, fps: float | None) -> tuple[int, float]:
        fps = float(fps or self.defaults["fps"])
        if fps <= 0:
            raise RequestError(f"fps must be positive, got {fps}")
        if seconds is not None and frames is not None:
            raise RequestError("give seconds or frames, not both")
        if frames is None:
            seconds = float(self.defaults["seconds"] if seconds is None else seconds)
            if seconds <= 0:
                raise RequestError(f"seconds must be positive, got {seconds}")
            frames = max(1, int(round(seconds * fps)))
        if frames < 1:
            raise RequestError(f"frames must be >= 1, got {frames}")
        return int(frames), fps

    def estimate_memory(self, width: int, height: int, num_latent: int) -> int:
        """Rough peak bytes of one request: weights, the window's DiT activations, a decode chunk.

        Counts the live activations of one transformer block for the conditional and
        unconditional batch (attention scores in blocks of at most 4096 keys, as fused
        attention kernels work), about 16 float copies of the frames of one decode chunk,
        and the latent canvas. An estimate to refuse hopeless requests up front, not a bound.
        """
        gw, gh = _round_up(width), _round_up(height)
        cfg = self.dit.config
        tokens = min(num_latent, self.window) * math.ceil(gh / 16) * math.ceil(gw / 16)
        weights = sum(p.numel() * p.element_size() for p in self.dit.parameters())
        weights += sum(p.numel() * p.element_size() for p in self.vae.parameters())
        dit = 2 * tokens * cfg.dim * 4 * 12 + 2 * cfg.heads * tokens * min(tokens, 4096) * 4
        decode_frames = min(1 + 4 * DECODE_CHUNK, pixel_frames(num_latent))
        decode = decode_frames * gh * gw * 3 * 4 * 16  # ~16 float copies of a pixel frame in the decoder
        canvas = num_latent * self.dit.config.in_channels * (gh // 8) * (gw // 8) * 4 * 3
        return int(weights + dit + decode + canvas)

    def check_memory(self, width: int, height: int, num_latent: int) -> None:
        need = self.estimate_memory(width, height, num_latent)
        have = _available_memory()
        if have is not None and need > have:
            raise RequestError(
                f"{width}x{height} needs about {need / 2**30:.1f} GiB and this machine has "
                f"{have / 2**30:.1f} GiB available; ask for a smaller size"
            )

    # ---- the public generate() ---------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        prompt: str = "",
        *,
        width: int | None = None,
        height: int | None = None,
        seconds: float | None = None,
        frames: int | None = None,
        fps: float | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int | None = None,
        sampler: str | None = None,
        shift: float | None = None,
        guidance_min_sigma: float | None = None,
        conditions: list[Condition] | None = None,
        loop: bool = False,
        edit: np.ndarray | str | Path | None = None,
        edit_strength: float = 0.6,
        output: str | Path | None = None,
        overwrite: bool = False,
        paste_known: bool = True,
        progress: bool | ProgressFn = True,
        prefix: Iterator[np.ndarray] | None = None,
        suffix: Iterator[np.ndarray] | None = None,
        drop_head: int = 0,
        drop_tail: int = 0,
        first_image: bool | None = None,
    ) -> GeneratedVideo:
        """Generate a video; with `output` it is streamed into that file (frames=None).

        conditions: images/clips pinned at times (see conditioning.Condition).
        loop: the last frame leads into the first. edit: a video (path or uint8 frames)
        re-rendered toward `prompt` keeping its motion, SDEdit at `edit_strength`.
        paste_known: write the given frames of strength-1 pins unchanged instead of
        their VAE reconstruction. prefix/suffix/drop_head/drop_tail: frames written
        before/after the canvas and canvas frames left out (extend and connect use them).
        progress: True for tqdm bars, False for none, or a callback `(stage, done, total)`
        called at every denoising step, window and decode chunk (see the module docstring).
        first_image: text to video in two passes: an image from the prompt (`image`), then image
        to video from it (`animate`), the same seed for both, so the layout is decided before the
        motion. None takes the model folder's default `first_image` (else False) for plain text to
        video that fits one window (not for long videos); True with conditions, loop or edit is an error.
        """
        if not (isinstance(progress, bool) or callable(progress)):
            raise ValueError(f"progress must be True, False or a callable (stage, done, total), got {progress!r}")
        width, height = self.resolve_size(width, height)
        length_given = frames is not None or seconds is not None
        num_frames, fps = self.resolve_frames(seconds, frames, fps)
        steps = int(steps or self.defaults["steps"])
        guidance = float(self.defaults["guidance"] if guidance is None else guidance)
        sampler = sampler or self.defaults["sampler"]
        if sampler not in SAMPLERS:
            raise RequestError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if steps < 1:
            raise RequestError(f"steps must be >= 1, got {steps}")
        if shift is not None and not shift > 0:
            raise RequestError(f"shift must be positive, got {shift}")
        if guidance_min_sigma is None:
            guidance_min_sigma = self.defaults.get("guidance_min_sigma", 0.0)
        if not 0 <= guidance_min_sigma <= 1:
            raise RequestError(f"guidance_min_sigma must be in [0, 1] (a noise level), got {guidance_min_sigma}")
        seed = random.SystemRandom().randrange(2**31 - 1) if seed is None else int(seed)
        if loop and edit is not None:
            raise RequestError("loop and edit cannot be combined; edit the video, then loop the result")
        text_to_video = not conditions and not loop and edit is None and prefix is None and suffix is None
        if first_image and not text_to_video:
            raise RequestError("first_image draws the first frame of text to video; it cannot be combined "
                               "with given images or clips, loop or edit")
        if first_image is None:  # not by default for long videos: a pinned first frame makes their windows slower
            first_image = (text_to_video and bool(self.defaults.get("first_image", False))
                           and latent_frames(num_frames) <= self.window)
        clock = _Stopwatch()
        if first_image and num_frames > 1:
            with clock("first_image"):
                first = self.generate(prompt, width=width, height=height, frames=1, fps=fps, steps=steps,
                                      guidance=guidance, seed=seed, sampler=sampler, shift=shift,
                                      guidance_min_sigma=guidance_min_sigma, progress=progress, first_image=False)
            conditions = [Condition(first.frames[0], at=0, unit="frames")]

        edit_frames = None
        if edit is not None:
            edit_frames = load_condition(
                Condition(edit, at=0, unit="frames"), width=width, height=height, fps=fps,
                max_frames=num_frames if length_given else None,
            ).frames
            if not length_given:  # the whole input
                num_frames = len(edit_frames)
            edit_frames = edit_frames[:num_frames]
            if len(edit_frames) < num_frames:
                raise RequestError(f"the video to edit has {len(edit_frames)} frames, fewer than the {num_frames} asked")
        loaded = [
            load_condition(c, width=width, height=height, fps=fps, max_frames=num_frames + 1) for c in (conditions or [])
        ]
        plan = plan_request(loaded, num_frames=num_frames, fps=fps, loop=loop,
                            edit_strength=edit_strength if edit is not None else None)
        if output is not None:
            check_output_path(output, overwrite=overwrite, num_frames=_written_frames(plan, drop_head, drop_tail, prefix, suffix))
        self.check_memory(width, height, plan.latent_frames)
        with clock("text"):
            text, text_mask, null_text, null_mask = self._encode_prompt(prompt)
        with clock("denoise"):
            z = self._sample(
                plan, text, text_mask, null_text, null_mask, width=width, height=height, steps=steps,
                guidance=guidance, sampler=sampler, shift=shift, guidance_min_sigma=guidance_min_sigma, seed=seed,
                edit_frames=edit_frames, progress=progress,
            )
        chunks = self._decode(z, plan, width=width, height=height, paste_known=paste_known,
                              drop_head=drop_head, drop_tail=drop_tail, progress=progress)
        chunks = clock.timed_iter("decode", _chain(prefix, chunks, suffix))
        result = GeneratedVideo(frames=None, fps=fps, seed=seed, latents=z, timings=clock.seconds)
        if output is None:
            result.frames = np.concatenate(list(chunks))
            return result
        from spacetime.video import VideoWriter

        with VideoWriter(output, fps) as writer:
            for chunk in chunks:
                with clock("write"):
                    writer.write(chunk)
            clock.start("write")
        clock.stop("write")  # closing the writer flushes the encoder
        result.path = Path(output)
        return result

    # ---- capabilities built on generate() ----------------------------------------------------------

    def image(self, prompt: str = "", *, width=None, height=None, **kw) -> GeneratedVideo:
        """One frame (an image), up to 2048 x 2048."""
        width, height = self.resolve_size(width, height)
        if max(width, height) > MAX_IMAGE_SIZE:
            raise RequestError(f"{width}x{height} is above the image limit of {MAX_IMAGE_SIZE}x{MAX_IMAGE_SIZE}")
        return self.generate(prompt, width=width, height=height, frames=1, **kw)

    def animate(self, image, prompt: str = "", *, strength: float = 1.0, **kw) -> GeneratedVideo:
        """Image to video: the image is frame 0."""
        return self.generate(prompt, conditions=[Condition(image, at=0, unit="frames", strength=strength)], **kw)

    def extend(self, video, prompt: str = "", *, before: float = 0.0, after: float = 0.0,
               context_seconds: float = 1.0, output=None, overwrite: bool = False, **kw) -> GeneratedVideo:
        """Extend a video forward (`after` seconds), backward (`before`) or both.

        The canvas holds `context_seconds` of the input beside the new frames (at its end for
        a new beginning, at its start for a continuation). The output is the original video,
        written unchanged, with the new frames attached. Both directions: the beginning is
        generated first (and held), then the continuation, streamed after it.
        """
        if before <= 0 and after <= 0:
            raise RequestError("extend needs --before and/or --after seconds greater than 0")
        fps = float(kw.pop("fps", None) or self.defaults["fps"])
        width, height = self.resolve_size(kw.pop("width", None), kw.pop("height", None))
        kw.update(width=width, height=height, fps=fps)
        if output is not None:
            check_output_path(output, overwrite=overwrite, num_frames=2)
        original = load_condition(Condition(video), width=width, height=height, fps=fps).frames
        ctx = max(1, min(len(original), int(round(context_seconds * fps))))
        head = []
        if before > 0:
            new = max(1, int(round(before * fps)))
            res = self.generate(prompt, frames=new + ctx, conditions=[Condition(original[:ctx], at=new, unit="frames")],
                                drop_tail=ctx, **kw)
            head = [res.frames]
            kw["seed"] = res.seed
        if after <= 0:
            res.frames = np.concatenate([*head, original])
            if output is not None:
                res.path = save_frames(output, res.frames, fps, overwrite=overwrite)
            return res
        new = max(1, int(round(after * fps)))
        return self.generate(prompt, frames=ctx + new, conditions=[Condition(original[-ctx:], at=0, unit="frames")],
                             drop_head=ctx, prefix=iter([*head, original]), output=output, overwrite=overwrite, **kw)

    def connect(self, a, b, prompt: str = "", *, seconds: float = 2.0, context_seconds: float = 1.0,
                transition_only: bool = False, **kw) -> GeneratedVideo:
        """A transition that starts as `a` ends and ends as `b` starts.

        The canvas is A's last `context_seconds`, the transition, B's first `context_seconds`;
        the output is A + transition + B (A and B written unchanged), or the transition alone.
        """
        fps = float(kw.pop("fps", None) or self.defaults["fps"])
        width, height = self.resolve_size(kw.pop("width", None), kw.pop("height", None))
        frames_a = load_condition(Condition(a), width=width, height=height, fps=fps).frames
        frames_b = load_condition(Condition(b), width=width, height=height, fps=fps).frames
        return self._bridge(frames_a, frames_b, prompt, seconds=seconds, context_seconds=context_seconds,
                            keep_a=not transition_only, keep_b=not transition_only,
                            width=width, height=height, fps=fps, **kw)

    def loop_video(self, video, prompt: str = "", *, seconds: float = 1.0, context_seconds: float = 1.0,
                   **kw) -> GeneratedVideo:
        """Make a video loop: the video, then a transition from its end back into its start."""
        fps = float(kw.pop("fps", None) or self.defaults["fps"])
        width, height = self.resolve_size(kw.pop("width", None), kw.pop("height", None))
        frames = load_condition(Condition(video), width=width, height=height, fps=fps).frames
        return self._bridge(frames, frames, prompt, seconds=seconds, context_seconds=context_seconds,
                            keep_a=True, keep_b=False, width=width, height=height, fps=fps, **kw)

    def _bridge(self, frames_a, frames_b, prompt, *, seconds, context_seconds, keep_a, keep_b, fps, **kw):
        """Generate frames between the end of A and the start of B (connect and loop_video)."""
        if seconds <= 0:
            raise RequestError(f"the transition needs seconds > 0, got {seconds}")
        ctx = max(1, int(round(context_seconds * fps)))
        ca, cb = min(ctx, len(frames_a)), min(ctx, len(frames_b))
        new = max(1, int(round(seconds * fps)))
        conds = [Condition(frames_a[-ca:], at=0, unit="frames"), Condition(frames_b[:cb], at=ca + new, unit="frames")]
        # A and B outside the canvas stream around it; inside it their given frames are pasted back.
        return self.generate(
            prompt, frames=ca + new + cb, fps=fps, conditions=conds,
            prefix=iter([frames_a[:-ca]]) if keep_a else None, drop_head=0 if keep_a else ca,
            suffix=iter([frames_b[cb:]]) if keep_b else None, drop_tail=0 if keep_b else cb, **kw,
        )

    # ---- internals ----------------------------------------------------------------------------------

    def _encode_prompt(self, prompt: str):
        if not isinstance(prompt, str):
            raise RequestError(f"the prompt must be text, got {type(prompt).__name__}")
        if not prompt.strip():
            warnings.warn("empty prompt: generating unconditionally", SpacetimeWarning, stacklevel=4)
            prompt = ""
        text, mask = self.text_encoder.encode([prompt])
        null_text, null_mask = self.text_encoder.encode([""])
        return (text.to(self.device), mask.to(self.device), null_text.to(self.device), null_mask.to(self.device))

    def _encode_pixels(self, frames: np.ndarray, width: int, height: int) -> torch.Tensor:
        """uint8 (t, H, W, 3) at the requested size -> normalised latents (1, C, t', h, w) at the padded size."""
        from spacetime.video import frames_to_tensor

        video = frames_to_tensor(_pad_frames(frames, _round_up(width), _round_up(height)))[None]  # (1, 3, t, H, W)
        video = video.to(self.device)
        return self.vae.encode_latents(video, chunk_frames=4 * DECODE_CHUNK)  # (1, C, t', h, w)

    def _known_latents(self, plan: Plan, width: int, height: int, shape) -> torch.Tensor:
        """(1, C, T', h, w) with the encoded pins at their latent frames (zeros elsewhere)."""
        z_known = torch.zeros(shape, device=self.device)
        for pin in plan.pins:
            a, b = pin.latent_range
            pixels, drop = pin.encode_pixels()
            z_known[:, :, a:b] = self._encode_pixels(pixels, width, height)[:, :, drop:]
        for head, tail in plan.ties():
            z_known[:, :, tail] = z_known[:, :, head]
        return z_known

    def _sample(self, plan, text, text_mask, null_text, null_mask, *, width, height, steps, guidance, sampler,
                shift, guidance_min_sigma, seed, edit_frames, progress) -> torch.Tensor:
        from spacetime import flow

        gw, gh = _round_up(width), _round_up(height)
        C = self.dit.config.in_channels
        T = plan.latent_frames
        shape = (1, C, T, gh // 8, gw // 8)
        generator = torch.Generator().manual_seed(seed)
        # Drawn on the CPU: same seed, same video. The model's frames were trained with this noise prior.
        rho = self.defaults.get("noise_correlation", 0.0)
        eps = flow.frame_correlated_noise(shape, rho, generator).to(self.device)
        release_eps = flow.frame_correlated_noise(shape, rho, generator).to(self.device)
        for head, tail in plan.ties():
            eps[:, :, tail] = eps[:, :, head]

        known = plan.known_mask()
        strengths = plan.strengths()
        for head, tail in plan.ties():
            known[tail], strengths[tail] = known[head], strengths[head]
        z_known = self._known_latents(plan, width, height, shape)

        if shift is None:
            shift = self.defaults.get("shift")
        if shift is None:
            tokens = min(T, self.window) * math.ceil(gh / 16) * math.ceil(gw / 16)
            shift = flow.shift_for_tokens(tokens)
        sigmas = flow.sigma_schedule(steps, shift).to(self.device)
        z = eps.clone()
        if edit_frames is not None:
            x_edit = self._encode_pixels(edit_frames[: plan.num_frames], width, height)
            if x_edit.shape[2] < T:  # the canvas rounds up to 1 + 4k frames: hold the last latent
                x_edit = torch.cat([x_edit, x_edit[:, :, -1:].expand(-1, -1, T - x_edit.shape[2], -1, -1)], dim=2)
            sigmas = _truncate_sigmas(sigmas, plan.edit_strength)
            z = flow.noise(x_edit, eps, sigmas[0].expand(1, T))

        step_fn = {"euler": flow.sample_euler, "heun": flow.sample_heun, "dpmpp_2m": flow.sample_dpmpp_2m}[sampler]
        velocity = flow.cfg_velocity(self.dit, text, text_mask, null_text, null_mask, guidance,
                                     min_sigma=guidance_min_sigma)
        windows = plan_windows(T, window=self.window, context=self.context, anchor=self.anchor)
        done = np.zeros(T, dtype=bool)
        bar = _Progress(progress, "denoise", total=len(windows) * (len(sigmas) - 1), desc="denoising")
        window_count = _Progress(progress, "window", total=len(windows), desc=None)  # a callback only: no bar
        for k, w in enumerate(windows):
            if len(windows) > 1:
                bar.describe(f"denoising window {k + 1}/{len(windows)}")
            idx = list(w.frames)
            w_known = torch.as_tensor(known[idx] | done[idx], device=self.device)
            w_strength = torch.as_tensor(np.where(done[idx], 1.0, strengths[idx]), device=self.device)
            x_known = torch.where(torch.as_tensor(done[idx], device=self.device)[None, None, :, None, None],
                                  z[:, :, idx], z_known[:, :, idx])
            ties = [(idx.index(h), idx.index(t)) for h, t in plan.ties() if h in idx and t in idx and not done[t]]
            for h, t in plan.ties():  # a tail whose head is final is simply known
                if t in idx and done[h] and not done[t]:
                    j = idx.index(t)
                    w_known[j], w_strength[j] = True, 1.0
                    x_known[:, :, j] = z[:, :, h]
            x = self._sample_window(z[:, :, idx], x_known, w_known, w_strength, release_eps[:, :, idx], sigmas,
                                    velocity, step_fn, ties, bar)
            z[:, :, idx] = x
            done[list(w.new)] = True
            window_count.update(1)
        bar.close()
        return z

    def _sample_window(self, x, x_known, known, strength, release_eps, sigmas, velocity, step_fn, ties, bar):
        """Run the sampler over one window, a stretch of equally held steps at a time (module docstring)."""
        if ties:
            heads = [h for h, _ in ties]
            tails = [t for _, t in ties]

            def velocity_fn(x_t, t):
                v = velocity(x_t, t)
                mean = 0.5 * (v[:, :, heads] + v[:, :, tails])
                v = v.clone()
                v[:, :, heads], v[:, :, tails] = mean, mean
                return v
        else:
            velocity_fn = velocity

        autocast = torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)
        # The sampler runs over each stretch of steps in which the same frames are held, in one call,
        # so that a multistep sampler keeps its history; a soft pin lets go between stretches.
        held = [known & ((strength >= 1.0) | (sigma > 1.0 - strength)) for sigma in sigmas[:-1]]
        starts = [i for i in range(len(held)) if i == 0 or not torch.equal(held[i], held[i - 1])]
        for a, b in zip(starts, starts[1:] + [len(held)]):
            sigma = sigmas[a]
            released = (known if a == 0 else held[a - 1]) & ~held[a]
            if released.any():  # a soft pin lets go: it continues from its given latents at this noise level
                x[:, :, released] = (1 - sigma) * x_known[:, :, released] + sigma * release_eps[:, :, released]
            mask = held[a][None].expand(x.shape[0], -1)  # (B, T')
            with autocast:
                x = step_fn(velocity_fn, x, sigmas[a : b + 1], x_known=x_known, known_mask=mask,
                            callback=lambda *_: bar.update(1))
            x = x.float()
        return x

    def _decode(self, z, plan: Plan, *, width, height, paste_known, drop_head, drop_tail, progress):
        """Stream uint8 frames of the canvas: decoded, cropped to the request, pins pasted, trimmed."""
        from spacetime.video import tensor_to_frames

        gw, gh = _round_up(width), _round_up(height)
        top, left = (gh - height) // 2, (gw - width) // 2
        canvas = z[:, :, : latent_frames(plan.num_frames)]
        first = plan.output_start + drop_head
        stop = plan.output_start + plan.output_frames - drop_tail
        pos = 0  # canvas frame of the next decoded frame
        if plan.loop_tie:
            # A loop replays latent frames 1.. for ever, and the causal decoder draws each frame from
            # the latents before it. Decoded once, the first written frames would follow latent 0 (the
            # causal start) where every replay has the loop's own end before them: a visible cut.
            # So one lap is decoded ahead and the second written: its first frames follow the end.
            lap = canvas[:, :, 1:]
            canvas = torch.cat([canvas, lap], dim=2)
            pos = -TEMPORAL_FACTOR * lap.shape[2]
        pins = [p for p in plan.pins if p.strength >= 1.0] if paste_known else []
        chunks = self.vae.iter_decode_latents(canvas, chunk_latent_frames=DECODE_CHUNK, height=gh, width=gw)
        bar = _Progress(progress, "decode", total=canvas.shape[2], desc="decoding", unit="latent")
        for n, chunk in enumerate(chunks):
            frames = tensor_to_frames(chunk[0].float().cpu())[:, top : top + height, left : left + width]
            lo, hi = pos, pos + len(frames)
            for pin in pins:  # the given frames themselves, not their reconstruction
                a, b = max(lo, pin.start), min(hi, pin.stop)
                if a < b:
                    frames[a - lo : b - lo] = pin.frames[a - pin.start : b - pin.start]
            keep = frames[max(first - lo, 0) : max(stop - lo, 0)]
            if len(keep):
                yield keep
            pos = hi
            bar.update(chunk.shape[2] // 4 + (1 if n == 0 else 0))  # the first chunk holds latent 0's frame
        bar.close()


class _Stopwatch:
    """Seconds per named stage; `with clock("stage"):` or `timed_iter` for a generator's own time."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def start(self, name: str) -> None:
        self._started[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - self._started.pop(name)

    @contextlib.contextmanager
    def __call__(self, name: str):
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)

    def timed_iter(self, name: str, iterator):
        iterator = iter(iterator)
        while True:
            with self(name):
                item = next(iterator, None)
            if item is None:
                return
            yield item


def _truncate_sigmas(sigmas: torch.Tensor, strength: float) -> torch.Tensor:
    """SDEdit: start the schedule at noise level `strength` (Meng et al. 2021)."""
    rest = sigmas[sigmas < strength]
    return torch.cat([sigmas.new_tensor([strength]), rest])


def _written_frames(plan: Plan, drop_head, drop_tail, prefix, suffix) -> int:
    if prefix is not None or suffix is not None:
        return 2  # more than one frame: only the PNG check uses this
    return plan.output_frames - drop_head - drop_tail


def _chain(prefix, chunks, suffix):
    for part in (prefix, chunks, suffix):
        if part is not None:
            yield from part


def _round_up(size: int) -> int:
    return -(-int(size) // SIZE_MULTIPLE) * SIZE_MULTIPLE


def _pad_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Edge-pad uint8 (t, h, w, 3) to (t, height, width, 3), centred like the crop in _decode."""
    h, w = frames.shape[1:3]
    if (h, w) == (height, width):
        return frames
    top, left = (height - h) // 2, (width - w) // 2
    return np.pad(frames, ((0, 0), (top, height - h - top), (left, width - w - left), (0, 0)), mode="edge")


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class _Progress:
    """One stage's progress: a tqdm bar (progress=True), callback calls (a callable) or nothing.

    A stage without `desc` has no bar (its count shows in another stage's bar description).
    """

    def __init__(self, progress: bool | ProgressFn, stage: str, *, total: int, desc: str | None,
                 unit: str = "step"):
        self.callback = None if isinstance(progress, bool) else progress
        self.stage, self.total, self.done = stage, int(total), 0
        self.bar = None
        if progress is True and desc is not None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False)
        if self.callback is not None:
            self.callback(stage, 0, self.total)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            self.callback(self.stage, self.done, self.total)

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
