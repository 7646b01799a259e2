"""spacetime: open Sora-style video generation in PyTorch.

Video compression network (`spacetime.vae`), spacetime-patch diffusion transformer
(`spacetime.dit`), rectified flow (`spacetime.flow`), text encoders (`spacetime.text`),
video I/O (`spacetime.video`), the synthetic world (`spacetime.world`) and training
(`spacetime.train`).
"""

__version__ = "0.1.0"


def __getattr__(name):
    # `from spacetime import Pipeline` without importing torch for `spacetime --help`.
    if name == "Pipeline":
        from spacetime.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'spacetime' has no attribute {name!r}")
