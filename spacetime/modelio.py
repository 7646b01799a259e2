"""Model folders: `config.json` beside `model.safetensors`, loaded strictly.

A component (VAE, DiT) is a `torch.nn.Module` built from one typed dataclass config:
`Model(config)`. Saving writes the config as JSON and the state dict as safetensors,
each through a temporary file and a rename, so an interrupted save never leaves a
half-written file under the final name. Loading is strict: unknown config fields,
missing or unexpected weight keys and shape mismatches are errors that name them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from spacetime.errors import WeightsError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

C = TypeVar("C")
M = TypeVar("M", bound=torch.nn.Module)


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(config_cls: type[C], data: dict, source: str = "config") -> C:
    """Build a dataclass config, refusing fields it does not know (a typo is not ignored)."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise WeightsError(f"{source}: unknown {config_cls.__name__} fields {unknown}; known: {sorted(known)}")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    kwargs = {}
    for name, value in data.items():
        # JSON has no tuples; configs that declare tuple defaults get them back as tuples.
        default = fields[name].default
        if isinstance(value, list) and isinstance(default, tuple):
            value = tuple(value)
        kwargs[name] = value
    return config_cls(**kwargs)


def permit_as_new_file(path: str | Path) -> None:
    """Give `path` the mode any new file gets under the umask (0644 usually).

    safetensors and mkstemp create files 0600, which other users of a shared model or
    output folder could not read.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def save_tensors(tensors: dict, path: str | Path, metadata: dict | None = None) -> None:
    """`safetensors.torch.save_file` with the usual permissions of a new file."""
    save_file(tensors, str(path), metadata=metadata)
    permit_as_new_file(path)


def write_json_atomic(path: Path, data: dict) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def save_pretrained(model: torch.nn.Module, config: Any, folder: str | Path) -> Path:
    """Write `folder/config.json` and `folder/model.safetensors` atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = folder / f".{WEIGHTS_NAME}.tmp-{os.getpid()}"
    save_tensors(state, tmp, metadata={"format": "pt"})
    os.replace(tmp, folder / WEIGHTS_NAME)
    write_json_atomic(folder / CONFIG_NAME, config_to_dict(config))
    return folder


def read_config(config_cls: type[C], folder: str | Path, absent: dict | None = None) -> C:
    """`folder/config.json` as `config_cls`; `absent` gives values for keys the file lacks (folders
    written before a field existed), instead of the field's default for new models."""
    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not folder.is_dir():
        raise WeightsError(f"model folder {folder} does not exist; pass a folder holding {CONFIG_NAME} and {WEIGHTS_NAME}")
    if not path.is_file():
        raise WeightsError(f"{path} is missing; a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    return config_from_dict(config_cls, {**(absent or {}), **read_json_object(path)}, source=str(path))


def read_json_object(path: Path) -> dict:
    """A model folder's JSON file as a dict; a WeightsError naming the file if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{path} is not valid JSON ({e}); re-export the model") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path} must hold a JSON object; re-export the model")
    return data


def read_safetensors(path: str | Path, remedy: str) -> dict:
    """The tensors of a safetensors file; a WeightsError ending in `remedy` if it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing; {remedy}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a readable safetensors file ({e}); {remedy}") from None


def load_state_strict(model: torch.nn.Module, path: str | Path) -> None:
    """Load safetensors into `model`, naming every missing, unexpected or misshapen key."""
    state = read_safetensors(path, remedy="re-export or re-download the model")
    problems = state_problems(model.state_dict(), state)
    if problems:
        raise WeightsError(f"{path} does not match its config: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_pretrained(model_cls: type[M], config_cls: type, folder: str | Path, absent: dict | None = None) -> M:
    """Build `model_cls(config)` from `folder/config.json` and load its weights strictly."""
    config = read_config(config_cls, folder, absent)
    model = model_cls(config)
    load_state_strict(model, Path(folder) / WEIGHTS_NAME)
    return model.eval()


def state_problems(own: dict, state: dict) -> list[str]:
    """Missing, unexpected and wrongly shaped keys of `state` against a model's `own` state dict."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = [f"missing keys {_short(missing)}"] if missing else []
    problems += [f"unexpected keys {_short(unexpected)}"] if unexpected else []
    if misshapen:
        problems.append(
            "shape mismatch " + _short([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in misshapen])
        )
    return problems


def _short(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)} in all)"
