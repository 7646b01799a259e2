"""User-facing errors.

Every error a user can cause (a bad file, an impossible size, a missing weight folder)
is raised as a `SpacetimeError` whose message is one line saying what is wrong and what
to do. The command-line entry point prints that line and exits non-zero; anything else
escaping is a bug in spacetime.
"""


class SpacetimeError(Exception):
    """Base class of every error caused by user input; its message is one line."""


class VideoReadError(SpacetimeError):
    """A file could not be read as a video or image (names the file and the reason)."""


class VideoWriteError(SpacetimeError):
    """A video could not be written (names the path and the reason)."""


class WeightsError(SpacetimeError):
    """A model folder is missing, incomplete or does not match its config."""


class RequestError(SpacetimeError):
    """A generation or training request that cannot be honoured (size, length, pins, ...)."""


class SpacetimeWarning(UserWarning):
    """Something was done differently from what was asked (frames dropped, prompt truncated, ...).

    Raised through `warnings.warn`, so library users can filter it; the command line
    prints each as one line on stderr.
    """
