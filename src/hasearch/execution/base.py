"""Where trials run: the executor seam between the search loop and the trainer.

The loop hands an executor :class:`TrialTask` objects (plain, picklable data) and gets
back ``(task, TrialOutcome)`` pairs; the same task gives the same record whichever
executor ran it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hasearch.evaluate import TrialOutcome, evaluate_config
from hasearch.problem import Problem
from hasearch.train.trainer import EpochCallback


@dataclass(frozen=True)
class TrialTask:
    """One evaluation to run: configuration, budget, seed and checkpoint paths."""

    trial_id: int
    config: Mapping[str, Any]
    budget: float
    seed: int
    resume_from: Path | None = None
    checkpoint_to: Path | None = None


def run_task(problem: Problem, task: TrialTask, on_epoch: EpochCallback | None = None) -> TrialOutcome:
    """Evaluate ``task`` on ``problem`` (the body of every executor's worker)."""
    return evaluate_config(
        problem,
        task.config,
        task.budget,
        seed=task.seed,
        on_epoch=on_epoch,
        resume_from=task.resume_from,
        checkpoint_to=task.checkpoint_to,
    )


class Executor(Protocol):
    """Runs trial tasks, possibly in parallel."""

    @property
    def capacity(self) -> int:
        """How many tasks may run at once."""

    @property
    def running(self) -> int:
        """How many submitted tasks have not been collected yet."""

    def submit(self, task: TrialTask) -> None:
        """Start ``task``."""

    def wait(self) -> list[tuple[TrialTask, TrialOutcome]]:
        """Block until at least one task ends; return every ended task."""

    def shutdown(self) -> None:
        """Stop workers (running tasks are abandoned)."""
