"""Run trials one at a time in this process (the default executor)."""

from __future__ import annotations

from hasearch.evaluate import TrialOutcome
from hasearch.execution.base import TrialTask, run_task
from hasearch.problem import Problem
from hasearch.reporting import NullReporter, Reporter


class InlineExecutor:
    """Evaluates each submitted task in the calling process when :meth:`wait` is called."""

    def __init__(self, problem: Problem, reporter: Reporter | None = None) -> None:
        self.problem = problem
        self.reporter = reporter or NullReporter()
        self._queue: list[TrialTask] = []

    @property
    def capacity(self) -> int:
        return 1

    @property
    def running(self) -> int:
        return len(self._queue)

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)

    def wait(self) -> list[tuple[TrialTask, TrialOutcome]]:
        done = []
        while self._queue:
            task = self._queue.pop(0)
            key = f"trial-{task.trial_id}"
            self.reporter.start(key, f"trial {task.trial_id} ({task.budget:g} epochs)", task.budget)

            def on_epoch(report, key=key):  # type: ignore[no-untyped-def]
                self.reporter.update(key, completed=report.epoch)

            done.append((task, run_task(self.problem, task, on_epoch)))
            self.reporter.stop(key)
        return done

    def shutdown(self) -> None:
        self._queue.clear()
