"""The search bar of a multi-trial search: by time (a time budget) or by trials."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hasearch.loop import Limits
from hasearch.reporting import Reporter
from hasearch.settings import SearchSettings


class SearchProgress:
    """Forwards trial progress and advances the search bar by time or trial count."""

    def __init__(self, reporter: Reporter, settings: SearchSettings, limits: Limits) -> None:
        self.reporter, self.settings, self.limits = reporter, settings, limits
        self.trials = 0

    def start(self, key: str, description: str, total: float | None) -> None:
        self.reporter.start(key, description, total)

    def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
        self.reporter.update(key, completed=completed, description=description)
        self._advance()

    def stop(self, key: str) -> None:
        self.reporter.stop(key)
        self.trials += 1
        self._advance()

    def log(self, text: str) -> None:
        self.reporter.log(text)
        self.tick()

    def tick(self) -> None:
        """Move a timed search bar to the time searched so far."""
        if self.settings.time_budget is not None:
            self.reporter.update("search", completed=min(self.limits.elapsed(), self.settings.time_budget))

    def _advance(self) -> None:
        if self.settings.time_budget is not None:
            elapsed = min(self.limits.elapsed(), self.settings.time_budget)
            self.reporter.update("search", completed=elapsed, description=f"search ({self.trials} trials)")
        else:
            self.reporter.update("search", completed=self.trials)


@contextmanager
def ticking(progress: SearchProgress, seconds: float = 1.0) -> Iterator[None]:
    """Within the block, :meth:`SearchProgress.tick` every ``seconds`` from a thread: trials in
    a process pool or on Ray report no progress of their own, and without it a timed search
    bar stood still between finished trials (the heartbeat said "0/60 (0%)" during the first
    long trials)."""
    if progress.settings.time_budget is None:
        yield
        return
    stop = threading.Event()

    def clock() -> None:
        while not stop.wait(seconds):
            progress.tick()

    thread = threading.Thread(target=clock, name="hasearch-search-clock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
