"""Progress bars with rich (to stderr, so stdout keeps the result tables).

When stderr is not a terminal (nohup, a cluster job, CI) rich draws no bars, so a
heartbeat writes one line per running task every ``HASEARCH_PROGRESS_SECONDS`` seconds
(default 30): what it is, how far, time elapsed and estimated time left.
"""

from __future__ import annotations

import math
import os
import threading
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hasearch.errors import UserError


def heartbeat_from_environment() -> float:
    """Seconds between heartbeat lines: ``HASEARCH_PROGRESS_SECONDS`` (default 30).

    Raises:
        UserError: unless it is a finite number >= 0.1 (0 or less would write lines without pause).
    """
    text = os.environ.get("HASEARCH_PROGRESS_SECONDS", "30")
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0.1 <= seconds < math.inf:
        raise UserError(f"HASEARCH_PROGRESS_SECONDS={text!r} must be a number of seconds >= 0.1")
    return seconds


class RichReporter:
    """A :class:`hasearch.reporting.Reporter` that draws one bar per running task."""

    def __init__(self, console: Console | None = None, *, heartbeat_seconds: float | None = None) -> None:
        self.console = console or Console(stderr=True)
        interval = heartbeat_seconds or heartbeat_from_environment()
        self._stopped = threading.Event()
        self._started = False
        self._heartbeat = None
        if not self.console.is_terminal:
            self._heartbeat = threading.Thread(target=self._beat, args=(interval,), name="hasearch-progress", daemon=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        return self  # the display starts with the first task, so an early error prints one line only

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stopped.set()
        if self._started:
            self.progress.stop()

    def _start_display(self) -> None:
        if not self._started:
            self._started = True
            self.progress.start()
            if self._heartbeat is not None:
                self._heartbeat.start()

    def _beat(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            for task in self.progress.tasks:  # a copy, taken under rich's lock
                if not task.finished:
                    self.log(_status_line(task))

    def start(self, key: str, description: str, total: float | None) -> None:
        self._start_display()
        self.tasks[key] = self.progress.add_task(description, total=total)

    def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
        task = self.tasks.get(key)
        if task is not None:
            self.progress.update(task, completed=completed, description=description)

    def stop(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)

    def log(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=False)


def _status_line(task: Task) -> str:
    """``description: 3/9 (33%), 1m20s elapsed, ~2m40s left`` (parts that are unknown are left out)."""
    parts = [f"progress: {task.description}"]
    if task.total:
        parts.append(f": {task.completed:.4g}/{task.total:.4g} ({100 * task.completed / task.total:.0f}%)")
    elapsed = task.elapsed or 0.0
    parts.append(f", {_clock(elapsed)} elapsed")
    if task.total and task.completed > 0:
        left = elapsed * (task.total - task.completed) / task.completed
        parts.append(f", ~{_clock(left)} left")
    return "".join(parts)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
