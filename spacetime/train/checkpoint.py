"""Checkpoints that survive a kill: atomic folders, checksums, fall-back to the previous one.

A checkpoint is a folder `checkpoints/step_000100/`:

    model.safetensors       the trained weights (full tensors, FSDP shards gathered)
    ema.safetensors         the EMA weights (what `spacetime export` writes)
    optimizer.safetensors   AdamW state flattened to "<param name>::<key>" tensors
    rng.safetensors         each rank's torch RNG states ("rank0.cpu", "rank0.cuda", ...)
    state.json              step, data position, optimizer param groups, world size, and the
                            sha256 of every file above (written last)

Rank 0 writes everything into `.tmp-step_000100/`, fsyncs, then renames the folder: a
folder under a final name is always complete. Loading verifies the checksums and, when a
checkpoint is corrupt or truncated, warns and uses the one before it. The last `keep`
checkpoints are kept. No pickle: every tensor is safetensors, every other value JSON.
The data position is what the trainer gives: this project's data sources are indexed
by micro-batch number, so the counter alone restores the stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from spacetime.errors import SpacetimeError, SpacetimeWarning
from spacetime.modelio import save_tensors
from spacetime.train.ema import EMA
from spacetime.train.parallelize import DistEnv, all_gather_object, barrier, broadcast_object

STEP_PATTERN = re.compile(r"^step_(\d{6,})$")
FILES = ("model.safetensors", "ema.safetensors", "optimizer.safetensors", "rng.safetensors")
SEP = "::"


class CheckpointError(SpacetimeError):
    """No usable checkpoint where one was asked for."""


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _options(env: DistEnv, loading: bool = False) -> StateDictOptions:
    # FSDP2 shards are gathered to full tensors; DDP / single-process tensors are already full.
    if env.strategy == "fsdp":
        return StateDictOptions(full_state_dict=True, cpu_offload=not loading)
    return StateDictOptions(cpu_offload=not loading)


def flatten_optimizer_state(osd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """{"state": {name: {key: value}}, "param_groups": [...]} -> (tensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for name, entries in osd.get("state", {}).items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}{SEP}{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{name}{SEP}{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in osd.get("param_groups", [])]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[str, dict] = {}
    for flat, value in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        name, _, key = flat.rpartition(SEP)
        state.setdefault(name, {})[key] = value
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


class CheckpointManager:
    """Save, list, verify and load the checkpoints of one run folder."""

    def __init__(self, folder: str | Path, keep: int = 3):
        self.folder = Path(folder)
        self.keep = int(keep)

    def steps(self) -> list[tuple[int, Path]]:
        """(step, folder) of every finished checkpoint, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for p in self.folder.iterdir():
            m = STEP_PATTERN.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
        return sorted(found)

    # ---- saving ----------------------------------------------------------------------------------

    def save(self, step: int, *, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None,
             env: DistEnv, data_position: dict, extra: dict | None = None) -> Path:
        """Write checkpoint `step` (every rank calls this; rank 0 writes). Returns its folder."""
        options = _options(env)
        model_state = get_model_state_dict(model, options=options)  # collective under FSDP
        optim_state = get_optimizer_state_dict(model, optimizer, options=options)
        ema_state = ema.full_state_dict(model) if ema is not None else {}
        rng = {"cpu": torch.get_rng_state()}
        if env.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(env.device)
        rngs = all_gather_object(rng, env)
        final = self.folder / step_dir_name(step)
        if env.is_main:
            self._write(final, step, model_state, optim_state, ema_state, rngs, env, data_position, extra or {})
        barrier(env)
        return final

    def _write(self, final, step, model_state, optim_state, ema_state, rngs, env, data_position, extra):
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".tmp-{final.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        optim_tensors, optim_meta = flatten_optimizer_state(optim_state)
        rng_tensors = {f"rank{r}.{k}": v for r, states in enumerate(rngs) for k, v in states.items()}
        contents = {
            "model.safetensors": {k: v.detach().cpu().contiguous() for k, v in model_state.items()},
            "ema.safetensors": ema_state,
            "optimizer.safetensors": optim_tensors,
            "rng.safetensors": rng_tensors,
        }
        checksums = {}
        for name, tensors in contents.items():
            path = tmp / name
            save_tensors(tensors, path)
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
            checksums[name] = _sha256(path)
        state = {"step": step, "world_size": env.world_size, "strategy": env.strategy, "data": data_position,
                 "optimizer": optim_meta, "files": checksums, **extra}
        with open(tmp / "state.json", "w") as f:
            json.dump(state, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # a re-save of the same step (a resumed run ending where the last one did)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(self.folder)
        self._prune()

    def _prune(self) -> None:
        done = self.steps()
        for _, path in done[: max(0, len(done) - self.keep)]:
            shutil.rmtree(path, ignore_errors=True)
        for p in self.folder.glob(".tmp-step_*"):  # left by a killed writer
            shutil.rmtree(p, ignore_errors=True)

    # ---- loading ---------------------------------------------------------------------------------

    @staticmethod
    def verify(path: Path) -> dict:
        """state.json of a complete, uncorrupted checkpoint; raises CheckpointError saying what is wrong."""
        if not path.is_dir():
            raise CheckpointError(f"{path} does not exist; a run's checkpoints are its checkpoints/step_N folders")
        state_path = path / "state.json"
        if not state_path.is_file():
            raise CheckpointError(f"{path} has no state.json (unfinished write)")
        try:
            state = json.loads(state_path.read_text())
            files = state["files"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{state_path} is unreadable ({type(e).__name__})") from None
        for name in FILES:
            file = path / name
            if not file.is_file():
                raise CheckpointError(f"{file} is missing")
            if _sha256(file) != files.get(name):
                raise CheckpointError(f"{file} does not match its checksum (corrupt or truncated)")
        return state

    def latest_valid(self, env: DistEnv | None = None) -> tuple[Path, dict] | None:
        """The newest checkpoint that verifies; warns about every newer one that does not."""
        result = None
        if env is None or env.is_main:
            for step, path in reversed(self.steps()):
                try:
                    result = (str(path), self.verify(path))
                    break
                except CheckpointError as e:
                    warnings.warn(f"checkpoint {path.name} is unusable: {e}; trying the previous one", SpacetimeWarning)
        if env is not None:
            result = broadcast_object(result, env)  # every rank loads the same one rank 0 verified
        return None if result is None else (Path(result[0]), result[1])

    def load(self, path: Path, state: dict, *, model: nn.Module, optimizer: torch.optim.Optimizer,
             ema: EMA | None, env: DistEnv) -> dict:
        """Load a verified checkpoint into model / optimizer / EMA and restore this rank's RNG."""
        options = _options(env, loading=True)
        model_state = load_file(str(path / "model.safetensors"), device="cpu")
        set_model_state_dict(model, model_state, options=options)
        osd = unflatten_optimizer_state(load_file(str(path / "optimizer.safetensors")), state["optimizer"])
        set_optimizer_state_dict(model, optimizer, osd, options=options)
        if ema is not None:
            ema.load_full_state_dict(model, load_file(str(path / "ema.safetensors")))
            ema.updates = int(state.get("ema_updates", state["step"]))
        rng = load_file(str(path / "rng.safetensors"))
        if state.get("world_size") == env.world_size and f"rank{env.rank}.cpu" in rng:
            torch.set_rng_state(rng[f"rank{env.rank}.cpu"])
            if env.device.type == "cuda" and f"rank{env.rank}.cuda" in rng:
                torch.cuda.set_rng_state(rng[f"rank{env.rank}.cuda"], env.device)
        elif env.is_main:
            warnings.warn(f"{path.name} was written by {state.get('world_size')} processes, this run has "
                          f"{env.world_size}: RNG states are not restored (the data stream is)", SpacetimeWarning)
        return state

    def resume(self, *, model, optimizer, ema, env, path: str | Path | None = None) -> dict | None:
        """Load `path` (a step folder) or the newest valid checkpoint; None when there is none."""
        if path is not None:
            path = Path(path)
            checked = None
            if env.is_main:
                try:
                    checked = self.verify(path)
                except CheckpointError as e:
                    checked = str(e)
            checked = broadcast_object(checked, env)  # every rank raises together rather than waiting forever
            if isinstance(checked, str):
                raise CheckpointError(f"--resume {path}: {checked}")
            found = (path, checked)
        else:
            found = self.latest_valid(env)
        if found is None:
            return None
        return self.load(found[0], found[1], model=model, optimizer=optimizer, ema=ema, env=env)
