"""`python -m spacetime.train CONFIG` and `torchrun --nproc-per-node N -m spacetime.train CONFIG`."""

import argparse
import sys

from spacetime.cli import _print_warning
from spacetime.cli.train import TRAIN_EPILOG, add_train_arguments, run_train
from spacetime.errors import SpacetimeError


def main(argv=None) -> int:
    import warnings

    parser = argparse.ArgumentParser(prog="python -m spacetime.train", description="Train a spacetime model.",
                                     epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    warnings.showwarning = _print_warning
    try:
        return run_train(args)
    except SpacetimeError as e:
        print(f"spacetime: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
