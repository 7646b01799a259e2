"""`spacetime export RUN_DIR OUT_DIR`: a run's EMA weights in the inference format.

A DiT run is written through `spacetime.model_folder.write_model_folder` (model_index.json,
vae/, dit/), with the frozen VAE and the text encoder the run trained with, so that
`Pipeline.from_pretrained(OUT_DIR)` and every command's `--model OUT_DIR` load it. A VAE
run is written as one component folder (config.json + model.safetensors) that
`VideoVAE.from_pretrained(OUT_DIR)` loads and a later DiT run names as `model.vae`.

`--blend-with FOLDER --run-share S` writes a run's weights interpolated, weight by weight,
with another model of the same config: S x run + (1 - S) x FOLDER. For a DiT run FOLDER holds a
DiT (or the same without the absolute position features the run added, whose projection starts
at zero); for a VAE run, a VAE with the same encoder weights (a decoder fine-tuned under a frozen
encoder blended with the VAE it started from), since another encoder would move the latent space
that DiTs were trained on. With FOLDER the weights the
run was fine-tuned from, this is WiSE-FT (Wortsman et al. 2022, "Robust fine-tuning of
zero-shot models"): a fine-tune pulled part of the way back keeps more of what the start could
do while keeping much of what the fine-tune learnt (for the embedded model: MODEL.md, 0.12).
`--pattern-share PATTERN=S ...` gives the weights whose names match PATTERN (fnmatch, as in
`DiT.named_parameters()`; the first matching pattern counts) a share of their own, so one component
can come from FOLDER whole while the rest is blended or kept (MODEL.md, session 26: the text-reading
weights of one DiT with the rest of another).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch
from safetensors.torch import load_file

from spacetime.errors import RequestError
from spacetime.train.checkpoint import CheckpointError, CheckpointManager
from spacetime.train.config import load_config


def export_run(run_dir: str | Path, out_dir: str | Path, *, checkpoint: str | Path | None = None,
               use_ema: bool = True, defaults: dict | None = None, blend_with: str | Path | None = None,
               run_share: float = 0.5, pattern_shares: dict | None = None) -> Path:
    """Write the (EMA) weights of `checkpoint` (default: the newest valid one) to `out_dir`;
    with `blend_with` (a DiT model folder, or its dit/ folder) run_share x them + (1 - run_share)
    x that DiT's, and the weights named by a pattern of `pattern_shares` ({fnmatch pattern: share})
    that pattern's share instead."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.toml"
    if not config_path.is_file():
        raise RequestError(f"{config_path} is missing; RUN_DIR must be a training run folder (run.dir of a config)")
    config = load_config(config_path)
    if blend_with is not None:
        if not (0 <= run_share <= 1 if pattern_shares else 0 < run_share < 1):
            raise RequestError(f"--run-share must be between 0 and 1 (the run's share of the blend), got {run_share}")
        for pattern, share in (pattern_shares or {}).items():
            if not 0 <= share <= 1:
                raise RequestError(f"--pattern-share {pattern}={share}: a share is between 0 and 1")
    elif pattern_shares:
        raise RequestError("--pattern-share says how much of the run to keep in a blend; give --blend-with FOLDER too")
    manager = CheckpointManager(run_dir / "checkpoints")
    if checkpoint is not None:
        path = Path(checkpoint)
        try:
            manager.verify(path)
        except CheckpointError as e:
            raise RequestError(f"--checkpoint {path}: {e}") from None
    else:
        found = manager.latest_valid()
        if found is None:
            raise RequestError(f"{run_dir / 'checkpoints'} holds no valid checkpoint; train first or check RUN_DIR")
        path = found[0]

    device = torch.device("cpu")
    if config.model.kind == "vae":
        from spacetime.train.tasks import VAETask

        model = VAETask(config, device).model
    else:
        from spacetime.train.tasks import DiTTask

        task = DiTTask(config, device)
        model = task.model
    weights = load_file(str(path / "model.safetensors"))
    if use_ema:
        weights.update(load_file(str(path / "ema.safetensors")))  # EMA covers parameters; buffers stay
    model.load_state_dict(weights, strict=True)
    if blend_with is not None:
        _blend(model, blend_with, run_share, pattern_shares or {})
    model.eval()
    out = Path(out_dir)
    if config.model.kind == "vae":
        if not config.train.freeze_encoder:
            model.config = _latent_stats_from_run(model, config)
        # else: the encoder is model.init's, and so must be the latent scaling that DiTs trained on
        # its latents expect (VAETask loaded it with the init folder's config); re-measuring on
        # other batches would shift it.
        return model.save_pretrained(out)

    from spacetime.model_folder import write_model_folder

    frames, height, width = config.train.sample_shape
    fps = config.data.fps
    base = dict(width=int(width), height=int(height), fps=fps, seconds=round(frames / fps, 3),
                steps=max(config.train.sample_steps, 20), guidance=4.0, sampler="euler")
    if config.train.noise_correlation > 0:  # a property of the weights: sampling must use the trained prior
        base["noise_correlation"] = config.train.noise_correlation
    text_encoder = config.model.text_encoder
    if text_encoder != "default":
        text_encoder = str(Path(text_encoder).resolve())
    return write_model_folder(out, vae=task.vae, dit=model, text_encoder=text_encoder,
                              text_word_embeddings=config.model.text_word_embeddings,
                              defaults={**base, **(defaults or {})})


def _blend(model: torch.nn.Module, folder: str | Path, run_share: float, pattern_shares: dict) -> None:
    """model's floating-point weights <- s x them + (1 - s) x those of the same kind of model in
    `folder`, where s is the share of the first pattern of `pattern_shares` that names the weight,
    else run_share."""
    from fnmatch import fnmatchcase

    from spacetime.train.tasks import check_name_patterns
    from spacetime.vae import VideoVAE

    other = _vae_to_blend(model, folder) if isinstance(model, VideoVAE) else _dit_to_blend(model, folder)
    theirs, mine = other.state_dict(), model.state_dict()
    check_name_patterns(mine, pattern_shares, "--pattern-share")
    with torch.no_grad():
        for name, weight in mine.items():
            if weight.is_floating_point():
                s = next((share for pattern, share in pattern_shares.items() if fnmatchcase(name, pattern)), run_share)
                weight.copy_(s * weight.float() + (1 - s) * theirs[name].float())


def _load_to_blend(cls, folder: str | Path, component: str):
    """`cls.from_pretrained` of `folder`/component in a model folder, else of `folder` itself."""
    folder = Path(folder)
    found = folder / component if (folder / component).is_dir() else folder
    if not (found / "config.json").is_file():
        raise RequestError(f"--blend-with {folder}: no {cls.__name__} there (expected a model folder with "
                           f"{component}/, or a folder with config.json and model.safetensors)")
    return cls.from_pretrained(found)


def _dit_to_blend(dit: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    from spacetime.dit import DiT
    from spacetime.train.tasks import with_overrides

    other = _load_to_blend(DiT, folder, "dit")
    if dit.config.absolute_position and not other.config.absolute_position:
        # the run added them by model.overrides: given the same way, their projection starts at zero
        # (DiT init), as the run's did
        other = with_overrides(other, {"absolute_position": True})[0]
    _check_same_config(dit.config, other.config, folder, "DiTs")
    return other


def _vae_to_blend(vae: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    from spacetime.vae import VideoVAE

    other = _load_to_blend(VideoVAE, folder, "vae")
    _check_same_config(vae.config, other.config, folder, "VAEs")
    theirs = other.state_dict()
    if any(not torch.equal(weight, theirs[name]) for name, weight in vae.state_dict().items()
           if name.startswith("encoder.")):
        raise RequestError(f"--blend-with {folder}: its encoder differs from the run's; only decoders trained under "
                           f"one frozen encoder (train.freeze_encoder) can be blended, so that DiTs trained on its "
                           f"latents stay valid")
    return other


def _check_same_config(mine, theirs, folder: Path, what: str) -> None:
    differ = [f.name for f in fields(mine) if getattr(mine, f.name) != getattr(theirs, f.name)]
    if differ:
        raise RequestError(f"--blend-with {folder}: its config differs from the run's in {', '.join(differ)}; "
                           f"only {what} of one architecture can be blended")


def _latent_stats_from_run(vae: torch.nn.Module, config, batches: int = 24):
    """The per-channel latent mean/std over the run's own data, so the DiT sees unit-scale latents.

    Measured on the first `batches` micro-batches of the training source (the same clips the
    VAE saw), in eval mode; stored in the exported config (`latent_mean`, `latent_std`).
    """
    from spacetime.train.tasks import build_source, unit_video
    from spacetime.vae import estimate_latent_stats

    source = build_source(config, rank=0, world_size=1)
    device = next(vae.parameters()).device
    with torch.no_grad():
        return estimate_latent_stats(vae, (unit_video(source.batch(i)["video"], device) for i in range(batches)))
