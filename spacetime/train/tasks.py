"""What is trained and on what: one small object per model kind, one per data source.

A *task* owns the trained module (`task.model`) and the frozen helpers it needs, and says
how a batch becomes a loss:
- `DiTTask`: captions -> text states with the frozen encoder (text dropout -> the empty
  prompt, for classifier-free guidance), video -> normalised latents with the frozen VAE
  (or latents straight from a cache), then `flow.training_loss` with random known-frame
  masks (`flow.random_known_mask`), so one model learns every conditioning.
- `VAETask`: `vae_loss` on pixels.

A *data source* is indexed by micro-batch number: `source.batch(i)` is this rank's i-th
micro-batch, the same on every run with the same seed. The checkpoint's data position is
that number, so a resumed run reads exactly what the killed one would have read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spacetime.errors import RequestError
from spacetime.train.config import TrainConfig


# ---- data sources -----------------------------------------------------------------------------------


class WorldSource:
    """Batches of the synthetic world (spacetime.world.WorldClips), one bucket shape per batch."""

    def __init__(self, config: TrainConfig, rank: int, world_size: int):
        from spacetime.world.dataset import WorldClips

        d = config.data
        chosen = {k: tuple(v) for k, v in (("scenarios", d.world_scenarios), ("motions", d.world_motions)) if v}
        self.seed = config.run.seed
        self.rank = rank
        self.clips = WorldClips(shapes=[tuple(s) for s in d.shapes], fps=d.fps, batch_size=d.batch_size,
                                seed=self.seed, rank=rank, world_size=world_size, caption_style=d.caption_style,
                                pixels="uint8", start=d.world_start,
                                centred_share=d.world_centred_share,
                                centred_motions=tuple(d.world_centred_motions) or None,
                                centred_start=d.world_centred_start, mover_images=d.world_mover_images,
                                shape_images=d.world_shape_images, shape_image_batch=d.world_shape_image_batch or None,
                                caption_noise=d.world_caption_noise,
                                **chosen)

    def batch(self, index: int) -> dict:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.rank, index)))
        return self.clips.make_batch(rng)

    def position(self, index: int) -> dict:
        return {"micro_batches": index}

    def describe(self) -> str:
        return f"world clips, buckets {self.clips.shapes}, batch {self.clips.batch_sizes[0]} per process"


def build_source(config: TrainConfig, rank: int, world_size: int):
    d = config.data
    if d.source == "world":
        return WorldSource(config, rank, world_size)
    if d.source == "toy":
        from spacetime.train.toy import ToySource

        dim = int(config.model.overrides.get("dim", 32))
        return ToySource(config.run.seed, d.batch_size, rank, world_size, dim=dim)
    if d.source in ("manifest", "folder"):
        from spacetime.data.dataset import VideoBatches

        return VideoBatches.from_config(config, rank=rank, world_size=world_size)
    if d.source == "cache":
        from spacetime.data.latent_cache import CachedLatents

        return CachedLatents(d.path, seed=config.run.seed, rank=rank, world_size=world_size)
    raise RequestError(f"unknown data.source {d.source!r}")


def unit_video(video: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch's video on `device` in [-1, 1]: uint8 pixels (world batches) are scaled there."""
    if video.dtype == torch.uint8:
        return video.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return video.to(device)


# ---- tasks --------------------------------------------------------------------------------------------


def per_clip_shift(scenes: list[str], motions, shift: float, high_shift: float) -> torch.Tensor:
    """(B,) training shifts: `high_shift` for the clips (world scenes as JSON) with an object doing one of
    `motions`, `shift` for the rest (also where train.image_prob makes the batch images)."""
    wanted = set(motions)
    hit = [any(o.get("motion") in wanted for o in json.loads(scene)["objects"]) for scene in scenes]
    return torch.tensor([high_shift if h else shift for h in hit], dtype=torch.float32)


def load_frozen_vae(ref: str, device: torch.device, seed: int = 0) -> nn.Module:
    """A VAE preset name (random weights, for tests and smoke runs) or a VAE folder."""
    from spacetime.vae import VAE_PRESETS, VAEConfig, VideoVAE

    if ref in VAE_PRESETS:
        gen_state = torch.get_rng_state()
        torch.manual_seed(seed + 1)  # the same random VAE on every rank and every resume
        vae = VideoVAE(VAEConfig.preset(ref))
        torch.set_rng_state(gen_state)
    else:
        vae = VideoVAE.from_pretrained(ref)
    return vae.to(device).eval().requires_grad_(False)


def load_text_encoder(ref: str, device: torch.device, word_embeddings: bool = False):
    from spacetime.text import TextEncoder

    encoder = TextEncoder.from_pretrained(None if ref == "default" else ref, word_embeddings=word_embeddings)
    return encoder.to(device)


class DiTTask:
    kind = "dit"

    def __init__(self, config: TrainConfig, device: torch.device):
        from spacetime.dit import DiT, DiTConfig

        self.config = config
        self.device = device
        m = config.model
        self.vae = load_frozen_vae(m.vae, device, seed=config.run.seed)
        self.text_encoder = load_text_encoder(m.text_encoder, device, m.text_word_embeddings)
        if m.init:
            self.model = model_from_init(DiT, m.init, m.overrides)
            enc = self.text_encoder
            if m.text_word_embeddings and self.model.config.text_dim == enc.states_dim != enc.dim:
                print(f"model.init {m.init}: its DiT reads the text states only; widened to {enc.dim} features "
                      "with zero weights on the word embeddings", flush=True)
                self.model = self.model.widen_text_input(enc.dim)
        else:
            fields = dict(in_channels=self.vae.config.latent_channels, text_dim=self.text_encoder.dim)
            fields.update(m.overrides)
            try:
                self.model = DiT(DiTConfig.preset(m.preset, **fields) if m.preset else DiTConfig(**fields))
            except (TypeError, ValueError) as e:
                raise RequestError(f"model: cannot build DiT preset {m.preset!r} with {m.overrides}: {e}") from None
        self.model.train()
        if config.train.freeze:
            freeze_parameters(self.model, config.train.freeze)
        if self.model.config.text_dim != self.text_encoder.dim:
            raise RequestError(f"the DiT takes text of width {self.model.config.text_dim} but model.text_encoder "
                               f"gives {self.text_encoder.dim}; use the encoder it was trained with")
        self.null_text, self.null_mask = self.text_encoder.encode([""])  # (1, L, D), (1, L)
        self.mask_probs = dict(config.train.mask_probs) or None

    def set_activation_checkpointing(self, enabled: bool) -> None:
        self.model.set_activation_checkpointing(enabled)

    @torch.no_grad()
    def inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(latents (B, C, T', h, w), text (B, L, D), text_mask (B, L)) on the device."""
        if "latents" in batch:
            x0 = batch["latents"].to(self.device)
        else:
            x0 = self.vae.encode_latents(unit_video(batch["video"], self.device))
        if "text" in batch:
            text, mask = batch["text"].to(self.device), batch["text_mask"].to(self.device)
        else:
            text, mask = self.text_encoder.encode(list(batch["caption"]))
        return x0, text, mask

    def tokens(self, x0: torch.Tensor) -> int:
        pt, ph, pw = self.model.config.patch_size
        B, _, T, H, W = x0.shape
        return B * math.ceil(T / pt) * math.ceil(H / ph) * math.ceil(W / pw)

    def loss(self, model: nn.Module, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        from spacetime import flow
        from spacetime.dit import forward_flops

        x0, text, mask = self.inputs(batch)
        t = self.config.train
        shift = t.shift if t.shift > 0 else flow.shift_for_tokens(self.tokens(x0) // x0.shape[0])
        if t.high_noise_motions:
            shift = per_clip_shift(batch["scene"], t.high_noise_motions, shift, t.high_noise_shift)
        known = None
        if "first_frame_given" in batch and batch["first_frame_given"].any():
            # the world's centred clips: their first frame, whatever train.mask_probs draws for the rest
            given = batch["first_frame_given"].to(x0.device)  # (B,)
            known = flow.random_known_mask(x0.shape[0], x0.shape[2], generator, self.mask_probs, x0.device)
            known[given] = False
            known[given, 0] = True
        loss, stats = flow.training_loss(
            model, x0, text, mask, known, generator=generator, shift=shift, mask_probs=self.mask_probs,
            image_prob=t.image_prob, text_drop=t.text_drop, null_text=self.null_text, null_mask=self.null_mask,
            noise_correlation=t.noise_correlation, object_weight=t.object_weight,
            object_weight_drawn=t.object_weight_drawn, motion_weight=t.motion_weight, edge_weight=t.edge_weight,
        )
        tokens = self.tokens(x0[:, :, : int(stats.pop("frames"))])  # what the model saw (image batches: 1 frame)
        # a training step is about three forwards' matmuls (the backward takes two)
        flops = 3 * forward_flops(self.model.config, tokens // x0.shape[0], text.shape[1], batch=x0.shape[0])
        stats.update(samples=x0.shape[0], tokens=tokens, flops=flops)
        return loss, stats

    @torch.no_grad()
    def sample(self, model: nn.Module, path: Path, generator: torch.Generator, write: bool = True) -> Path | None:
        """One clip of `train.sample_prompt` with Euler steps, decoded and written to `path` (.mp4).

        write=False runs the same forwards without writing (the other ranks under FSDP2)."""
        from spacetime import flow
        from spacetime.vae import latent_frames
        from spacetime.video import tensor_to_frames, write_video

        t = self.config.train
        frames, height, width = t.sample_shape
        text, mask = self.text_encoder.encode([t.sample_prompt])
        shape = (1, self.vae.config.latent_channels, latent_frames(frames), -(-height // 8), -(-width // 8))
        x = flow.frame_correlated_noise(shape, t.noise_correlation, generator).to(self.device)
        shift = t.shift if t.shift > 0 else flow.shift_for_tokens(self.tokens(x))
        was_training = model.training
        model.eval()
        z = flow.sample_euler(lambda x, tt: model(x, tt, text, mask), x, flow.sigma_schedule(t.sample_steps, shift))
        model.train(was_training)
        if not write:
            return None
        video = self.vae.decode_latents(z, num_frames=frames, height=height, width=width)
        return write_video(path.with_suffix(".mp4"), tensor_to_frames(video.float().cpu()), self.config.data.fps)


def with_overrides(base: nn.Module, overrides: dict) -> tuple[nn.Module, list[str]]:
    """A new model of base's class with its config changed by `overrides`, holding every tensor of
    `base` whose name and shape still match; returns it and the names of the tensors that start fresh."""
    from dataclasses import replace

    model = type(base)(replace(base.config, **overrides))
    own = model.state_dict()
    kept = {k: v for k, v in base.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(kept, strict=False)
    return model.to(next(base.parameters()).device), sorted(set(own) - set(kept))


def check_name_patterns(names, patterns, option: str) -> None:
    """A RequestError for the first fnmatch pattern that names none of `names` (a typo in a list of
    weights to freeze or blend would otherwise go unnoticed)."""
    from fnmatch import fnmatchcase

    names = list(names)
    for pattern in patterns:
        if not any(fnmatchcase(name, pattern) for name in names):
            raise RequestError(f"{option}: {pattern!r} names no weight of the model (names look like "
                               f"{', '.join(names[:3])})")


def freeze_parameters(model: nn.Module, patterns: list) -> None:
    """Stop the gradient of every parameter whose name matches one of `patterns` (fnmatch)."""
    from fnmatch import fnmatchcase

    named = dict(model.named_parameters())
    check_name_patterns(named, patterns, "train.freeze")
    for name, param in named.items():
        if any(fnmatchcase(name, pattern) for pattern in patterns):
            param.requires_grad_(False)


def model_from_init(model_cls, folder: str, overrides: dict, keep_prefix: str = "") -> nn.Module:
    """The model of `folder`, or with `overrides` its config changed: every tensor whose name and
    shape still match is loaded and the rest start fresh (e.g. a wider VAE decoder under a kept
    encoder). Tensors under `keep_prefix` must all be loaded."""
    base = model_cls.from_pretrained(folder)
    if not overrides:
        return base
    try:
        model, fresh = with_overrides(base, overrides)
    except (TypeError, ValueError) as e:
        raise RequestError(f"model: cannot apply {overrides} to the model of {folder}: {e}") from None
    if keep_prefix and any(k.startswith(keep_prefix) for k in fresh):
        raise RequestError(f"train.freeze_encoder keeps {folder}'s encoder, but model.overrides {overrides} "
                           "change it; change only decoder fields (decoder_hidden_channels, decoder_num_blocks)")
    if fresh:
        print(f"model.init {folder}: {len(model.state_dict()) - len(fresh)} tensors loaded, {len(fresh)} start fresh "
              f"(changed by model.overrides): {', '.join(fresh[:4])}{', ...' if len(fresh) > 4 else ''}", flush=True)
    return model


class DiTReconstruction:
    """A model folder's frozen DiT redrawing a share of a batch's latents from a little noise.

    Each clip, with chance `share`, gets a noise level t ~ U(0, max_t) on every latent frame
    (the folder's frame-correlated noise), and its latents are replaced by the DiT's one-step
    estimate x_t - t v(x_t, t, caption): the conditional mean the sampler's last steps settle
    on, with the DiT's own blur in it. A decoder trained on these against the clip's pixels is
    asked to draw what the DiT's latents mean. (Measured on the embedded model, MODEL.md: by
    squared error alone this changed nothing against the encoder's own latents; with the object
    pixels weighted it filled the DiT's faint frames but drew every object larger.)
    """

    def __init__(self, folder: str, device: torch.device, share: float, max_t: float):
        from spacetime.model_folder import read_model_folder

        vae, dit, text_ref, defaults, word_embeddings = read_model_folder(folder)
        self.vae = vae  # whose latents the DiT reads: `same_latents` checks the trained VAE against it
        self.dit = dit.to(device).eval().requires_grad_(False)
        self.text_encoder = load_text_encoder(text_ref, device, word_embeddings)
        self.noise_correlation = float(defaults.get("noise_correlation", 0.0))
        self.share, self.max_t = share, max_t

    def same_latents(self, vae: nn.Module) -> bool:
        """Whether `vae` encodes and normalises latents exactly as the DiT's own VAE does."""
        mine, theirs = self.vae.config, vae.config
        if (mine.latent_mean, mine.latent_std) != (theirs.latent_mean, theirs.latent_std):
            return False
        a, b = self.vae.encoder.state_dict(), vae.encoder.state_dict()
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k].cpu()) for k in a)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, captions: list[str], generator: torch.Generator) -> torch.Tensor:
        from spacetime import flow

        B, T = z.shape[0], z.shape[2]
        draw = generator if generator.device.type == "cpu" else None
        redraw = torch.rand(B, generator=draw) < self.share  # (B,)
        t = (torch.rand(B, generator=draw) * self.max_t)[redraw].to(z.device)[:, None].expand(-1, T).contiguous()
        eps = flow.frame_correlated_noise(z.shape, self.noise_correlation, generator, generator.device).to(z)
        if not redraw.any():
            return z
        chosen = redraw.nonzero().flatten().tolist()  # only these clips go through the text encoder and the DiT
        x_t = flow.noise(z[chosen], eps[chosen], t)  # (b, C, T, h, w)
        text, mask = self.text_encoder.encode([captions[i] for i in chosen])
        v = self.dit(x_t, t, text, mask).float()
        out = z.clone()
        out[chosen] = x_t - t[:, None, :, None, None] * v
        return out


class VAETask:
    kind = "vae"

    def __init__(self, config: TrainConfig, device: torch.device):
        from spacetime.vae import VAEConfig, VideoVAE

        self.config = config
        self.device = device
        m = config.model
        if m.init:
            self.model = model_from_init(VideoVAE, m.init, m.overrides,
                                         keep_prefix="encoder." if config.train.freeze_encoder else "")
        else:
            try:
                fields = {**(VAEConfig.preset(m.preset).__dict__ if m.preset else {}), **m.overrides}
                self.model = VideoVAE(VAEConfig(**fields))
            except (TypeError, ValueError) as e:
                raise RequestError(f"model: cannot build VAE preset {m.preset!r} with {m.overrides}: {e}") from None
        if config.train.freeze_encoder:
            if not m.init:
                raise RequestError("train.freeze_encoder needs model.init: a trained VAE folder whose encoder to keep")
            self.model.encoder.requires_grad_(False)
        self.redraw = None
        if config.train.decoder_dit:
            t = config.train
            self.redraw = DiTReconstruction(t.decoder_dit, device, t.decoder_dit_share, t.decoder_dit_max_t)
            if not self.redraw.same_latents(self.model):
                raise RequestError(f"train.decoder_dit {t.decoder_dit}'s VAE encodes or normalises latents unlike "
                                   f"model.init {m.init}; the DiT must have been trained on this VAE's encoder")
        self.model.train()

    def set_activation_checkpointing(self, enabled: bool) -> None:
        if enabled:
            raise RequestError("train.activation_checkpointing is not implemented for the VAE; set it to false")

    def tokens(self, video: torch.Tensor) -> int:
        from spacetime.vae import latent_frames

        B, _, T, H, W = video.shape
        return B * latent_frames(T) * -(-H // 8) * -(-W // 8)

    def loss(self, model: nn.Module, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        from spacetime.vae_loss import decoder_loss, vae_loss

        video = unit_video(batch["video"], self.device)
        t = self.config.train
        if self.redraw is not None:
            with torch.no_grad():
                z = self.redraw(self.model.encode_latents(video), list(batch["caption"]), generator)
            out = decoder_loss(model, video, z, object_weight=t.object_weight,
                               object_weight_drawn=t.object_weight_drawn)
        else:
            out = vae_loss(model, video, kl_weight=t.kl_weight, gradient_weight=t.gradient_weight,
                           chroma_weight=t.chroma_weight, reconstruction=t.reconstruction,
                           generator=generator)
        stats = {k: float(v) for k, v in out.items() if k != "loss"}
        stats.update(loss=float(out["loss"].detach()), samples=video.shape[0], tokens=self.tokens(video))
        return out["loss"], stats

    @torch.no_grad()
    def sample(self, model: nn.Module, path: Path, generator: torch.Generator, write: bool = True,
               batch: dict | None = None) -> Path | None:
        """Input (top) over reconstruction (bottom) of the first clip of `batch`, as .mp4 (or .png for an image)."""
        from spacetime.video import tensor_to_frames, write_video

        video = unit_video(batch["video"][:1], self.device)
        was_training = model.training
        model.eval()
        z = model.encode_latents(video)
        recon = model.decode_latents(z, num_frames=video.shape[2], height=video.shape[3], width=video.shape[4])
        model.train(was_training)
        both = torch.cat([video, recon.clamp(-1, 1).to(video.dtype)], dim=3)  # stacked along height
        suffix = ".png" if video.shape[2] == 1 else ".mp4"
        frames = tensor_to_frames(both.float().cpu())
        return write_video(path.with_suffix(suffix), frames[0] if suffix == ".png" else frames, self.config.data.fps)


def build_task(config: TrainConfig, device: torch.device):
    if config.model.kind == "toy":
        from spacetime.train.toy import ToyTask

        return ToyTask(config, device)
    return DiTTask(config, device) if config.model.kind == "dit" else VAETask(config, device)
