"""Training: config, loop, checkpoints, parallelism (DDP / FSDP2), export. See docs/training.md."""

from spacetime.train.config import TrainConfig, load_config
from spacetime.train.loop import train

__all__ = ["TrainConfig", "load_config", "train"]
