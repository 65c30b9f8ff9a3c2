"""Ctrl-C and SIGTERM during a command: one line that says how to go on, and the exit status.

``kill PID`` (SIGTERM) stops a search the way Ctrl-C does: the same clean-up runs (the pool's
workers are killed, the run's lock is released), and the line names the run to resume.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread (a KeyboardInterrupt, so every clean-up of Ctrl-C runs)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def resumable(out: str) -> Iterator[None]:
    """An interruption within the block notes how to continue the run in ``out``."""
    try:
        yield
    except KeyboardInterrupt as stop:
        stop.add_note(
            f"continue the run with: hasearch resume {shlex.quote(out)} "
            "(finished trials are kept; a one-run search goes on from its last checkpoint)"
        )
        raise


def report_stop(stop: KeyboardInterrupt) -> int:
    """Print the one line for an interrupted command; return its exit status (128 + the signal)."""
    terminated = isinstance(stop, Terminated)
    notes = "; ".join(getattr(stop, "__notes__", ()))
    print(f"hasearch: {'terminated' if terminated else 'interrupted'}" + (f": {notes}" if notes else ""), file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
