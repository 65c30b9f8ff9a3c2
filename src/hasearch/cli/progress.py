"""Progress bars with rich (to stderr, so stdout keeps the result tables)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichReporter:
    """A :class:`hasearch.reporting.Reporter` that draws one bar per running task."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
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
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def start(self, key: str, description: str, total: float | None) -> None:
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
