"""Run a search end to end: validate, search, retrain the best and the baseline, save.

Everything the user gave is checked before the run directory is created, so bad input
never leaves a half-made run behind and never touches an existing one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hasearch import __version__
from hasearch.artifacts import save_final_model
from hasearch.catalog import SpaceDefinition, resolve_space
from hasearch.data import DataSplits, make_splits, resolve_dataset
from hasearch.execution.inline import InlineExecutor
from hasearch.final import score_configuration
from hasearch.loop import Limits, run_trials
from hasearch.problem import Problem
from hasearch.reporting import NullReporter, Reporter
from hasearch.settings import SearchSettings
from hasearch.space import save_space
from hasearch.store import RunDir, TrialRecord, TrialStatus
from hasearch.strategies.base import SearchContext, SingleRunStrategy, Strategy
from hasearch.strategies.registry import StrategyEntry, StrategyOptions, get_strategy

BEST = "best.json"


@dataclass(frozen=True)
class PreparedSearch:
    """A search whose every input was checked and whose data is loaded; nothing written yet."""

    settings: SearchSettings
    out: str
    definition: SpaceDefinition
    entry: StrategyEntry
    data: DataSplits


def prepare_search(settings: SearchSettings, out: str) -> PreparedSearch:
    """Resolve every name in ``settings`` and load the data, writing nothing.

    Raises:
        UserError: unknown space/strategy/dataset, malformed space file, missing path, or
            an ``out`` directory that is not empty.
    """
    RunDir.check_new(out)
    definition = resolve_space(settings.space)
    entry = get_strategy(settings.strategy)
    source = resolve_dataset(settings.dataset)
    return PreparedSearch(settings, out, definition, entry, make_splits(source, seed=settings.split_seed))


def run_search(settings: SearchSettings, out: str, *, reporter: Reporter | None = None) -> dict[str, Any]:
    """Search, then compare the found configuration with the baseline; returns ``best.json``.

    Raises:
        UserError: as :func:`prepare_search`; nothing is written in that case.
    """
    return execute_search(prepare_search(settings, out), reporter=reporter)


def execute_search(prepared: PreparedSearch, *, reporter: Reporter | None = None) -> dict[str, Any]:
    """Create the run directory and run a prepared search."""
    settings = prepared.settings
    run = RunDir.create(prepared.out)
    run.write_json("settings.json", {**settings.to_dict(), "hasearch_version": __version__})
    save_space(prepared.definition.space, run.file("space.yaml"), description=prepared.definition.description)
    problem = Problem(prepared.definition, prepared.data, settings.max_epochs, settings.seed)
    try:
        return _search_and_compare(run, problem, settings, prepared.entry, reporter or NullReporter())
    finally:
        run.close()


def _search_and_compare(
    run: RunDir, problem: Problem, settings: SearchSettings, entry: StrategyEntry, reporter: Reporter
) -> dict[str, Any]:
    strategy = entry.make(
        StrategyOptions(problem.space, settings.seed, settings.min_epochs, settings.max_epochs, settings.eta)
    )
    start = time.monotonic()
    reporter.start("search", f"{entry.name} search", settings.time_budget or settings.max_trials)
    if isinstance(strategy, Strategy):
        _multi_trial(run, problem, settings, strategy, reporter, start)
        best = best_trial(run.db.trials())
        found = dict(best.config) if best else None
        found_val = best.val_accuracy if best and best.budget == settings.retrain_epochs else None
    else:
        assert isinstance(strategy, SingleRunStrategy)
        found = strategy.run(SearchContext(problem, run, settings.time_budget, reporter))
        found_val, best = None, None
    reporter.stop("search")
    search_seconds = time.monotonic() - start
    return _compare(run, problem, settings, found, found_val, best, search_seconds, reporter)


def _multi_trial(
    run: RunDir, problem: Problem, settings: SearchSettings, strategy: Strategy, reporter: Reporter, start: float
) -> None:
    executor = InlineExecutor(problem, _SearchProgress(reporter, settings, start))
    run_trials(
        strategy,
        executor,
        run.db,
        limits=Limits.from_budget(settings.time_budget, settings.max_trials),
        seed=settings.seed,
        reporter=reporter,
        checkpoint_dir=run.file("checkpoints") if getattr(strategy, "promotes", False) else None,
    )


def best_trial(trials: list[TrialRecord]) -> TrialRecord | None:
    """The finished trial with the lowest loss on the largest budget any trial finished."""
    ok = [t for t in trials if t.ok]
    if not ok:
        return None
    top = max(t.budget for t in ok)
    return min((t for t in ok if t.budget == top), key=lambda t: (t.loss, t.trial_id))


def _compare(
    run: RunDir,
    problem: Problem,
    settings: SearchSettings,
    found: dict[str, Any] | None,
    found_val: float | None,
    best: TrialRecord | None,
    search_seconds: float,
    reporter: Reporter,
) -> dict[str, Any]:
    epochs = settings.retrain_epochs
    baseline, _ = score_configuration(problem, problem.space.baseline, epochs, label="baseline", reporter=reporter)
    summary: dict[str, Any] = {
        "strategy": settings.strategy,
        "space": problem.space.name,
        "dataset": settings.dataset,
        "seed": settings.seed,
        "search_seconds": search_seconds,
        "trials": _count(run),
        "best_trial": best.trial_id if best else None,
        "final_epochs": epochs,
        "baseline": baseline.to_dict(),
        "found": None,
    }
    if found is not None:
        score, model = score_configuration(
            problem, found, epochs, label="found", reporter=reporter, val_accuracy=found_val
        )
        summary["found"] = score.to_dict()
        if model is not None:
            save_final_model(run, model, found, problem.data)
    run.write_json(BEST, summary)
    return summary


def _count(run: RunDir) -> dict[str, int]:
    trials = run.db.trials()
    return {s.value: sum(t.status is s for t in trials) for s in (TrialStatus.FINISHED, TrialStatus.FAILED)}


class _SearchProgress:
    """Forwards trial progress and advances the search bar by time or trial count."""

    def __init__(self, reporter: Reporter, settings: SearchSettings, start: float) -> None:
        self.reporter, self.settings, self.begin = reporter, settings, start
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

    def _advance(self) -> None:
        if self.settings.time_budget is not None:
            elapsed = min(time.monotonic() - self.begin, self.settings.time_budget)
            self.reporter.update("search", completed=elapsed, description=f"search ({self.trials} trials)")
        else:
            self.reporter.update("search", completed=self.trials)

