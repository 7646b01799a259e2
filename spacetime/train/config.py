"""Training configuration: typed dataclass sections read from TOML (or YAML), with overrides.

    config = load_config("configs/smoke.toml", overrides=["train.lr=1e-4", "model.preset=tiny"])

A config file has the sections below; every key is optional and unknown keys are errors
that name them, so a typo never trains with a silent default. Overrides use dotted keys
and TOML literals (`train.steps=200`, `data.shapes=[[1,32,32]]`, `run.dir="runs/x"`);
a value that is not a TOML literal is taken as a string (`parallel.strategy=fsdp`).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetime.errors import RequestError


class ConfigError(RequestError):
    """A training config that cannot be used (unknown key, wrong type, bad value)."""


@dataclass
class RunConfig:
    dir: str = "runs/default"  # run folder: config.toml copy, metrics.jsonl, checkpoints/, samples/
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms; needed for bitwise resume


@dataclass
class ModelConfig:
    kind: str = "dit"  # "dit" (diffusion transformer), "vae" (the video compression network), "toy" (machinery checks)
    preset: str = "tiny"  # DiTConfig / VAEConfig preset; "" = the config class's defaults
    overrides: dict = field(default_factory=dict)  # fields of the model config, e.g. {depth = 4}
    init: str = ""  # optional model folder to start from (config.json + model.safetensors)
    vae: str = "tiny"  # DiT runs: frozen VAE, a VAEConfig preset (random weights) or a VAE folder
    text_encoder: str = "default"  # DiT runs: "default" (MiniLM) or a local Hugging Face folder
    # DiT runs: give the DiT the encoder's input word embeddings beside its token states (TextEncoder);
    # a model.init DiT that takes only the states is widened with zero weights on the new features
    text_word_embeddings: bool = False


@dataclass
class DataConfig:
    source: str = "world"  # "world" (rendered on the fly), "manifest", "folder", "cache"; "toy" with model.kind "toy"
    path: str = ""  # manifest file, video folder or latent cache folder
    batch_size: int = 2  # clips per micro-batch per process (world); for buckets: the smallest bucket's
    shapes: list = field(default_factory=lambda: [[1, 32, 32], [9, 32, 32]])  # world: (frames, height, width)
    fps: float = 8.0
    caption_style: str = "random"  # world captions
    world_scenarios: list = field(default_factory=list)  # world: scenarios drawn; empty = all (spacetime.world.scene)
    world_motions: list = field(default_factory=list)  # world: motions of clips; empty = all (world/vocab.py MOTIONS)
    # world: "centre" / "inside" start straight-line movers slowly by the centre / anywhere in frame (single only)
    world_start: str = "anywhere"
    world_centred_share: float = 0.0  # world: chance a clip is one such centred mover, trained with its first frame given
    world_centred_motions: list = field(default_factory=list)  # world: the share's motions; empty = straight lines only
    world_centred_start: str = "centre"  # world: where the share's movers start: "centre" or "inside" (anywhere in frame)
    world_caption_noise: float = 0.0  # world: chance a caption's frame words are dropped or padded (parse.jostle_caption)
    world_mover_images: float = 0.0  # world: chance a batch is first frames of straight-line movers, with their captions
    world_shape_images: float = 0.0  # world: chance a batch is images of one still object each (shape practice)
    world_shape_image_batch: int = 0  # world: images in such a batch; 0 = data.batch_size (one frame is cheap)
    token_budget: int = 256  # real data: latent tokens per clip of the largest bucket
    aspect_ratios: list = field(default_factory=lambda: [2.0, 16 / 9, 4 / 3, 1.0, 3 / 4, 9 / 16, 0.5])
    frames: list = field(default_factory=lambda: [1, 9, 17, 33])  # real data: bucket lengths in frames
    images: float = 0.0  # real data: share of one-frame buckets drawn from videos (their first frame)
    probe_cache: str = ""  # real data: metadata cache file (default: beside the manifest / in the folder)


@dataclass
class TrainOptions:
    steps: int = 100
    lr: float = 1e-4
    warmup_steps: int = 0
    decay: str = "constant"  # "constant" or "cosine" after warm-up
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    weight_decay: float = 0.0
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float = 1.0  # 0 disables clipping
    grad_accum: int = 1
    ema_decay: float = 0.999
    mixed_precision: str = "no"  # "no" or "bf16" (autocast; weights and optimizer stay fp32)
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile each transformer block (DiT); the first steps of each bucket shape compile
    text_drop: float = 0.1  # DiT: share of prompts replaced by the empty prompt (classifier-free guidance)
    image_prob: float = 0.0  # DiT: share of batches trained as single images (first latent frame)
    mask_probs: dict = field(default_factory=dict)  # DiT: known-frame mask kinds; empty = flow's defaults
    shift: float = 0.0  # DiT: timestep shift; 0 = flow.shift_for_tokens of each batch
    # DiT, world data: clips with an object doing one of these motions draw their noise level with
    # high_noise_shift instead of shift, so more of their steps fall near t = 1 (pure noise), where
    # sampling settles a motion's layout
    high_noise_motions: list = field(default_factory=list)
    high_noise_shift: float = 0.0
    noise_correlation: float = 0.0  # DiT: noise correlation between latent frames (flow.frame_correlated_noise)
    # extra loss weight on cells unlike their frame's background (flow.object_weights): a DiT's latent
    # cells, or the pixels of a VAE decoder trained with decoder_dit (vae_loss.decoder_loss)
    object_weight: float = 0.0
    # ... and on the cells where the model's own estimate shows an object, so that drawing one where
    # there is none costs as much as missing one (flow.object_weights with an estimate)
    object_weight_drawn: bool = False
    motion_weight: float = 0.0  # DiT: weight of the error of the velocity's frame-to-frame change (flow.training_loss)
    edge_weight: float = 0.0  # DiT: weight of the error of the velocity's cell-to-cell change (flow.training_loss)
    kl_weight: float = 1e-6  # VAE
    reconstruction: str = "l1"  # VAE: "l1" or "mse" (see spacetime.vae_loss)
    chroma_weight: float = 0.0  # VAE: extra L1 on colour minus luminance (see spacetime.vae_loss)
    freeze_encoder: bool = False  # VAE: train the decoder only, so DiTs trained on its latents stay valid
    # VAE under freeze_encoder: a model folder (`spacetime export`) whose DiT reconstructs a share of the
    # clips' latents in one step from noise level t ~ U(0, decoder_dit_max_t) before they are decoded,
    # so the decoder learns to draw what the DiT's latents mean (VAETask)
    decoder_dit: str = ""
    decoder_dit_share: float = 0.5
    decoder_dit_max_t: float = 0.5
    # DiT: parameter-name patterns (fnmatch, as in `DiT.named_parameters()`: "text_embed.*",
    # "blocks.*.cross.kv.*") whose weights stay as model.init gave them
    freeze: list = field(default_factory=list)
    gradient_weight: float = 0.0  # VAE
    log_every: int = 1
    checkpoint_every: int = 100  # 0 disables periodic checkpoints (one is still written at the end)
    keep_checkpoints: int = 3
    sample_every: int = 0  # 0 disables; writes samples/step_N.mp4 (DiT) or a reconstruction (VAE)
    sample_prompt: str = "a red circle moving right over a black background"
    sample_shape: list = field(default_factory=lambda: [9, 32, 32])
    sample_steps: int = 8
    peak_flops: float = 0.0  # per process, for MFU; 0 = measured once with a matmul
    num_workers: int = 0  # data-loading processes per rank
    # Each data micro-batch trains this many consecutive optimizer steps, each with fresh noise, times
    # and masks (data echoing, Choi et al. 2019): for when making the data, not the model, limits the
    # step rate, as rendering on a few CPU cores does beside a GPU.
    data_echo: int = 1
    # Seconds of training this run may spend (0 = no limit), counted across resumed calls (each
    # checkpoint records the time trained): it then checkpoints and stops, and a cosine decay ends at
    # whichever of train.steps and this budget comes first (so the step count need not be guessed
    # before the step rate is known). The schedule then depends on the machine's speed.
    time_budget: float = 0.0


@dataclass
class ParallelConfig:
    strategy: str = "auto"  # "none", "ddp", "fsdp" (FSDP2 fully_shard); "auto" = ddp under torchrun
    backend: str = "auto"  # "gloo" on CPU, "nccl" on GPU
    device: str = "auto"  # "cpu", "cuda", or "auto"


@dataclass
class TrainConfig:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainOptions = field(default_factory=TrainOptions)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

    def validate(self) -> "TrainConfig":
        choices = {
            "model.kind": (self.model.kind, ("dit", "vae", "toy")),
            "data.source": (self.data.source, ("world", "manifest", "folder", "cache", "toy")),
            "train.decay": (self.train.decay, ("constant", "cosine")),
            "train.mixed_precision": (self.train.mixed_precision, ("no", "bf16")),
            "parallel.strategy": (self.parallel.strategy, ("auto", "none", "ddp", "fsdp")),
            "parallel.backend": (self.parallel.backend, ("auto", "gloo", "nccl")),
            "parallel.device": (self.parallel.device, ("auto", "cpu", "cuda")),
        }
        for key, (value, allowed) in choices.items():
            if value not in allowed:
                raise ConfigError(f"{key} = {value!r} is not one of {list(allowed)}")
        t = self.train
        positive = {"train.steps": t.steps, "train.grad_accum": t.grad_accum, "data.batch_size": self.data.batch_size,
                    "train.keep_checkpoints": t.keep_checkpoints, "train.log_every": t.log_every,
                    "train.data_echo": t.data_echo}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        if not (0.0 <= t.ema_decay < 1.0):
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
        if not 0 <= t.noise_correlation < 1:
            raise ConfigError(f"train.noise_correlation must be in [0, 1), got {t.noise_correlation}")
        if t.object_weight < 0:
            raise ConfigError(f"train.object_weight must be >= 0 (0 = every cell alike), got {t.object_weight}")
        if t.object_weight_drawn and t.object_weight <= 0:
            raise ConfigError("train.object_weight_drawn weights the cells where the model draws an object; it "
                              "needs train.object_weight > 0")
        if t.motion_weight < 0:
            raise ConfigError(f"train.motion_weight must be >= 0 (0 = no frame-to-frame term), got {t.motion_weight}")
        if t.edge_weight < 0:
            raise ConfigError(f"train.edge_weight must be >= 0 (0 = no cell-to-cell term), got {t.edge_weight}")
        if t.high_noise_motions:
            from spacetime.world.scene import check_world_names

            try:
                check_world_names(motions=t.high_noise_motions)
            except RequestError as e:
                raise ConfigError(f"train.high_noise_motions are not world motions: {e}") from None
            if t.high_noise_shift <= 0:
                raise ConfigError("train.high_noise_motions needs train.high_noise_shift > 0 (12 puts about a "
                                  "third of those clips' steps above t = 0.95)")
            if self.data.source != "world":
                raise ConfigError("train.high_noise_motions reads the world's scenes; it needs data.source = 'world'")
        if t.decoder_dit and not (self.model.kind == "vae" and t.freeze_encoder):
            raise ConfigError("train.decoder_dit trains a VAE's decoder on a DiT's latents; it needs model.kind = "
                              "'vae' and train.freeze_encoder = true (the DiT reads the encoder's latents)")
        if t.object_weight > 0 and self.model.kind == "vae" and not t.decoder_dit:
            raise ConfigError("train.object_weight weights a VAE's pixels only in the decoder_dit objective; set "
                              "train.decoder_dit (with train.decoder_dit_share = 0 for the encoder's own latents)")
        if not (0 <= t.decoder_dit_share <= 1 and 0 < t.decoder_dit_max_t <= 1):
            raise ConfigError(f"train.decoder_dit_share must be in [0, 1] and train.decoder_dit_max_t in (0, 1], "
                              f"got {t.decoder_dit_share} and {t.decoder_dit_max_t}")
        if t.freeze and self.model.kind != "dit":
            raise ConfigError("train.freeze names DiT parameters; a VAE keeps its encoder with train.freeze_encoder")
        if t.time_budget < 0:
            raise ConfigError(f"train.time_budget must be >= 0 seconds (0 = no limit), got {t.time_budget}")
        if t.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {t.lr}")
        if t.mask_probs:
            from spacetime.flow import check_mask_probs

            try:
                check_mask_probs(t.mask_probs)
            except ValueError as e:
                raise ConfigError(f"train.{e}") from None
        if (self.model.kind == "toy") != (self.data.source == "toy"):
            raise ConfigError("model.kind = 'toy' and data.source = 'toy' go together (the machinery check)")
        if self.data.source not in ("world", "toy") and not self.data.path:
            raise ConfigError(f"data.source = {self.data.source!r} needs data.path")
        if self.model.kind == "vae" and self.data.source == "cache":
            raise ConfigError("a VAE trains on pixels but data.source = 'cache' holds latents; use world, manifest or folder")
        for shape in self.data.shapes:
            if len(shape) != 3 or min(shape) < 1:
                raise ConfigError(f"data.shapes entries are [frames, height, width], got {shape}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    """Build a TrainConfig from nested dicts, refusing unknown sections and keys."""
    sections = {f.name: f.default_factory for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; known: {sorted(sections)}")
    built = {}
    for name, factory in sections.items():
        default = factory()
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{name}] must be a table of keys")
        values = dict(values)
        fields = {f.name: f for f in dataclasses.fields(default)}
        bad = sorted(set(values) - set(fields))
        if bad:
            raise ConfigError(f"{source}: unknown key(s) {[f'{name}.{k}' for k in bad]}; known: {sorted(fields)}")
        for key, value in values.items():
            values[key] = _coerce(f"{name}.{key}", getattr(default, key), value, source)
        built[name] = dataclasses.replace(default, **values)
    return TrainConfig(**built).validate()


def _coerce(key: str, default: Any, value: Any, source: str) -> Any:
    """Check a value against its default's type; ints are accepted where floats are expected."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        value = list(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"{source}: {key} must be {type(default).__name__}, got {value!r}")
    return value


def read_config_file(path: str | Path) -> dict:
    """The nested dict of a .toml (stdlib) or .yaml/.yml (needs PyYAML) file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; see configs/ for examples")
    text = path.read_text()
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: YAML needs PyYAML (pip install pyyaml); or use a .toml config") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping of sections")
        return data
    raise ConfigError(f"{path}: config files are .toml or .yaml, not {path.suffix or 'no suffix'}")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` strings to a nested dict (values parsed as TOML literals)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"override {item!r} must look like section.key=value (e.g. train.lr=1e-4)")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # a bare word: a string (parallel.strategy=fsdp)
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a config file (or the defaults when path is None) and apply overrides."""
    data = read_config_file(path) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    return config_from_dict(data, source=str(path or "defaults"))


def dump_toml(config: TrainConfig) -> str:
    """The config as TOML text (written into the run folder, so a run says how it was made)."""
    lines = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} to TOML")
