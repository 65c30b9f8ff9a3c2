"""The multi-trial loop on a synthetic objective: records, failures, limits, replay."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

import hasearch
from hasearch.errors import RunDirError
from hasearch.evaluate import TrialOutcome
from hasearch.execution.base import TrialTask
from hasearch.loop import Limits, replay, run_trials
from hasearch.reporting import NullReporter
from hasearch.store import TrialDB, TrialStatus
from tests.strategy_contract import toy_space


class FunctionExecutor:
    """Evaluates tasks with a Python function; task ids in ``fail`` raise, in ``nan`` return NaN."""

    def __init__(self, workers: int = 1, fail: set[int] = frozenset(), nan: set[int] = frozenset()) -> None:
        self.workers, self.fail, self.nan = workers, fail, nan
        self.queue: list[TrialTask] = []
        self.seen: list[TrialTask] = []

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def running(self) -> int:
        return len(self.queue)

    def submit(self, task: TrialTask) -> None:
        self.queue.append(task)
        self.seen.append(task)
        if task.checkpoint_to is not None:
            task.checkpoint_to.parent.mkdir(exist_ok=True)
            task.checkpoint_to.write_bytes(b"weights")

    def wait(self) -> list[tuple[TrialTask, TrialOutcome]]:
        task = self.queue.pop(0)
        if task.trial_id in self.fail:
            return [(task, TrialOutcome(math.inf, error="RuntimeError: boom"))]
        loss = math.nan if task.trial_id in self.nan else (math.log10(task.config["lr"]) + 2) ** 2 + 1 / task.budget
        if not math.isfinite(loss):
            return [(task, TrialOutcome(math.inf, error=f"loss is {loss}"))]
        return [(task, TrialOutcome(loss, {"val_accuracy": 1 - loss / 10}, cost=task.budget))]


def _run(db: TrialDB, strategy: hasearch.Strategy, executor: FunctionExecutor, trials: int, **kw: object) -> None:
    run_trials(strategy, executor, db, limits=Limits(max_trials=trials), seed=0, reporter=NullReporter(), **kw)


def test_failures_are_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    db = TrialDB(tmp_path / "t.sqlite")
    strategy = hasearch.Hyperband(toy_space(), min_budget=1, max_budget=9, seed=0)
    _run(db, strategy, FunctionExecutor(fail={1, 4}, nan={2}), 30)
    trials = db.trials()
    assert len(trials) == 30 and [t.trial_id for t in trials] == list(range(30))
    failed = {t.trial_id: t for t in trials if t.status is TrialStatus.FAILED}
    assert set(failed) == {1, 2, 4}
    assert failed[1].error == "RuntimeError: boom" and failed[2].error == "loss is nan"
    assert all(math.isinf(t.loss) for t in failed.values())
    promoted = [t for t in trials if t.parent_id is not None]
    assert promoted and not {t.parent_id for t in promoted} & set(failed)  # failures never promoted


def test_parallel_workers_keep_busy_and_record_everything(tmp_path: Path) -> None:
    db = TrialDB(tmp_path / "t.sqlite")
    executor = FunctionExecutor(workers=3)
    _run(db, hasearch.BOHB(toy_space(), min_budget=1, max_budget=9, seed=0), executor, 40)
    assert len(db.trials()) == 40 and all(t.ok for t in db.trials())


def test_replay_restores_the_strategy_and_returns_unfinished_jobs(tmp_path: Path) -> None:
    db = TrialDB(tmp_path / "t.sqlite")
    make = lambda: hasearch.BOHB(toy_space(), min_budget=1, max_budget=9, seed=3, min_points_in_model=2)
    _run(db, make(), FunctionExecutor(), 25)
    # simulate a kill: two trials started but never finished
    first = make()
    replay(first, db)
    for _ in range(2):
        job = first.ask()
        db.start(job.job_id, job.config, job.budget, info=job.info, parent_id=job.parent_id)
    resumed = make()
    pending = replay(resumed, db)
    assert [j.job_id for j in pending] == [25, 26]
    # the resumed strategy continues exactly like one that was never interrupted
    reference = make()
    ref_db = TrialDB(tmp_path / "ref.sqlite")
    _run(ref_db, reference, FunctionExecutor(), 40)
    _run(db, resumed, FunctionExecutor(), 40, rerun=pending)
    assert [(t.trial_id, dict(t.config), t.budget) for t in db.trials()] == [
        (t.trial_id, dict(t.config), t.budget) for t in ref_db.trials()
    ]


def test_a_resume_with_nothing_left_to_run_drops_checkpoints_no_promotion_can_use(tmp_path: Path) -> None:
    db, checkpoints = TrialDB(tmp_path / "t.sqlite"), tmp_path / "checkpoints"
    make = lambda: hasearch.Hyperband(toy_space(), min_budget=1, max_budget=9, seed=0)
    first = make()
    _run(db, first, FunctionExecutor(), 12, checkpoint_dir=checkpoints)
    kept = {int(p.stem.removeprefix("trial_")) for p in checkpoints.glob("trial_*.pt")}
    assert kept == first.promotable() and len(kept) < 12
    for trial_id in range(12):  # killed after trials finished, before their checkpoints were dropped
        (checkpoints / f"trial_{trial_id}.pt").write_bytes(b"weights")
    resumed = make()
    assert replay(resumed, db) == []
    _run(db, resumed, FunctionExecutor(), 12, checkpoint_dir=checkpoints)
    assert {int(p.stem.removeprefix("trial_")) for p in checkpoints.glob("trial_*.pt")} == kept


def test_replay_refuses_a_different_strategy(tmp_path: Path) -> None:
    db = TrialDB(tmp_path / "t.sqlite")
    _run(db, hasearch.Hyperband(toy_space(), min_budget=1, max_budget=9, seed=0), FunctionExecutor(), 5)
    with pytest.raises(RunDirError, match=r"did not reproduce trial \d"):
        replay(hasearch.Hyperband(toy_space(), min_budget=1, max_budget=9, seed=1), db)


def test_limits() -> None:
    assert not Limits(time_budget=10.0, elapsed_before=10.5).allow(0)  # a resumed run's earlier time counts
    assert Limits(time_budget=10.0, elapsed_before=0.0).allow(0)
    assert not Limits(max_trials=3).allow(3) and Limits(max_trials=3).allow(2)
    assert Limits().allow(10**6)


def test_a_finished_trials_line_moves_a_timed_search_bar() -> None:
    """Pool and Ray workers report no progress of their own: the bar moved only for in-process trials."""
    from hasearch.loop import Limits
    from hasearch.search_progress import SearchProgress, ticking
    from hasearch.settings import SearchSettings

    class Recorder:
        def __init__(self) -> None:
            self.updates: list[tuple[str, float | None]] = []
            self.lines: list[str] = []

        def start(self, key: str, description: str, total: float | None) -> None: ...
        def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
            self.updates.append((key, completed))
        def stop(self, key: str) -> None: ...
        def log(self, text: str) -> None:
            self.lines.append(text)

    recorder = Recorder()
    settings = SearchSettings(space="mbconv", dataset="digits", time_budget=60)
    progress = SearchProgress(recorder, settings, Limits(60, None, elapsed_before=12.0))
    progress.log("trial 3: val acc 0.9 on budget 1 (2.0s)")
    assert recorder.lines == ["trial 3: val acc 0.9 on budget 1 (2.0s)"]
    assert recorder.updates and recorder.updates[-1][0] == "search" and 12.0 <= (recorder.updates[-1][1] or 0) < 60
    recorder.updates.clear()
    with ticking(progress, seconds=0.01):  # and between finished trials, by the clock
        time.sleep(0.2)
    assert len(recorder.updates) >= 3 and {key for key, _ in recorder.updates} == {"search"}


def test_the_announcement_of_a_resumed_search_says_how_much_more_it_searches() -> None:
    from hasearch.catalog import resolve_space
    from hasearch.comparison import announce_retraining
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.problem import Problem
    from hasearch.settings import SearchSettings

    lines: list[str] = []

    class Lines:
        def start(self, key: str, description: str, total: float | None) -> None: ...
        def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None: ...
        def stop(self, key: str) -> None: ...
        def log(self, text: str) -> None:
            lines.append(text)

    problem = Problem(resolve_space("mbconv"), make_splits(resolve_dataset("digits"), seed=0), 1, 0)
    settings = SearchSettings(space="mbconv", dataset="digits", time_budget=92, compare_baseline=False, budget_unit="seconds", max_budget=2, min_budget=1)
    announce_retraining(problem, settings, Lines(), searched_before=62.0)
    assert lines[-1].startswith("30s more of search (92s in all), then the final retraining: up to 2 trainings")  # said "92s of search"
    assert "(the found configuration, on training" in lines[-1] and "--final-budget sets their length" in lines[-1]
