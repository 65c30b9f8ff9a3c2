"""The report's figures and tables, computed from a run's trials (matplotlib, Agg).

Each figure function returns a matplotlib Figure or None when the run has nothing to show
(e.g. no finished trial yet); the caller saves and embeds it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hasearch.space import Kind, SearchSpace
from hasearch.store.records import TrialRecord

TOP_MARGINALS = 3


def incumbent_curve(trials: Sequence[TrialRecord]) -> list[tuple[float, float, float]]:
    """(seconds since the first trial started, budget spent so far, best validation accuracy
    so far) at each finished trial, in finishing order (the largest budget seen first counts)."""
    done = sorted((t for t in trials if t.finished_at is not None), key=lambda t: t.finished_at or 0.0)
    if not done:
        return []
    start, spent, best, points = min(t.started_at for t in trials), 0.0, -math.inf, []
    for t in done:
        spent += float(t.cost if t.cost is not None else t.budget)
        if t.ok and t.val_accuracy is not None:
            best = max(best, t.val_accuracy)
        points.append(((t.finished_at or start) - start, spent, best))
    return [p for p in points if math.isfinite(p[2])]


def incumbent_figure(trials: Sequence[TrialRecord], unit: str) -> Figure | None:
    """Best validation accuracy over wall time and over compute; every trial as a point,
    failed trials as red crosses at the bottom."""
    curve = incumbent_curve(trials)
    if not curve:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    start = min(t.started_at for t in trials)
    spent, xs_cost = 0.0, {}
    for t in sorted((t for t in trials if t.finished_at is not None), key=lambda t: t.finished_at or 0.0):
        spent += float(t.cost if t.cost is not None else t.budget)
        xs_cost[t.trial_id] = spent
    floor = min(t.val_accuracy for t in trials if t.ok and t.val_accuracy is not None)
    finished = [t for t in trials if t.finished_at is not None]
    for ax, index, label in ((axes[0], 0, "wall time (s)"), (axes[1], 1, f"compute ({unit} trained)")):
        ax.step([p[index] for p in curve], [p[2] for p in curve], where="post", color="black", label="incumbent")
        x = {t.trial_id: (t.finished_at or start) - start if index == 0 else xs_cost[t.trial_id] for t in finished}
        good = [t for t in finished if t.ok and t.val_accuracy is not None]
        bad = [t for t in finished if not (t.ok and t.val_accuracy is not None)]
        ax.scatter([x[t.trial_id] for t in good], [t.val_accuracy for t in good], s=12, alpha=0.6, color="tab:blue")
        ax.scatter([x[t.trial_id] for t in bad], [floor] * len(bad), marker="x", color="tab:red", s=20)
        ax.set(xlabel=label, ylabel="validation accuracy")
    axes[0].legend(loc="lower right")
    fig.suptitle("incumbent over time and compute (blue: trials, red x: failed)")
    fig.tight_layout()
    return fig


def pareto_front(points: Sequence[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """The (cost, error, id) points no other point beats in both, by increasing cost."""
    front, best_error = [], math.inf
    for cost, error, ident in sorted(points):
        if error < best_error:
            front.append((cost, error, ident))
            best_error = error
    return front


def pareto_points(trials: Sequence[TrialRecord]) -> list[tuple[float, float, int]]:
    """(MACs, validation error, trial id) of every finished trial on the largest budget it reached."""
    largest = max((t.budget for t in trials if t.ok), default=None)
    return [
        (float(t.metrics["macs"]), float(t.loss), t.trial_id)
        for t in trials
        if t.ok and t.budget == largest and t.loss is not None and "macs" in t.metrics
    ]


def pareto_figure(points: Sequence[tuple[float, float, int]]) -> Figure | None:
    if not points:
        return None
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, alpha=0.6, label="trials")
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:red", marker="o", label="Pareto front")
    ax.set(xlabel="MACs per image", ylabel="validation error", xscale="log")
    ax.legend()
    ax.set_title("validation error vs MACs (largest budget)")
    fig.tight_layout()
    return fig


def importance(trials: Sequence[TrialRecord], space: SearchSpace) -> dict[str, float] | None:
    """fANOVA importance (optuna.importance) of the parameters every finished trial on the
    largest budget has; None without optuna or with fewer than 8 such trials."""
    try:
        import optuna
    except ImportError:
        return None
    largest = max((t.budget for t in trials if t.ok), default=None)
    done = [t for t in trials if t.ok and t.budget == largest and t.loss is not None]
    names = [p.name for p in space.params if all(p.name in t.config for t in done)]
    if len(done) < 8 or not names:
        return None
    distributions = {n: _distribution(optuna, space[n]) for n in names}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    for t in done:
        params = {n: t.config[n] for n in names}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=float(t.loss)))
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=0)  # optuna: 64; half the time, same ranking in the test
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def _distribution(optuna: Any, p: Any) -> Any:
    if p.kind is Kind.FLOAT:
        return optuna.distributions.FloatDistribution(float(p.low), float(p.high), log=p.log)
    if p.kind is Kind.INT:
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
    return optuna.distributions.CategoricalDistribution(list(p.choices))


def importance_figure(scores: dict[str, float], trials: Sequence[TrialRecord]) -> Figure:
    """Importance bars and the marginal effect (validation error against the value) of the
    top parameters."""
    top = list(scores)[:TOP_MARGINALS]
    fig, axes = plt.subplots(1, 1 + len(top), figsize=(4 + 3.2 * len(top), 3.6), squeeze=False)
    names = list(scores)[:12][::-1]
    axes[0][0].barh(names, [scores[n] for n in names])
    axes[0][0].set_title("fANOVA importance")
    largest = max(t.budget for t in trials if t.ok)
    for ax, name in zip(axes[0][1:], top, strict=True):
        pairs = [(t.config[name], float(t.loss)) for t in trials if t.ok and t.budget == largest and name in t.config and t.loss is not None]
        values = [v for v, _ in pairs]
        xs = values if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) else [str(v) for v in values]
        ax.scatter(xs, [e for _, e in pairs], s=12, alpha=0.6)
        ax.set(title=f"marginal: {name}", ylabel="validation error")
    fig.tight_layout()
    return fig
