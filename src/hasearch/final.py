"""The final comparison: retrain a configuration on train+validation, score it on test.

Both the found configuration and the baseline go through the same protocol with the same
budget and seed, so the table compares like with like:

1. validation accuracy: train on the training split, score on the validation split (the
   search's own protocol; reused from the search when it already did exactly this);
2. test accuracy: retrain from scratch on training + validation, score on the test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from torch import nn

from hasearch.errors import TrialFailed
from hasearch.problem import Problem
from hasearch.reporting import Reporter
from hasearch.train.cost import count_macs, count_parameters
from hasearch.train.trainer import EpochReport, train_child


@dataclass(frozen=True)
class FinalScore:
    """A configuration's validation and test accuracy after the final retraining."""

    config: Mapping[str, Any]
    val_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    params: int
    macs: int
    budget: float  # epochs or seconds (the run's budget unit)
    retrain_seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config": dict(self.config)}


def score_configuration(
    problem: Problem,
    config: Mapping[str, Any],
    budget: float,
    *,
    label: str,
    reporter: Reporter,
    val_accuracy: float | None = None,
) -> tuple[FinalScore, nn.Module | None]:
    """Validation accuracy (unless given) and test accuracy of ``config`` after ``budget``."""
    probe = problem.build(config)
    params, macs = count_parameters(probe), count_macs(probe, problem.data.input_shape)
    try:
        if val_accuracy is None:
            val_accuracy = _train(problem, config, budget, f"{label}: train -> validation", reporter, probe, test=False)[0]
        model = problem.build(config)
        test_acc, test_loss, seconds = _train(problem, config, budget, f"{label}: train+val -> test", reporter, model, test=True)
    except TrialFailed as exc:
        return FinalScore(dict(config), val_accuracy, None, None, params, macs, budget, 0.0, str(exc)), None
    return FinalScore(dict(config), val_accuracy, test_acc, test_loss, params, macs, budget, seconds), model


def _train(
    problem: Problem, config: Mapping[str, Any], budget: float, title: str, reporter: Reporter, model: nn.Module, *, test: bool
) -> tuple[float, float, float]:
    data = problem.data
    reporter.start(title, title, budget if problem.budget_unit == "epochs" else None)

    def on_epoch(report: EpochReport) -> None:
        reporter.update(title, completed=report.epoch)

    result = train_child(
        model,
        config,
        data,
        replace(problem, max_budget=budget).budget(budget),
        seed=problem.seed,
        train_split=data.train_and_val() if test else data.train,
        eval_split=data.test if test else data.val,
        on_epoch=on_epoch,
    )
    reporter.stop(title)
    return result.val_accuracy, result.val_loss, result.seconds
