"""Which model a generation benchmark times: --model, else the embedded model, else a stand-in;
and the model and world-scene arguments the quality benchmarks share; the command line of the
still-scene probes (word_sensitivity.py, text_paths.py); the fine-tuning loop of the
learnability probes (shape_learnability.py, motion_learnability.py) and its rendered-clip form
(motion_learnability.py, word_loss.py).

A stand-in has random weights at the embedded model's sizes (VAE "embedded" preset, the
DiT's default size, the bundled MiniLM text encoder, 128x128 at 8 fps, 8 steps): speed and
memory do not depend on the weights' values, so the benchmarks run before any training.
"""

from __future__ import annotations

from pathlib import Path

STAND_IN_LABEL = "stand-in (random weights: embedded VAE, default DiT)"


def choose_model(model_arg: str | None, scratch: Path) -> tuple[str, str]:
    """(model folder, label for the report); a stand-in is written under `scratch` if needed."""
    from spacetime.model_folder import write_random_model_folder
    from spacetime.pipeline import EMBEDDED

    if model_arg:
        return model_arg, model_arg
    if (EMBEDDED / "model_index.json").is_file():
        return str(EMBEDDED), "embedded"
    defaults = dict(width=128, height=128, fps=8, seconds=4, steps=8, guidance=3.0, sampler="euler")
    folder = write_random_model_folder(scratch / "stand_in", vae_preset="embedded", dit_preset=None, defaults=defaults)
    return str(folder), STAND_IN_LABEL


def add_world_quality_arguments(parser, out_help: str) -> None:
    """--model, --objects, --scenarios, --steps and --out of embedded_quality.py and capability_quality.py."""
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--objects", type=int, nargs=2, default=(1, 1), metavar=("MIN", "MAX"))
    parser.add_argument("--scenarios", nargs="+", default=["single"], help="world scenarios to draw from")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--out", help=out_help)


def still_scene_probe_setup(doc: str, scenes: int, noise_levels: list[float]):
    """(args, pipeline) for a probe of still world scenes: --model, --scenes, --t, --threads."""
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--scenes", type=int, default=scenes)
    parser.add_argument("--t", type=float, nargs="+", default=noise_levels)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from spacetime.pipeline import Pipeline

    return args, Pipeline.from_pretrained(args.model)


def finetune_for(dit, minutes: float, batch_loss, log_every: int = 50, lr: float = 1e-4, freeze: list | None = None):
    """Train `dit` in place for `minutes` of wall time; returns (EMA copy, steps).

    batch_loss() draws a fresh batch and returns its loss (with autograd). AdamW (lr 1e-4 unless
    given), no weight decay, gradients clipped to norm 1, EMA 0.995 (the learnability probes' recipe).
    freeze: fnmatch patterns of weights kept as they are (as `train.freeze`).
    """
    import copy
    import sys
    import time

    import torch

    from spacetime.train.tasks import freeze_parameters

    dit.train()
    for p in dit.parameters():
        p.requires_grad_(True)
    freeze_parameters(dit, freeze or [])
    ema = copy.deepcopy(dit).eval()
    opt = torch.optim.AdamW([p for p in dit.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < minutes * 60:
        loss = batch_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), dit.parameters()):
                p_ema.lerp_(p, 0.005)
        steps += 1
        if steps % log_every == 0:
            print(f"step {steps}, {time.perf_counter() - started:.0f} s, loss {float(loss.detach()):.4f}", file=sys.stderr)
    return ema, steps


def finetune_on_clips(pipe, minutes: float, draw_batch, clip: tuple[int, float, int], *, first_known: bool = False,
                      mask_probs: dict[str, float] | None = None, shift: float = 1.0, motion_weight: float = 0.0,
                      lr: float = 1e-4, seed: int = 0, log_every: int = 50):
    """Train pipe.dit (in place) on rendered world clips for `minutes`; returns (EMA copy, steps).

    draw_batch(rng) -> (scenes, captions) of one batch; clip = (frames, fps, size) of the square
    renders. Rectified flow as `flow.training_loss` at the folder's noise correlation, 10 % empty
    prompts, bf16 autocast; the first latent frame given with `first_known`, or random known-frame
    masks of these kinds with `mask_probs` (`flow.random_known_mask`); `finetune_for`'s recipe.
    """
    import numpy as np
    import torch

    from spacetime import flow
    from spacetime.video.convert import frames_to_tensor
    from spacetime.world.render import render

    frames, fps, size = clip
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    null_text, null_mask = pipe.text_encoder.encode([""])
    rho = pipe.defaults.get("noise_correlation", 0.0)

    def batch_loss() -> torch.Tensor:
        scenes, captions = draw_batch(rng)
        video = torch.stack([frames_to_tensor(render(scene, size, size, fps, frames)) for scene in scenes])
        with torch.no_grad():
            x0 = pipe.vae.encode_latents(video).float()  # (B, C, T, h, w)
        text, mask = pipe.text_encoder.encode(captions)
        known = None  # training_loss draws random masks of mask_probs' kinds
        if mask_probs is None:
            known = torch.zeros(len(scenes), x0.shape[2], dtype=torch.bool)
            known[:, 0] = first_known
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = flow.training_loss(pipe.dit, x0, text, mask, known_mask=known, mask_probs=mask_probs,
                                         generator=generator, shift=shift,
                                         text_drop=0.1, null_text=null_text, null_mask=null_mask,
                                         noise_correlation=rho, motion_weight=motion_weight)
        return loss

    return finetune_for(pipe.dit, minutes, batch_loss, log_every=log_every, lr=lr)


def run_benchmark(main) -> None:
    """Run a benchmark's main() as `spacetime` runs a command: a user's mistake (a folder that is not
    a model, a broken video) is one line on stderr and exit status 2, not a traceback."""
    import sys

    from spacetime.errors import SpacetimeError

    try:
        code = main()
    except SpacetimeError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        code = 2
    sys.exit(code or 0)
