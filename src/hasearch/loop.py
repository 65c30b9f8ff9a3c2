"""The multi-trial search loop: ask the strategy, run tasks, record, tell.

The strategy decides what to try; the executor decides where it runs; the loop keeps
every worker busy within the limits and writes each trial to the run's SQLite file the
moment it starts and ends, so a killed run loses only the trials that were running.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hasearch.evaluate import TrialOutcome
from hasearch.execution.base import Executor, TrialTask
from hasearch.reporting import Reporter
from hasearch.store.db import TrialDB
from hasearch.strategies.base import Job, Strategy


@dataclass(frozen=True)
class Limits:
    """When to stop starting trials: a wall-clock deadline and/or a trial count."""

    deadline: float | None = None  # time.monotonic() value
    max_trials: int | None = None

    @classmethod
    def from_budget(cls, seconds: float | None, max_trials: int | None) -> Limits:
        return cls(None if seconds is None else time.monotonic() + seconds, max_trials)

    def allow(self, started: int) -> bool:
        if self.max_trials is not None and started >= self.max_trials:
            return False
        return self.deadline is None or time.monotonic() < self.deadline


def run_trials(
    strategy: Strategy,
    executor: Executor,
    db: TrialDB,
    *,
    limits: Limits,
    seed: int,
    reporter: Reporter,
    checkpoint_dir: Path | None = None,
) -> None:
    """Run the search until the limits or the strategy end it; running trials finish."""
    started = len(db.trials())
    jobs: dict[int, Job] = {}
    while True:
        while executor.running < executor.capacity and limits.allow(started) and not strategy.finished:
            job = strategy.ask()
            if job is None:
                break
            jobs[job.job_id] = job
            db.start(job.job_id, job.config, job.budget, info=job.info, parent_id=job.parent_id)
            executor.submit(_task(job, seed, checkpoint_dir))
            started += 1
        if executor.running == 0:
            return
        for task, outcome in executor.wait():
            job = jobs.pop(task.trial_id)
            _record(db, job, outcome)
            strategy.tell(job, outcome.loss)
            reporter.log(_describe(job, outcome))


def _task(job: Job, seed: int, checkpoint_dir: Path | None) -> TrialTask:
    """All trials share the search seed: a configuration trains the same way whenever it
    runs, which makes promotion from a checkpoint equal to training from scratch."""
    resume = checkpoint_dir / f"trial_{job.parent_id}.pt" if checkpoint_dir and job.parent_id is not None else None
    save = checkpoint_dir / f"trial_{job.job_id}.pt" if checkpoint_dir else None
    return TrialTask(job.job_id, dict(job.config), job.budget, seed, resume, save)


def _record(db: TrialDB, job: Job, outcome: TrialOutcome) -> None:
    if outcome.failed:
        db.fail(job.job_id, outcome.error or "failed", outcome.metrics, seconds=outcome.seconds, cost=outcome.cost)
    else:
        db.finish(job.job_id, outcome.loss, outcome.metrics, seconds=outcome.seconds, cost=outcome.cost)


def _describe(job: Job, outcome: TrialOutcome) -> str:
    if outcome.failed:
        return f"trial {job.job_id}: failed on budget {job.budget:g}: {outcome.error}"
    acc = outcome.metrics.get("val_accuracy", float("nan"))
    return f"trial {job.job_id}: val acc {acc:.4f} on budget {job.budget:g} ({outcome.seconds:.1f}s)"
