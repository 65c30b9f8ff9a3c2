"""When a single-run search (AutoHAS, NES, DHA) saves its checkpoint.

Every ``seconds`` of search, and once more when Ctrl-C or SIGTERM asks it to stop: inside
:func:`checkpoint_clock`, such a signal is held until the running step ends, the checkpoint is
saved, and then the signal acts as it would have (KeyboardInterrupt, or the CLI's ``Terminated``).
So an interrupted search resumes from the step it stopped at instead of losing up to ``seconds``
of work, and a checkpoint is never written from the middle of a step (half-updated weights).
A second signal while one is held acts at once, so a long step can still be cut short.
Outside the main thread, or where a signal's handler is not a Python function, signals are not held.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], object]


class CheckpointClock:
    """Saves through ``save`` when ``seconds`` have passed since the last save, or when a stop is held."""

    def __init__(self, *, seconds: float, save: Callable[[], None]) -> None:
        self.seconds, self.save = seconds, save
        self.last_save = time.monotonic()
        self.previous: dict[int, Handler] = {}  # the handlers this clock stands in for
        self.held: tuple[int, FrameType | None] | None = None

    def hold(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the first signal; a second one acts at once."""
        if self.held is not None:
            self.previous[signum](signum, frame)
        self.held = (signum, frame)

    def tick(self) -> None:
        """Call after each finished step: save when due; after a held signal, save and let it act."""
        if self.held is not None:
            self.stop_if_held()
        elif time.monotonic() - self.last_save > self.seconds:
            self.save()
            self.last_save = time.monotonic()

    def stop_if_held(self) -> None:
        """After a held signal: save, then call the handler it was held from (which raises)."""
        if self.held is None:
            return
        signum, frame = self.held
        self.save()
        self.last_save, self.held = time.monotonic(), None
        self.previous[signum](signum, frame)  # a handler that returns lets the search go on


@contextmanager
def checkpoint_clock(*, seconds: float, save: Callable[[], None]) -> Iterator[CheckpointClock]:
    """A :class:`CheckpointClock` that holds Ctrl-C and SIGTERM within the block (main thread only)."""
    clock = CheckpointClock(seconds=seconds, save=save)
    if threading.current_thread() is threading.main_thread():
        for signum in HELD_SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                clock.previous[signum] = handler
                signal.signal(signum, clock.hold)
    try:
        yield clock
    finally:
        for signum, handler in clock.previous.items():
            signal.signal(signum, handler)
    clock.stop_if_held()  # a signal after the last step (not after an error: that one propagates)
