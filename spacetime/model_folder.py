"""Model folders: everything `Pipeline.from_pretrained(PATH)` needs, in one directory.

Layout (written by `spacetime export` through `write_model_folder`):

    OUT/model_index.json      {"format": "spacetime", "version": 1,
                               "text_encoder": "default" | "relative/path" | "/absolute/path",
                               "text_word_embeddings"?: true,
                               "defaults": {"width", "height", "fps", "seconds", "steps",
                                            "guidance", "sampler", "shift"?, "first_image"?, ...}}
    OUT/vae/config.json, OUT/vae/model.safetensors
    OUT/dit/config.json, OUT/dit/model.safetensors

`text_encoder` is "default" (the packaged all-MiniLM-L6-v2) or a local Hugging Face
encoder folder; a relative path is resolved against OUT, so a folder can carry its own
encoder and still be moved. `text_word_embeddings` true: the DiT reads the encoder's input
word embeddings beside its token states (`TextEncoder(word_embeddings=True)`); absent: false.
`defaults` are the settings the model was trained for and that fit the machine it targets; the
command line uses them when a flag is not given.

Everything missing or malformed is a one-line `WeightsError` that names the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacetime.errors import WeightsError
from spacetime.modelio import CONFIG_NAME, WEIGHTS_NAME, read_json_object, save_pretrained, write_json_atomic

INDEX_NAME = "model_index.json"
FORMAT = "spacetime"
VERSION = 1
REQUIRED_DEFAULTS = ("width", "height", "fps", "seconds", "steps", "guidance", "sampler")
SAMPLERS = ("euler", "heun", "dpmpp_2m")


def validate_defaults(defaults: dict, source: str = "defaults") -> dict:
    """Check the generation defaults of a model folder; return a copy."""
    if not isinstance(defaults, dict):
        raise WeightsError(f"{source}: 'defaults' must be a JSON object")
    missing = [k for k in REQUIRED_DEFAULTS if k not in defaults]
    if missing:
        raise WeightsError(f"{source}: 'defaults' lacks {missing}; re-export the model with them")
    for key in ("width", "height", "steps"):
        if not isinstance(defaults[key], int) or defaults[key] <= 0:
            raise WeightsError(f"{source}: defaults.{key} must be a positive integer, got {defaults[key]!r}")
    for key in ("fps", "seconds", "guidance"):
        if not isinstance(defaults[key], (int, float)) or defaults[key] < 0 or (key == "fps" and defaults[key] == 0):
            raise WeightsError(f"{source}: defaults.{key} must be a non-negative number, got {defaults[key]!r}")
    if defaults["sampler"] not in SAMPLERS:
        raise WeightsError(f"{source}: defaults.sampler must be one of {SAMPLERS}, got {defaults['sampler']!r}")
    shift = defaults.get("shift")
    if shift is not None and (not isinstance(shift, (int, float)) or shift <= 0):
        raise WeightsError(f"{source}: defaults.shift must be a positive number, got {shift!r}")
    min_sigma = defaults.get("guidance_min_sigma")
    if min_sigma is not None and (not isinstance(min_sigma, (int, float)) or not 0 <= min_sigma <= 1):
        raise WeightsError(f"{source}: defaults.guidance_min_sigma must be a number in [0, 1], got {min_sigma!r}")
    if not isinstance(defaults.get("first_image", False), bool):
        raise WeightsError(f"{source}: defaults.first_image must be true or false, got {defaults['first_image']!r}")
    rho = defaults.get("noise_correlation")
    if rho is not None and (not isinstance(rho, (int, float)) or not 0 <= rho < 1):
        raise WeightsError(f"{source}: defaults.noise_correlation must be a number in [0, 1), got {rho!r}")
    return dict(defaults)


def write_model_folder(
    out_dir: str | Path,
    *,
    vae,
    dit,
    text_encoder: str = "default",
    text_word_embeddings: bool = False,
    defaults: dict,
) -> Path:
    """Write a complete model folder (see the module docstring) and return its path.

    `vae` and `dit` are modules carrying their dataclass config as `.config`.
    Each component is written atomically; the index is written last, so a folder
    without `model_index.json` is an unfinished export.
    """
    out = Path(out_dir)
    defaults = validate_defaults(defaults, source="write_model_folder")
    if not isinstance(text_encoder, str) or not text_encoder:
        raise WeightsError("write_model_folder: text_encoder must be 'default' or a path")
    out.mkdir(parents=True, exist_ok=True)
    save_pretrained(vae, vae.config, out / "vae")
    save_pretrained(dit, dit.config, out / "dit")
    index = {"format": FORMAT, "version": VERSION, "text_encoder": text_encoder, "defaults": defaults}
    if text_word_embeddings:
        index["text_word_embeddings"] = True
    write_json_atomic(out / INDEX_NAME, index)
    return out


def read_model_index(path: str | Path) -> dict:
    """Read and check `PATH/model_index.json`; the component folders are checked too."""
    folder = Path(path)
    if not folder.exists():
        raise WeightsError(f"model folder {folder} does not exist; pass --model with a folder made by `spacetime export`")
    if not folder.is_dir():
        raise WeightsError(f"{folder} is not a folder; pass --model with a folder made by `spacetime export`")
    index_path = folder / INDEX_NAME
    if not index_path.is_file():
        raise WeightsError(f"{index_path} is missing; {folder} is not a spacetime model folder (see `spacetime export`)")
    index = read_json_object(index_path)
    if index.get("format") != FORMAT:
        raise WeightsError(f"{index_path} is not a spacetime model index (format must be {FORMAT!r})")
    if index.get("version") != VERSION:
        raise WeightsError(f"{index_path}: version {index.get('version')!r} is not supported (this build reads {VERSION})")
    index["defaults"] = validate_defaults(index.get("defaults"), source=str(index_path))
    index.setdefault("text_word_embeddings", False)
    if not isinstance(index["text_word_embeddings"], bool):
        raise WeightsError(f"{index_path}: text_word_embeddings must be true or false, "
                           f"got {index['text_word_embeddings']!r}")
    for part in ("vae", "dit"):
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (folder / part / name).is_file():
                raise WeightsError(f"{folder / part / name} is missing; re-export the model")
    index["text_encoder"] = resolve_text_encoder(index.get("text_encoder", "default"), folder)
    return index


def resolve_text_encoder(ref: Any, folder: Path) -> str:
    """'default' stays 'default'; a path is made absolute against the model folder and must exist."""
    if not isinstance(ref, str) or not ref:
        raise WeightsError(f"{folder / INDEX_NAME}: text_encoder must be 'default' or a path")
    if ref == "default":
        return ref
    path = Path(ref)
    if not path.is_absolute():
        path = folder / path
    if not path.is_dir():
        raise WeightsError(f"text encoder folder {path} (named in {folder / INDEX_NAME}) does not exist")
    return str(path)


def read_model_folder(path: str | Path):
    """Load a model folder: returns `(vae, dit, text_encoder_ref, defaults, text_word_embeddings)`.

    `vae` and `dit` are loaded strictly in eval mode on the CPU in float32; the text
    encoder is returned as a reference ("default" or an absolute folder) with its
    `word_embeddings` setting, because loading it is the text module's concern.
    """
    from spacetime.dit import DiT
    from spacetime.vae import VideoVAE

    folder = Path(path)
    index = read_model_index(folder)
    vae = VideoVAE.from_pretrained(folder / "vae")
    dit = DiT.from_pretrained(folder / "dit")
    return vae, dit, index["text_encoder"], index["defaults"], index["text_word_embeddings"]


def write_tiny_model_folder(out_dir: str | Path, *, seed: int = 0, defaults: dict | None = None) -> Path:
    """A complete model folder of tiny random models, for tests (builds in about a second).

    VAE preset "tiny", DiT preset "tiny", and a one-layer random BERT (32 wide) beside the
    bundled MiniLM tokenizer as its text encoder, stored in OUT/text_encoder. The outputs
    are meaningless; the mechanics (shapes, pins, loops, windows, files) are real.
    """
    base = dict(width=64, height=64, fps=8, seconds=2, steps=4, guidance=3.0, sampler="euler")
    return write_random_model_folder(out_dir, vae_preset="tiny", dit_preset="tiny", tiny_text_encoder=True,
                                     seed=seed, defaults={**base, **(defaults or {})})


def write_random_model_folder(
    out_dir: str | Path,
    *,
    vae_preset: str,
    dit_preset: str | None,
    defaults: dict,
    dit_overrides: dict | None = None,
    tiny_text_encoder: bool = False,
    seed: int = 0,
) -> Path:
    """A model folder with random weights of the given sizes (for tests and speed/memory benchmarks).

    dit_preset None means DiTConfig's default fields. tiny_text_encoder: a one-layer random
    BERT (32 wide) with the MiniLM tokenizer in OUT/text_encoder; otherwise the bundled
    all-MiniLM-L6-v2 ("default"), whose cost is then the real one.
    """
    import torch

    from spacetime.dit import DiT, DiTConfig
    from spacetime.vae import VAEConfig, VideoVAE

    out = Path(out_dir)
    torch.manual_seed(seed)
    text_encoder, text_dim = "default", 384
    if tiny_text_encoder:
        from transformers import AutoTokenizer, BertConfig, BertModel

        from spacetime.text import default_encoder_path

        tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()), local_files_only=True)
        bert = BertModel(
            BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=64)
        )
        bert.save_pretrained(str(out / "text_encoder"))
        tokenizer.save_pretrained(str(out / "text_encoder"))
        text_encoder, text_dim = "text_encoder", 32
    vae_config = VAEConfig.preset(vae_preset)
    vae = VideoVAE(vae_config)
    fields = dict(in_channels=vae_config.latent_channels, text_dim=text_dim, **(dit_overrides or {}))
    dit_config = DiTConfig.preset(dit_preset, **fields) if dit_preset else DiTConfig(**fields)
    dit = DiT(dit_config)
    # A fresh DiT is the zero map (adaLN-Zero); perturb its zero-initialised layers so the
    # mechanics under test (known frames, ties, windows) act on a velocity that is not identically 0.
    with torch.no_grad():
        for p in dit.parameters():
            if not p.abs().any():
                p.normal_(0.0, 0.02)
    return write_model_folder(out, vae=vae, dit=dit, text_encoder=text_encoder, defaults=defaults)
