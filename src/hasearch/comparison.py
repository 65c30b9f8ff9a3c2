"""The end of a search: compare what it found with the baseline and write ``best.json``.

:func:`compare_with_baseline` retrains the found configuration and the baseline under the
protocol of :mod:`hasearch.final`, keeps the better on validation accuracy as the run's
result, saves its model, and writes the summary. Training already done under exactly that
protocol (a multi-trial search's trial of the same configuration) is reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hasearch.artifacts import save_final_model
from hasearch.final import (
    BASELINE,
    FinalScore,
    choose_result,
    estimate_training_seconds,
    score_configuration,
    score_trained,
    verdict,
)
from hasearch.problem import Problem
from hasearch.reporting import NullReporter, Reporter
from hasearch.settings import SearchSettings
from hasearch.store import RunDir, TrialRecord, TrialStatus

BEST = "best.json"
RANK_CORRELATION = "rank_correlation.json"


@dataclass(frozen=True)
class Found:
    """What the search hands to the final comparison."""

    config: dict[str, Any] | None
    val_accuracy: float | None  # reusable validation accuracy from the search, if any
    trial: TrialRecord | None
    notes: list[str]
    network: torch.nn.Module | None = None  # a single-run method's trained network (no retraining)
    epochs: float | None = None  # the epochs that network trained for (the baseline then trains as long)


def reusable_val_accuracy(trials: list[TrialRecord], config: dict[str, Any] | None, settings: SearchSettings) -> float | None:
    """The validation accuracy a finished trial of ``config`` already measured under exactly
    the final protocol (same seed, training split, and a full schedule of the final budget)."""
    if config is None or settings.retrain_budget != settings.max_budget:
        return None
    same = [t for t in trials if t.ok and t.budget == settings.max_budget and dict(t.config) == config]
    return same[0].val_accuracy if same else None


def incumbent_notes(best: TrialRecord | None, settings: SearchSettings) -> list[str]:
    if best is None:
        return ["no trial finished: there is no found configuration"]
    if best.budget < settings.max_budget:
        unit = settings.budget_unit
        return [
            (
                f"no trial finished at the largest budget ({settings.max_budget:g} {unit}); the incumbent "
                f"(trial {best.trial_id}) was chosen on its validation accuracy after {best.budget:g} {unit}"
            )
        ]
    return []


def announce_retraining(
    problem: Problem, settings: SearchSettings, reporter: Reporter, *, returns_network: bool = False, searched: bool = False,
    searched_before: float = 0.0,
) -> None:  # fmt: skip
    """Say, before the search starts, how long the final retraining will take (none where
    the method's trained network is the result); ``searched``: a resumed single-run search
    that had finished (it is not searched again); ``searched_before``: seconds a resumed run
    had already searched (its time budget counts them)."""
    if isinstance(reporter, NullReporter):
        return  # nobody would read it: spare the timing steps
    search = _search_length(settings, searched, searched_before)
    if returns_network:
        then = "; then the baseline is trained standalone as long, to compare" if settings.compare_baseline else ""
        reporter.log(f"{search}; its trained network is the result (no retraining){then}")
        return
    budget, unit = settings.retrain_budget, settings.budget_unit
    trainings = 4 if settings.compare_baseline else 2
    if unit == "seconds":
        seconds, how = trainings * budget, "--final-budget sets their length"
    else:
        seconds = trainings * estimate_training_seconds(problem, problem.space.baseline, budget)
        how = "estimated from the baseline's step time; --final-epochs sets their length"
    which = "found and baseline" if settings.compare_baseline else "the found configuration"
    reporter.log(
        f"{search}, then the final retraining: up to {trainings} trainings of {budget:g} {unit} "
        f"({which}, on training and on training + validation), about {_duration(seconds)} ({how})"
    )


def _search_length(settings: SearchSettings, searched: bool, searched_before: float) -> str:
    if searched:
        return "the search finished before"
    if not settings.time_budget:
        return f"{settings.max_trials} trials"
    if searched_before > 0:
        more = max(0.0, settings.time_budget - searched_before)
        return f"{more:.0f}s more of search ({settings.time_budget:.0f}s in all)"
    return f"{settings.time_budget:.0f}s of search"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"



def compare_with_baseline(
    run: RunDir, problem: Problem, settings: SearchSettings, found: Found, search_seconds: float, reporter: Reporter
) -> dict[str, Any]:
    budget, best = _final_budget(problem, settings, found), found.trial
    base_config = dict(problem.space.baseline)
    baseline = base_model = None
    if settings.compare_baseline:
        base_val = reusable_val_accuracy(run.db.trials(), base_config, settings)
        baseline, base_model = score_configuration(
            problem, base_config, budget, label="baseline", reporter=reporter, val_accuracy=base_val
        )
    score, model = _score_found(problem, found, baseline, base_model, budget, reporter)
    limit, limit_notes = limit_report(settings, baseline, score)
    over = limit is not None and not limit["baseline_meets"]  # a baseline over the limit cannot be the result
    result = choose_result(baseline, score, keep_found=settings.keep_found or over)
    chosen = (base_config, base_model) if result == BASELINE else (found.config, model)
    if chosen[0] is not None and chosen[1] is not None:
        save_final_model(run, chosen[1], chosen[0], problem.data)
    message = verdict(baseline, score, result, kept_because="the baseline is over the resource limit" if over else "--keep-found")
    summary: dict[str, Any] = {
        "strategy": settings.strategy,
        "space": problem.space.name,
        "dataset": settings.dataset,
        "seed": settings.seed,
        "search_seconds": search_seconds,
        "trials": _count(run),
        "best_trial": best.trial_id if best else None,
        "final_budget": budget,
        "budget_unit": settings.budget_unit,
        "baseline": baseline.to_dict() if baseline else None,
        "found": score.to_dict() if score else None,
        "result": result,  # whose model final/model.pt holds: "found" or "baseline"
        "notes": found.notes + limit_notes + ([message] if message else []),
        "limits": limit,
    }
    if best is not None:
        summary["rank_correlation"] = run.read_json(RANK_CORRELATION)
    if message:
        reporter.log(message)
    run.write_json(BEST, summary)
    return summary


def _final_budget(problem: Problem, settings: SearchSettings, found: Found) -> float:
    """The final budget; a one-stage network's own epochs, so the baseline trains as long."""
    if found.network is not None and found.epochs is not None and problem.budget_unit == "epochs":
        return round(max(found.epochs, 0.01), 2)
    return settings.retrain_budget


def _score_found(
    problem: Problem, found: Found, baseline: FinalScore | None, base_model: torch.nn.Module | None, budget: float, reporter: Reporter
) -> tuple[FinalScore | None, torch.nn.Module | None]:
    """Retrain the found configuration, unless the method handed over a trained network or
    it is the baseline already scored."""
    if found.config is None:
        return None, None
    if found.network is not None:  # a one-stage method's trained network is the result as it is
        return score_trained(problem, found.network, found.config, budget), found.network
    if baseline is not None and dict(found.config) == dict(baseline.config):
        return baseline, base_model  # same configuration, seed and budget: same result, no retraining
    return score_configuration(problem, found.config, budget, label="found", reporter=reporter, val_accuracy=found.val_accuracy)


def _count(run: RunDir) -> dict[str, int]:
    trials = run.db.trials()
    return {s.value: sum(t.status is s for t in trials) for s in (TrialStatus.FINISHED, TrialStatus.FAILED)}


# option, key in best.json, SearchSettings attribute, FinalScore attribute, unit
_LIMITS = (("--max-macs", "max_macs", "max_macs", "macs", "MACs"), ("--max-latency", "max_latency_ms", "max_latency", "latency_ms", "ms"))


def limit_report(settings: SearchSettings, baseline: FinalScore | None, found: FinalScore | None) -> tuple[dict[str, Any] | None, list[str]]:
    """Whether the found model and the baseline meet the run's resource limits (MACs as
    counted; latency as measured after the final training), and notes saying where not."""
    limits = [(name, key, getattr(settings, field), attr, unit) for name, key, field, attr, unit in _LIMITS if getattr(settings, field) is not None]
    if not limits:
        return None, []
    report: dict[str, Any] = {key: value for _, key, value, _, _ in limits}
    notes = []
    for label, score in (("found", found), ("baseline", baseline)):
        over = [(name, _measure(score, attr), value, unit) for name, _, value, attr, unit in limits if not _measure(score, attr) <= value]
        report[f"{label}_meets"] = (score is None and label == "baseline") or (score is not None and not over)
        notes += [f"the {label} model has {amount:,.6g} {unit}, over {name} {value:,.6g}" for name, amount, value, unit in over]
    if baseline is not None and not report["baseline_meets"]:
        notes.append("a baseline over the limit is not a possible result")
    return report, notes


def _measure(score: FinalScore | None, attr: str) -> float:
    """``score``'s MACs or latency (NaN when there is no score or no measurement: never meets a limit)."""
    value = None if score is None else getattr(score, attr)
    return float("nan") if value is None else float(value)
