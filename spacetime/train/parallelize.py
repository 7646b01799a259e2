"""Processes, devices and data parallelism, applied from outside the model code.

`init_distributed` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous variables), so the same entry point runs as one process or as
`torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m spacetime.train CONFIG`.
gloo on CPU, NCCL on GPU. `parallelize` wraps the model in DDP or shards it with FSDP2
(`fully_shard` on each transformer block, then the root; the torchtitan recipe).
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from spacetime.errors import RequestError


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    distributed: bool = False
    strategy: str = "none"  # "none", "ddp" or "fsdp"
    mesh: object = None  # DeviceMesh for FSDP2

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(strategy: str = "auto", backend: str = "auto", device: str = "auto") -> DistEnv:
    """Start the process group when launched by torchrun; pick the device and strategy."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RequestError("parallel.device = 'cuda' but no CUDA GPU is visible; use parallel.device = 'cpu'")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if strategy == "auto":
        strategy = "ddp" if world_size > 1 else "none"
    if world_size == 1:
        # One process: DDP is the identity; FSDP2 on a 1-rank mesh still works and is kept for testing.
        if strategy == "ddp":
            strategy = "none"
    elif strategy == "none":
        raise RequestError(f"parallel.strategy = 'none' with {world_size} processes; use 'ddp' or 'fsdp'")
    env = DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, strategy=strategy)
    if world_size > 1 or strategy == "fsdp":
        if backend == "auto":
            backend = "nccl" if dev.type == "cuda" else "gloo"
        if backend == "nccl" and dev.type != "cuda":
            raise RequestError("parallel.backend = 'nccl' needs GPUs; use 'gloo' on CPU")
        if not dist.is_initialized():
            if "MASTER_ADDR" not in os.environ:  # a single process asked for FSDP: a local one-rank group
                os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
                os.environ.setdefault("MASTER_PORT", str(_free_port()))
            dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=datetime.timedelta(minutes=10))
        env.distributed = True
        if strategy == "fsdp":
            from torch.distributed.device_mesh import init_device_mesh

            env.mesh = init_device_mesh(dev.type, (world_size,))
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        env.mesh = None
        gc.collect()  # drop the sharded model's last references to the group while Python is whole
        dist.destroy_process_group()


def exit_launched_process(code: int) -> None:
    """End a torchrun-launched process now, its files written and closed, skipping interpreter teardown.

    destroy_process_group does not free a gloo group that DTensors or pending work still reference;
    its threads then die during interpreter finalisation: now and then rank 1 of the 2-process FSDP
    test aborted there ("terminate called without an active exception", exit -6) after all its
    work was done, even behind a barrier (pytorch/pytorch#179291 describes the same crash). A no-op
    outside torchrun, so tests and one-process runs end normally."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def parallelize(model: nn.Module, env: DistEnv, compile_blocks: bool = False) -> nn.Module:
    """Return the module to call in training: DDP wrapper, FSDP2-sharded model (in place) or the model.

    compile_blocks: `torch.compile` each transformer block in place first (torchtitan's order:
    compile, then shard). Fusing a block's many small element-wise kernels is what a small model
    on a GPU needs: there a step of the embedded DiT was bound by the host's work per kernel."""
    if compile_blocks:
        if not hasattr(model, "blocks"):
            raise RequestError(f"train.compile compiles transformer blocks, and {type(model).__name__} has none; "
                               "set it to false")
        for block in model.blocks:
            block.compile()
    if env.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [env.device.index] if env.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    if env.strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        # Each block is its own unit (its parameters are gathered just before it runs and freed after);
        # the root gathers what is left (embeddings, heads). Models without `blocks` are one unit.
        for block in getattr(model, "blocks", []):
            fully_shard(block, mesh=env.mesh)
        fully_shard(model, mesh=env.mesh)
        return model
    return model


@contextlib.contextmanager
def gradient_sync(wrapped: nn.Module, env: DistEnv, sync: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
    if env.strategy == "ddp" and not sync:
        with wrapped.no_sync():
            yield
    elif env.strategy == "fsdp":
        wrapped.set_requires_gradient_sync(sync)
        yield
    else:
        yield


def all_reduce_mean(values: list[float], env: DistEnv) -> list[float]:
    """Mean of each value over ranks (for logging: every rank reports the same numbers)."""
    if not env.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=env.device if env.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / env.world_size).tolist()


def all_reduce_max(value: float, env: DistEnv) -> float:
    """The largest of one value over ranks (a decision every rank must take alike)."""
    if not env.distributed:
        return float(value)
    t = torch.tensor([value], dtype=torch.float64, device=env.device if env.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_gather_object(obj, env: DistEnv) -> list:
    if not env.distributed:
        return [obj]
    out = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, env: DistEnv):
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
