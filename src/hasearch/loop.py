"""The multi-trial search loop: ask the strategy, run tasks, record, tell.

The strategy decides what to try; the executor decides where it runs; the loop keeps
every worker busy within the limits and writes each trial to the run's SQLite file the
moment it starts and ends, so a killed run loses only the trials that were running.
Resuming replays the logged asks and tells into a fresh strategy with the same seed
(:func:`replay`), which restores its state exactly, then runs the unfinished trials again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from hasearch.errors import RunDirError
from hasearch.evaluate import TrialOutcome
from hasearch.execution.base import Executor, TrialTask
from hasearch.reporting import Reporter
from hasearch.space.search_space import plain_values
from hasearch.store.db import TrialDB, json_default
from hasearch.store.records import TrialRecord
from hasearch.strategies.base import Job, Strategy

ELAPSED = "search_seconds"


@dataclass(frozen=True)
class Limits:
    """When to stop starting trials: search time and/or a trial count.

    ``elapsed_before`` is search time spent by earlier segments of a resumed run.
    """

    time_budget: float | None = None
    max_trials: int | None = None
    elapsed_before: float = 0.0
    started_at: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started_at

    def allow(self, started: int) -> bool:
        if self.max_trials is not None and started >= self.max_trials:
            return False
        return self.time_budget is None or self.elapsed() < self.time_budget


def run_trials(
    strategy: Strategy,
    executor: Executor,
    db: TrialDB,
    *,
    limits: Limits,
    seed: int,
    reporter: Reporter,
    checkpoint_dir: Path | None = None,
    rerun: list[Job] | None = None,
) -> None:
    """Run the search until the limits or the strategy end it; running trials finish.

    Args:
        rerun: Jobs that were running when the run was killed (from :func:`replay`); they
            run again first, under their own ids.
    """
    jobs: dict[int, Job] = {}
    for job in rerun or []:
        db.restart(job.job_id)
        jobs[job.job_id] = job
        executor.submit(_task(job, seed, checkpoint_dir))
    started = len(db.trials())
    try:
        _loop(strategy, executor, db, jobs, started, limits=limits, seed=seed, reporter=reporter, checkpoint_dir=checkpoint_dir)
    finally:
        if checkpoint_dir is not None:  # e.g. a resume that had nothing left to run
            _drop_checkpoints(checkpoint_dir, keep=_needed(strategy, jobs))


def _loop(
    strategy: Strategy,
    executor: Executor,
    db: TrialDB,
    jobs: dict[int, Job],
    started: int,
    *,
    limits: Limits,
    seed: int,
    reporter: Reporter,
    checkpoint_dir: Path | None,
) -> None:
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
            db.put(ELAPSED, limits.elapsed())
            reporter.log(_describe(job, outcome))
        if checkpoint_dir is not None:
            _drop_checkpoints(checkpoint_dir, keep=_needed(strategy, jobs))


def _needed(strategy: Strategy, running: dict[int, Job]) -> set[int]:
    """Trials whose checkpoints a promotion or a running trial may still read."""
    parents = {job.parent_id for job in running.values() if job.parent_id is not None}
    return strategy.promotable() | set(running) | parents


def replay(strategy: Strategy, db: TrialDB) -> list[Job]:
    """Feed a fresh strategy the run's logged asks and tells; return the jobs never told.

    Raises:
        RunDirError: if the strategy does not reproduce a logged trial (different seed,
            space or code version).
    """
    trials = {t.trial_id: t for t in db.trials()}
    open_jobs: dict[int, Job] = {}
    for kind, trial_id in db.events():
        if kind == "ask":
            job = strategy.ask()
            _check_same(job, trials.get(trial_id), trial_id)
            assert job is not None
            open_jobs[trial_id] = job
        else:
            loss = trials[trial_id].loss
            strategy.tell(open_jobs.pop(trial_id), float("inf") if loss is None else loss)
    return list(open_jobs.values())


def _check_same(job: Job | None, record: TrialRecord | None, trial_id: int) -> None:
    same = (
        job is not None
        and record is not None
        and job.job_id == trial_id
        and job.budget == record.budget
        and _canonical(dict(job.config)) == _canonical(dict(record.config))
    )
    if not same:
        raise RunDirError(f"cannot resume: the strategy did not reproduce trial {trial_id} (changed seed, space or version?)")


def _canonical(config: dict) -> str:
    return json.dumps(json.loads(json.dumps(config, default=json_default)), sort_keys=True)


def _task(job: Job, seed: int, checkpoint_dir: Path | None) -> TrialTask:
    """All trials share the search seed: a configuration trains the same way whenever it
    runs, which makes promotion from a checkpoint equal to training from scratch."""
    resume = checkpoint_dir / f"trial_{job.parent_id}.pt" if checkpoint_dir and job.parent_id is not None else None
    save = checkpoint_dir / f"trial_{job.job_id}.pt" if checkpoint_dir else None
    return TrialTask(job.job_id, plain_values(job.config), job.budget, seed, resume, save)


def _drop_checkpoints(directory: Path, keep: set[int]) -> None:
    """Delete checkpoints no future promotion can use (keeps disk use bounded)."""
    for path in directory.glob("trial_*.pt"):
        trial_id = path.stem.removeprefix("trial_")
        if trial_id.isdigit() and int(trial_id) not in keep:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # e.g. the run directory became read-only: the error that ends the run says so
                pass


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
