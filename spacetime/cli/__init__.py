"""The `spacetime` command.

Each subcommand lives in its own module under `spacetime.cli` and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
The list below is explicit on purpose: reading it tells you every command there is.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from spacetime.errors import SpacetimeError, SpacetimeWarning


def _subcommand_modules():
    # Imported here so that `spacetime --help` stays fast and a broken optional
    # dependency of one command cannot break the others.
    from spacetime.cli import generate, probe, serve, train, vae, world

    # generate: generate, image, animate, extend, loop, connect, edit, keyframes
    # train: train, cache, export; world: world render|export|eval
    return [generate, probe, vae, world, train, serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spacetime",
        description="Open Sora-style video generation: text to video, image to video, extend, loop, connect, edit.",
    )
    parser.add_argument("--version", action="version", version=f"spacetime {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommand_modules():
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spacetime")
    except PackageNotFoundError:
        return "unknown"


def _print_warning(message, category, filename, lineno, file=None, line=None):
    prefix = "spacetime: warning: " if issubclass(category, SpacetimeWarning) else f"warning ({category.__name__}): "
    print(prefix + str(message).splitlines()[0], file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.showwarning = _print_warning
    try:
        return int(args.func(args) or 0)
    except SpacetimeError as e:
        print(f"spacetime: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `spacetime probe x | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("spacetime: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("spacetime: error: out of memory; try a smaller size, fewer frames or --chunk", file=sys.stderr)
        return 3
    except Exception as e:  # a bug in spacetime, not the user's fault: still one line unless asked
        if os.environ.get("SPACETIME_DEBUG"):
            raise
        print(
            f"spacetime: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
            "(set SPACETIME_DEBUG=1 for the traceback and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
