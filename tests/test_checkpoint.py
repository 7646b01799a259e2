"""Checkpoints: atomic folders, keep-K, corruption fall-back, exact resume (in process and after SIGKILL)."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spacetime.errors import SpacetimeWarning
from spacetime.train.checkpoint import CheckpointManager, flatten_optimizer_state, unflatten_optimizer_state
from spacetime.train.config import load_config
from spacetime.train.loop import train

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def toy_config(run_dir, *extra):
    return load_config(None, [f'run.dir="{run_dir}"', "model.kind=toy", "data.source=toy", "data.batch_size=4",
                              "train.lr=1e-2", "train.warmup_steps=2", "train.ema_decay=0.9", "train.peak_flops=1e9",
                              *extra])


def tensors(path: Path) -> dict:
    out = {}
    for name in ("model", "ema", "optimizer"):
        out.update({f"{name}/{k}": v for k, v in load_file(str(path / f"{name}.safetensors")).items()})
    return out


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ: {different[:5]}"


def test_folder_layout_keep_last_and_checksums(tmp_path):
    train(toy_config(tmp_path, "train.steps=5", "train.checkpoint_every=1", "train.keep_checkpoints=2"), progress=False)
    manager = CheckpointManager(tmp_path / "checkpoints")
    assert [s for s, _ in manager.steps()] == [4, 5]
    state = manager.verify(tmp_path / "checkpoints" / "step_000005")
    assert state["step"] == 5 and state["data"] == {"micro_batches": 5}
    assert set(state["files"]) == {"model.safetensors", "ema.safetensors", "optimizer.safetensors", "rng.safetensors"}
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert {"loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "mfu"} <= set(records[0])


def test_weights_are_readable_like_any_new_file(tmp_path):
    """safetensors writes 0600 by itself: a shared model or run folder must follow the umask."""
    from dataclasses import dataclass

    from spacetime.modelio import save_pretrained

    @dataclass
    class Config:
        width: int = 2

    old = os.umask(0o022)
    try:
        train(toy_config(tmp_path / "run", "train.steps=1", "train.checkpoint_every=1"), progress=False)
        save_pretrained(torch.nn.Linear(2, 2), Config(), tmp_path / "export")
    finally:
        os.umask(old)
    files = [*(tmp_path / "run" / "checkpoints").rglob("*.safetensors"), tmp_path / "export" / "model.safetensors"]
    assert len(files) == 5
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {oct(0o644)}


def test_optimizer_state_flattening_round_trip():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    osd = get_optimizer_state_dict(model, opt)
    tensors_, meta = flatten_optimizer_state(osd)
    back = unflatten_optimizer_state(tensors_, json.loads(json.dumps(meta)))
    assert back["param_groups"] == osd["param_groups"]
    for name, entries in osd["state"].items():
        for key, value in entries.items():
            assert torch.equal(back["state"][name][key], value)


def test_corrupt_or_unfinished_checkpoint_falls_back_with_warning(tmp_path):
    train(toy_config(tmp_path, "train.steps=4", "train.checkpoint_every=2"), progress=False)
    ckpts = tmp_path / "checkpoints"
    newest = ckpts / "step_000004" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:-10])  # truncated by a crash or a full disk
    (ckpts / "step_000006").mkdir()  # a folder without state.json
    manager = CheckpointManager(ckpts)
    with pytest.warns(SpacetimeWarning) as record:
        path, state = manager.latest_valid()
    assert path.name == "step_000002" and state["step"] == 2
    messages = " ".join(str(w.message) for w in record)
    assert "step_000006" in messages and "checksum" in messages
    # --resume continues from step 2 and ends with a valid step 4
    with pytest.warns(SpacetimeWarning):
        train(toy_config(tmp_path, "train.steps=4", "train.checkpoint_every=2"), resume=True, progress=False)
    assert manager.verify(ckpts / "step_000004")["step"] == 4


def test_fresh_run_refuses_a_folder_with_checkpoints(tmp_path):
    train(toy_config(tmp_path, "train.steps=1"), progress=False)
    with pytest.raises(Exception, match="--resume"):
        train(toy_config(tmp_path, "train.steps=2"), progress=False)


def test_resume_in_process_is_bitwise_identical(tmp_path):
    extra = ("train.steps=6", "train.checkpoint_every=3", "train.grad_accum=2", "run.deterministic=true")
    train(toy_config(tmp_path / "a", *extra), progress=False)
    train(toy_config(tmp_path / "b", *extra), progress=False, stop_after=4)  # stops after a checkpoint at 3
    train(toy_config(tmp_path / "b", *extra), resume=True, progress=False)
    assert_same(tensors(tmp_path / "a/checkpoints/step_000006"), tensors(tmp_path / "b/checkpoints/step_000006"))


def _launch(run_dir: Path, nproc: int, steps: int, resume: bool = False) -> subprocess.Popen:
    args = ["-m", "spacetime.train", str(ROOT / "configs" / "toy.toml"), "--no-progress", "--set",
            f'run.dir="{run_dir}"', f"train.steps={steps}", "train.checkpoint_every=2", "train.keep_checkpoints=2",
            "run.deterministic=true", f"data.batch_size={8 // nproc}", "train.peak_flops=1e9"]
    if nproc > 1:
        args = ["-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-port", str(_port())] + args
        args[args.index("--set") + 1:args.index("--set") + 1] = ["parallel.strategy=ddp"]
    if resume:
        args.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-2000:]


def kill_and_resume(tmp_path: Path, nproc: int, steps: int = 30) -> None:
    reference = _launch(tmp_path / "reference", nproc, steps)
    killed = _launch(tmp_path / "killed", nproc, steps)
    kill_at = random.Random().randint(3, steps - 4)  # a random moment: after some logged step, mid-step
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 90
    while time.time() < deadline and killed.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= kill_at:
            break
        time.sleep(0.01)
    assert killed.poll() is None, "the run ended before it could be killed"
    time.sleep(random.uniform(0, 0.02))
    os.killpg(killed.pid, signal.SIGKILL)  # the whole process group: torchrun and its workers
    killed.wait()
    _finish(reference)
    resumed = _launch(tmp_path / "killed", nproc, steps, resume=True)
    _finish(resumed)
    final = f"checkpoints/step_{steps:06d}"
    assert_same(tensors(tmp_path / "reference" / final), tensors(tmp_path / "killed" / final))
    logged = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert logged == list(range(1, steps + 1)), "metrics.jsonl repeats or misses steps after the resume"


def test_sigkill_and_resume_one_process(tmp_path):
    kill_and_resume(tmp_path, nproc=1)


@pytest.mark.slow
def test_sigkill_and_resume_two_processes(tmp_path):
    kill_and_resume(tmp_path, nproc=2)


def test_resume_from_a_named_checkpoint_and_a_bad_one_is_an_error(tmp_path):
    from spacetime.train.checkpoint import CheckpointError

    train(toy_config(tmp_path, "train.steps=4", "train.checkpoint_every=2"), progress=False)
    with pytest.raises(CheckpointError, match="missing does not exist"):
        train(toy_config(tmp_path, "train.steps=6"), resume=str(tmp_path / "checkpoints/missing"), progress=False)
    (tmp_path / "checkpoints/step_000009").mkdir()  # a folder a killed writer left
    with pytest.raises(CheckpointError, match="no state.json"):
        train(toy_config(tmp_path, "train.steps=6"), resume=str(tmp_path / "checkpoints/step_000009"), progress=False)
    shutil.rmtree(tmp_path / "checkpoints/step_000009")
    train(toy_config(tmp_path, "train.steps=6", "train.keep_checkpoints=5"), progress=False,
          resume=str(tmp_path / "checkpoints/step_000002"))
    records = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records == [1, 2, 3, 4, 5, 6]
