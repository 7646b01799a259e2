"""`spacetime serve` (placeholder until its module lands)."""


def register(subparsers) -> None:
    pass
