"""Exponential moving average of the trained weights (the weights that are exported).

shadow <- decay * shadow + (1 - decay) * param after each optimizer step, with the decay
warmed up as min(decay, (1 + n) / (10 + n)) so early shadows are not stuck near the random
initialisation (the schedule of Tarvainen & Valpola 2017 / timm's ModelEmaV2 warm-up).

Works on plain parameters and on FSDP2-sharded (DTensor) ones: the shadow holds the local
shard in fp32, and `full_state_dict()` gathers full tensors (a collective: every rank calls it).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if isinstance(t, DTensor) else t


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.updates = 0
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.shadow = [_local(p).detach().float().clone() for _, p in self._params(model)]

    def _params(self, model: nn.Module):
        params = dict(model.named_parameters())
        return [(name, params[name]) for name in self.names]

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        weight = 1.0 - self.current_decay()
        for shadow, (_, p) in zip(self.shadow, self._params(model)):
            shadow.lerp_(_local(p).detach().float(), weight)
        self.updates += 1

    @torch.no_grad()
    def full_state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """{parameter name: full fp32 CPU tensor}; gathers shards (call on every rank)."""
        out = {}
        for shadow, (name, p) in zip(self.shadow, self._params(model)):
            if isinstance(p, DTensor):
                shadow = DTensor.from_local(shadow, p.device_mesh, p.placements, shape=p.shape, stride=p.stride())
                shadow = shadow.full_tensor()
            out[name] = shadow.detach().cpu().contiguous()
        return out

    @torch.no_grad()
    def load_full_state_dict(self, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
        missing = [n for n in self.names if n not in state]
        if missing:
            raise KeyError(f"EMA state lacks {missing[:4]} ({len(missing)} in all)")
        for shadow, (name, p) in zip(self.shadow, self._params(model)):
            full = state[name].to(device=shadow.device, dtype=torch.float32)
            if isinstance(p, DTensor):  # every rank holds the full tensor: take the local shard, no communication
                full = distribute_tensor(full, p.device_mesh, p.placements, src_data_rank=None).to_local()
            shadow.copy_(full)

    def copy_to(self, model: nn.Module) -> None:
        """Write the shadow into `model`'s parameters (for export and samples)."""
        with torch.no_grad():
            for shadow, (_, p) in zip(self.shadow, self._params(model)):
                _local(p).copy_(shadow.to(p.dtype))
