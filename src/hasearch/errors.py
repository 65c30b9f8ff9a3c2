"""Errors that carry a message meant for the user.

Anything raised as :class:`UserError` (or a subclass) is reported by the CLI as one
line ``hasearch: error: <message>`` with exit code 2 and no traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: an unknown name, a malformed file, a value out of range."""


class SpaceError(UserError):
    """A search-space definition is invalid; the message names the offending field."""


class DataError(UserError):
    """A data set cannot be found or read."""


class RunDirError(UserError):
    """A run directory cannot be used (it holds another run, or is not a run)."""


class RunNotWritable(RunDirError):
    """A file of the run could not be written (read-only or immutable, disk full)."""


def damaged_file(path: object, exc: BaseException) -> RunDirError:
    """The one-line error for a run file that is readable but damaged or of the wrong shape."""
    return RunDirError(f"{str(path)!r} is damaged or of an unexpected shape ({type(exc).__name__}: {exc})")


class TrialFailed(Exception):
    """A trial raised, returned a non-finite loss or diverged; recorded as failed."""
