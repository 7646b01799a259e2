"""A toy task for checking the training machinery itself (model.kind = "toy", data.source = "toy").

A small residual MLP regresses a fixed random function. The *global* batch of micro-batch
i is drawn from (seed, i) and each rank takes its slice, so N processes with batch b see
exactly what one process with batch N * b sees: the check that DDP and FSDP2 reproduce the
single-process loss curve, and a fast subject for the kill-and-resume tests and the
throughput benchmark. It is not a model of anything.
"""

from __future__ import annotations

import torch
from torch import nn

from spacetime.train.config import TrainConfig


class ToyBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(x))))  # (B, D)


class ToyModel(nn.Module):
    def __init__(self, dim: int = 32, depth: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(ToyBlock(dim) for _ in range(depth))
        self.head = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)  # (B, D)
        return self.head(x)  # (B, D)


class ToySource:
    """Micro-batch i: rows [rank * b, (rank + 1) * b) of the global batch drawn from (seed, i)."""

    def __init__(self, seed: int, batch_size: int, rank: int, world_size: int, dim: int = 32):
        self.seed, self.batch_size, self.rank, self.world_size, self.dim = seed, batch_size, rank, world_size, dim
        g = torch.Generator().manual_seed(seed + 12345)
        self.target = torch.randn(dim, dim, generator=g) / dim**0.5  # the function to learn: tanh(x @ A)

    def batch(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        x = torch.randn(self.batch_size * self.world_size, self.dim, generator=g)
        rows = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        x = x[rows]
        return {"x": x, "y": torch.tanh(x @ self.target)}

    def position(self, index: int) -> dict:
        return {"micro_batches": index}


class ToyTask:
    kind = "toy"

    def __init__(self, config: TrainConfig, device: torch.device):
        self.device = device
        dim = int(config.model.overrides.get("dim", 32))
        self.model = ToyModel(dim=dim, depth=int(config.model.overrides.get("depth", 2)))

    def set_activation_checkpointing(self, enabled: bool) -> None:
        pass

    def loss(self, model: nn.Module, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        x, y = batch["x"].to(self.device), batch["y"].to(self.device)
        loss = (model(x).float() - y).pow(2).mean()
        flops = 6 * sum(p.numel() for p in model.parameters()) * x.shape[0]  # an MLP: 2 forward + 4 backward per weight
        return loss, {"loss": float(loss.detach()), "samples": x.shape[0], "tokens": x.shape[0], "flops": flops}

    def sample(self, model, path, generator, write: bool = True):
        return None
