"""Run a search end to end: validate, search, retrain the best and the baseline, save.

Everything the user gave is checked before the run directory is created, so bad input
never leaves a half-made run behind and never touches an existing one.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hasearch import __version__
from hasearch.analysis import rank_correlation
from hasearch.catalog import SpaceDefinition, definition_for, resolve_space
from hasearch.checks import require_number
from hasearch.comparison import (
    RANK_CORRELATION,
    Found,
    announce_retraining,
    compare_with_baseline,
    incumbent_notes,
    reusable_val_accuracy,
)
from hasearch.cores import sharing_cores, torch_threads
from hasearch.data import DataSplits, make_splits, resolve_dataset
from hasearch.data.augment import cutout_note
from hasearch.device import CPU, Compute, make_deterministic, resolve_compute
from hasearch.errors import RunDirError, RunNotWritable, UserError
from hasearch.execution.base import Executor
from hasearch.execution.inline import InlineExecutor
from hasearch.execution.pool import ProcessPoolTrialExecutor
from hasearch.execution.recipe import ProblemRecipe
from hasearch.loop import ELAPSED, Limits, replay, run_trials
from hasearch.problem import Problem
from hasearch.reporting import NullReporter, Reporter
from hasearch.resumption import (
    check_machine,
    check_machine_for_resume,
    check_resumable,
    record_identity,
)
from hasearch.search_progress import SearchProgress, ticking
from hasearch.settings import SearchSettings
from hasearch.space import Constraint, SearchSpace, load_space, save_space
from hasearch.space.yaml_io import check_space_file_size
from hasearch.store import RunDir, TrialRecord
from hasearch.strategies.base import SearchContext, SingleRunStrategy, Strategy
from hasearch.strategies.registry import StrategyEntry, StrategyOptions, get_strategy
from hasearch.strategies.tunables import check_option_names
from hasearch.supernet import LatencyTable, latency_model, resource_model
from hasearch.supernet.latency import build_table
from hasearch.train.hparams import TrainingHyperparameters

SINGLE_RUN_FINISHED = "single_run_search_finished"  # set when a single-run method returned its result


@dataclass(frozen=True)
class PreparedSearch:
    """A search whose every input was checked and whose data is loaded; nothing written yet."""

    settings: SearchSettings
    out: str
    definition: SpaceDefinition
    entry: StrategyEntry
    data: DataSplits
    compute: Compute = CPU


def prepare_search(settings: SearchSettings, out: str, *, log: Callable[[str], None] | None = None) -> PreparedSearch:
    """Resolve every name in ``settings`` and load the data, writing nothing into ``out``
    (with ``--max-latency``, a missing latency table is measured and cached in the user's
    cache directory; ``log`` hears about it).

    Raises:
        UserError: unknown space/strategy/dataset, malformed space file, missing path, or
            an ``out`` directory that is not empty.
    """
    if not isinstance(settings, SearchSettings):
        raise TypeError(f"settings must be SearchSettings, got {type(settings).__name__}")
    RunDir.check_new(out)
    check_machine(settings)
    definition = resolve_space(settings.space)
    check_space_file_size(definition.space, description=definition.description)
    entry = get_strategy(settings.strategy)
    if settings.strategy_options:  # names first: a typo is one line before any data is read
        check_option_names(settings.strategy_options, entry.load_options_type(), entry.name)
    source = resolve_dataset(settings.dataset)
    prepared = PreparedSearch(settings, out, definition, entry, make_splits(source, seed=settings.split_seed))
    batch_size = definition.space.baseline.get("batch_size", TrainingHyperparameters.batch_size)
    settings.check_budgets(train_size=len(prepared.data.train), batch_size=int(batch_size))
    _check_targets(settings, entry)
    options = _options(settings, definition, prepared.data)
    strategy = entry.make(options)
    if isinstance(strategy, SingleRunStrategy) and settings.max_latency is not None:
        raise UserError(f"--max-latency limits multi-trial strategies; {settings.strategy} takes --max-macs as its target")
    tables = _latency_tables(options.space) + _target_table(settings, definition, prepared.data)
    for table in tables:  # first use on this device: measure the table's grid once (cached)
        if not table.built:
            if log is not None:
                log(f"measuring this device's latency table (once; cached in {table.path.parent})")
            build_table(table, definition.space)
    if options.space.constraints:  # a limit nothing meets: one line now, not a failed search later
        options.space.sample(np.random.default_rng(settings.seed))
        _save_latency_tables(options.space)
    if isinstance(strategy, SingleRunStrategy):
        strategy.check(_problem(definition, prepared.data, settings), settings.time_budget)
    return replace(prepared, compute=compute_for(settings, strategy, log=log))


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
    run.lock()
    _ = run.db  # the trial database exists from the start, so even a run killed at once can be resumed
    run.write_json("settings.json", {**settings.to_dict(), "hasearch_version": __version__})
    problem = _problem(prepared.definition, prepared.data, settings, prepared.compute)
    try:
        save_space(prepared.definition.space, run.file("space.yaml"), description=prepared.definition.description)
        record_identity(run, settings, load_space(run.file("space.yaml")))  # as resume will read it back
        return _search_and_compare(run, problem, settings, prepared.entry, reporter or NullReporter(), resume=False)
    except RunNotWritable:
        raise  # the directory cannot be changed, and SQLite may not read it back after the failed write
    except UserError:
        _remove_if_nothing_done(run)  # so the same --out can be used again
        raise
    finally:
        run.close()


def _remove_if_nothing_done(run: RunDir) -> None:
    """Remove a run that failed on bad input before it recorded any trial or checkpoint."""
    if run.db.trials() or any(run.path.rglob("*.pt")):
        return
    run.close()
    shutil.rmtree(run.path, ignore_errors=True)


def resume_search(out: str, *, more_time: float | None = None, reporter: Reporter | None = None) -> dict[str, Any]:
    """Continue a killed (or finished) run: nothing finished is lost or re-run.

    The strategy's state is restored by replaying the logged asks and tells; trials that
    were running are run again. ``more_time`` extends the search time budget by that many
    seconds from now (default: whatever remained of the original budget).

    Raises:
        UserError: if ``out`` is not a run, or the run cannot be reproduced.
    """
    if more_time is not None:
        require_number("more_time", more_time, "a positive finite number of seconds", lambda v: 0 < v < math.inf, error=UserError)
    settings = check_resumable(out)
    check_machine_for_resume(out, settings)
    run = RunDir.open(out)
    run.lock()
    try:  # every failure below releases the run's lock
        settings = _resumed_settings(run, out, settings, more_time)
        definition = definition_for(load_space(run.file("space.yaml")))
        entry = get_strategy(settings.strategy)
        data = make_splits(resolve_dataset(settings.dataset), seed=settings.split_seed)
        problem = _problem(definition, data, settings, compute_for(settings, entry.make(_options(settings, definition, data))))
        return _search_and_compare(run, problem, settings, entry, reporter or NullReporter(), resume=True)
    finally:
        run.close()


def _resumed_settings(run: RunDir, out: str, settings: SearchSettings, more_time: float | None) -> SearchSettings:
    """The settings of a resumed segment: ``more_time`` seconds from now, if given."""
    if more_time is None:
        return settings
    if run.db.get(SINGLE_RUN_FINISHED):
        raise RunDirError(
            f"the {settings.strategy} search of {out} finished; a single-run search is not extended (its schedules "
            "ended with its budget): resume without --budget to finish the run, or start a new run with a longer --budget"
        )
    return replace(settings, time_budget=float(run.db.get(ELAPSED, 0.0)) + float(more_time))


def _options(settings: SearchSettings, definition: SpaceDefinition, data: DataSplits) -> StrategyOptions:
    return StrategyOptions(
        _limited(settings, definition, data),
        settings.seed,
        settings.min_budget,
        settings.max_budget,
        settings.eta,
        integer_budgets=settings.budget_unit == "epochs",
        checkpoint_seconds=settings.checkpoint_seconds,
        controller_lr=settings.controller_lr,
        max_macs=settings.max_macs,
        target_macs=settings.target_macs,
        target_latency=settings.target_latency,
        tuning=settings.strategy_options,
    )


def _limited(settings: SearchSettings, definition: SpaceDefinition, data: DataSplits) -> SearchSpace:
    """The space under the run's resource limits (``--max-macs``, ``--max-latency``)."""
    limits = []
    if settings.max_macs is not None:
        macs = resource_model(definition.family, data.input_shape, data.num_classes)
        limits.append(Constraint("--max-macs", settings.max_macs, macs.cost, macs.unit))
    if settings.max_latency is not None:  # layers missing from the device's table are measured when first needed
        table = latency_model(definition.family, data.input_shape, data.num_classes)
        limits.append(Constraint("--max-latency", settings.max_latency, table.cost, table.unit, source=table))
    return definition.space.constrained(*limits)


def _check_targets(settings: SearchSettings, entry: StrategyEntry) -> None:
    """Targets are for the strategies that take one; limits for the others."""
    target = "--target-macs" if settings.target_macs is not None else "--target-latency" if settings.target_latency is not None else None
    limit = "--max-macs" if settings.max_macs is not None else "--max-latency" if settings.max_latency is not None else None
    if target and not entry.targets:
        raise UserError(f"{target} is the target of nes and uniform-* strategies; {entry.name} takes --max-macs / --max-latency limits")
    if limit and entry.targets:
        raise UserError(f"{entry.name} meets a target within 5%, not a limit: give --target-macs or --target-latency instead of {limit}")


def _target_table(settings: SearchSettings, definition: SpaceDefinition, data: DataSplits) -> list[LatencyTable]:
    if settings.target_latency is None:
        return []
    return [latency_model(definition.family, data.input_shape, data.num_classes)]


def _latency_tables(space: SearchSpace) -> list[LatencyTable]:
    return [c.source for c in space.constraints if isinstance(c.source, LatencyTable)]


def _save_latency_tables(space: SearchSpace) -> None:
    for table in _latency_tables(space):
        table.save()


def compute_for(settings: SearchSettings, strategy: Strategy | SingleRunStrategy, *, log: Callable[[str], None] | None = None) -> Compute:
    """The run's device and precision on this machine (``--device``, ``--precision``).

    Raises:
        UserError: CUDA asked for where there is none, or for a method that runs on the CPU only.
    """
    compute = resolve_compute(settings.device, settings.precision)
    if compute.is_cuda and not getattr(strategy, "supports_cuda", True):
        if settings.device != "auto":
            raise UserError(f"--strategy {settings.strategy} runs on the CPU only in this version; use --device cpu (or auto)")
        if log is not None:
            log(f"{settings.strategy} runs on the CPU only in this version: training on the CPU")
        return resolve_compute("cpu", settings.precision)
    return compute


def _largest_cutout(space: SearchSpace) -> int:
    values = (space["cutout"].choices or (space["cutout"].high,)) if "cutout" in space else (space.baseline.get("cutout", 0),)
    return max((int(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)), default=0)


def _problem(definition: SpaceDefinition, data: DataSplits, settings: SearchSettings, compute: Compute = CPU) -> Problem:
    return Problem(definition, data, settings.max_budget, settings.seed, settings.budget_unit).on(compute)


def _search_and_compare(
    run: RunDir, problem: Problem, settings: SearchSettings, entry: StrategyEntry, reporter: Reporter, *, resume: bool
) -> dict[str, Any]:
    settings = sharing_cores(settings, reporter.log)
    with torch_threads(settings.threads):  # in-process training: inline trials, single-run search, retraining
        return _search_then_compare(run, problem, settings, entry, reporter, resume=resume)


def _search_then_compare(
    run: RunDir, problem: Problem, settings: SearchSettings, entry: StrategyEntry, reporter: Reporter, *, resume: bool
) -> dict[str, Any]:
    make_deterministic(problem.compute)
    if problem.compute.is_cuda:
        reporter.log(f"training on {problem.compute.describe()}")
    strategy = entry.make(_options(settings, problem.definition, problem.data))
    single_run = isinstance(strategy, SingleRunStrategy)
    searched = single_run and resume and bool(run.db.get(SINGLE_RUN_FINISHED))
    before = float(run.db.get(ELAPSED, 0.0)) if resume else 0.0
    announce_retraining(problem, settings, reporter, returns_network=single_run and strategy.returns_network, searched=searched, searched_before=before)
    if (warning := cutout_note(_largest_cutout(problem.space), problem.data.input_shape[1:])) is not None:
        reporter.log(f"note: {warning}")
    notes: list[str] = []
    network, trained_epochs = None, None
    if isinstance(strategy, Strategy):
        reporter.start("search", f"{entry.name} search", settings.time_budget or settings.max_trials)
        search_seconds = _multi_trial(run, problem, settings, strategy, reporter, resume=resume)
        reporter.stop("search")
        trials = run.db.trials()
        best = best_trial(trials)
        found = dict(best.config) if best else None
        found_val = reusable_val_accuracy(trials, found, settings)
        notes += incumbent_notes(best, settings)
        run.write_json(RANK_CORRELATION, rank_correlation(trials))
    else:
        assert isinstance(strategy, SingleRunStrategy)
        start = time.monotonic()
        # single-run methods report their own phases' progress
        outcome = strategy.run(SearchContext(problem, run, settings.time_budget, reporter, resume=resume))
        run.db.put(SINGLE_RUN_FINISHED, True)  # a resume derives this result again; it does not search on
        found, found_val, best, network, trained_epochs = outcome.config, None, None, outcome.network, outcome.epochs
        notes += outcome.notes
        search_seconds = float(run.db.get(ELAPSED, time.monotonic() - start))  # all segments of a resumed run
    for note in notes:
        reporter.log(f"note: {note}")
    return compare_with_baseline(run, problem, settings, Found(found, found_val, best, notes, network, trained_epochs), search_seconds, reporter)


def _multi_trial(
    run: RunDir, problem: Problem, settings: SearchSettings, strategy: Strategy, reporter: Reporter, *, resume: bool
) -> float:
    """Run (or resume) the trial loop; returns the total search seconds."""
    rerun = replay(strategy, run.db) if resume else []
    limits = Limits(settings.time_budget, settings.max_trials, elapsed_before=float(run.db.get(ELAPSED, 0.0)))
    progress = SearchProgress(reporter, settings, limits)
    executor = make_executor(settings, problem, run, progress)
    try:
        with ticking(progress):  # pool and Ray trials report no progress of their own
            run_trials(
                strategy,
                executor,
                run.db,
                limits=limits,
                seed=settings.seed,
                reporter=progress,
                checkpoint_dir=run.file("checkpoints") if getattr(strategy, "promotes", False) else None,
                rerun=rerun,
            )
    finally:
        executor.shutdown()
        _save_latency_tables(strategy.space)  # layers measured during the search serve later runs
    run.db.put(ELAPSED, limits.elapsed())
    return limits.elapsed()


def make_executor(settings: SearchSettings, problem: Problem, run: RunDir, reporter: Reporter) -> Executor:
    """In-process for one local worker, a process pool for several, or Ray."""
    if settings.executor == "local" and settings.workers == 1:
        return InlineExecutor(problem, reporter)
    recipe = ProblemRecipe(
        space_file=str(run.file("space.yaml").resolve()),
        dataset=settings.dataset,
        split_seed=settings.split_seed,
        max_budget=settings.max_budget,
        seed=settings.seed,
        budget_unit=settings.budget_unit,
        threads=settings.trial_threads,
        compute=problem.compute,
    )
    if settings.executor == "ray":
        from hasearch.execution.ray_executor import RayTrialExecutor

        return RayTrialExecutor(recipe, settings.workers, settings.address, trials_per_gpu=settings.trials_per_gpu)
    return ProcessPoolTrialExecutor(recipe, settings.workers, trials_per_gpu=settings.trials_per_gpu)


def best_trial(trials: list[TrialRecord]) -> TrialRecord | None:
    """The finished trial with the lowest loss on the largest budget any trial finished."""
    ok = [t for t in trials if t.ok]
    if not ok:
        return None
    top = max(t.budget for t in ok)
    return min((t for t in ok if t.budget == top), key=lambda t: (t.loss, t.trial_id))

