"""Progress reporting seam: the search reports tasks; the CLI draws them with rich."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Receives progress of long steps (search, trials, retraining)."""

    def start(self, key: str, description: str, total: float | None) -> None:
        """A task with ``total`` units of work (``None``: unknown) begins."""

    def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
        """Progress of task ``key``. A timed multi-trial search also updates its ``"search"``
        task once a second from a clock thread (:mod:`hasearch.search_progress`), so this
        method must be safe to call from another thread."""

    def stop(self, key: str) -> None:
        """Task ``key`` is done."""

    def log(self, text: str) -> None:
        """A line worth showing above the progress bars."""


class NullReporter:
    """Reports nothing (library use and tests)."""

    def start(self, key: str, description: str, total: float | None) -> None:
        pass

    def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
        pass

    def stop(self, key: str) -> None:
        pass

    def log(self, text: str) -> None:
        pass
