"""BOHB vs Hyperband vs random search vs Optuna (TPE + HyperbandPruner) on a real joint
architecture + hyperparameter space: ``resnet-joint`` (seed 002 Table 3) on ``mnist5k``.

Every method gets the same search wall time per seed, budgets of 1..9 epochs (eta 3),
then its best configuration (best validation accuracy at 9 epochs) is retrained on
train+validation and tested with the shared final protocol (hasearch.final). The baseline
is scored once per seed the same way. Also reported: Spearman rank correlation of
validation errors across budgets (seed 002 Table 1) from the Hyperband/BOHB trials.

    .venv/bin/python benchmarks/joint_search.py --minutes 6 --seeds 0 1 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from hasearch.analysis import rank_correlation
from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.final import score_configuration
from hasearch.problem import Problem
from hasearch.reporting import NullReporter
from hasearch.search import run_search
from hasearch.settings import SearchSettings
from hasearch.space import Kind, SearchSpace
from hasearch.store import RunDir
from hasearch.train.trainer import EpochReport, train_child

SPACE, DATASET, MIN_B, MAX_B, ETA = "resnet-joint", "mnist5k", 1.0, 9.0, 3


def hasearch_method(strategy: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{strategy}-{seed}"
    settings = SearchSettings(
        space=SPACE, dataset=DATASET, strategy=strategy, seed=seed, time_budget=seconds,
        max_budget=MAX_B, min_budget=MIN_B, eta=ETA, compare_baseline=False,
    )
    best = run_search(settings, str(out))
    run = RunDir.open(out)
    trials = run.db.trials()
    run.close()
    found = best["found"] or {}
    return {
        "val_accuracy": found.get("val_accuracy"),
        "test_accuracy": found.get("test_accuracy"),
        "trials": len(trials),
        "full_budget": sum(t.budget == MAX_B and t.ok for t in trials),
        "epochs_trained": sum(t.cost or 0.0 for t in trials),
        "rank_correlation": rank_correlation(trials),
    }


def _suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Define-by-run translation of a hasearch space (parents are listed before children)."""
    values: dict[str, Any] = {}
    for p in space.params:
        if not space.is_active(p.name, values):
            continue
        if p.kind is Kind.FLOAT:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif p.kind is Kind.INT:
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return values


def optuna_method(problem: Problem, seed: int, seconds: float) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=int(MIN_B), max_resource=int(MAX_B), reduction_factor=ETA),
    )
    start, trials, epochs = time.monotonic(), 0, 0.0
    best: tuple[float, dict[str, Any]] | None = None
    while time.monotonic() - start < seconds:
        trial = study.ask()
        config = problem.space.complete(_suggest(trial, problem.space))
        trials += 1

        def report(r: EpochReport, trial: Any = trial) -> None:
            trial.report(1.0 - r.val_accuracy, round(r.epoch))
            if trial.should_prune():
                raise optuna.TrialPruned()

        model = problem.build(config)
        try:
            result = train_child(model, config, problem.data, problem.budget(MAX_B), seed=problem.seed, on_epoch=report)
        except optuna.TrialPruned:
            epochs += len(trial.storage.get_trial(trial._trial_id).intermediate_values)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        except Exception:  # noqa: BLE001 - a diverged or broken trial fails, the search goes on
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        epochs += MAX_B
        study.tell(trial, 1.0 - result.val_accuracy)
        if best is None or result.val_accuracy > best[0]:
            best = (result.val_accuracy, config)
    assert best is not None
    score, _ = score_configuration(problem, best[1], MAX_B, label="found", reporter=NullReporter(), val_accuracy=best[0])
    full = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    return {"val_accuracy": best[0], "test_accuracy": score.test_accuracy, "trials": trials, "full_budget": full, "epochs_trained": epochs}


def summarise(results: dict[str, list[dict[str, Any]]], baseline: list[dict[str, float]]) -> str:
    lines = ["| method | val acc (mean +- std) | test acc (mean +- std) | trials | 9-epoch evals | epochs trained |", "|---|---:|---:|---:|---:|---:|"]

    def fmt(values: list[float]) -> str:
        values = [v for v in values if v is not None]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{100 * statistics.mean(values):.2f} +- {100 * sd:.2f}"

    lines.append(f"| baseline | {fmt([b['val_accuracy'] for b in baseline])} | {fmt([b['test_accuracy'] for b in baseline])} | - | - | - |")
    for name, runs in results.items():
        def mean(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.mean(r[key] for r in runs)

        lines.append(
            f"| {name} | {fmt([r['val_accuracy'] for r in runs])} | {fmt([r['test_accuracy'] for r in runs])} "
            f"| {mean('trials'):.1f} | {mean('full_budget'):.1f} | {mean('epochs_trained'):.0f} |"
        )
    lines += ["", "Spearman rank correlation of validation errors across budgets (mean over runs, n = configurations):", ""]
    lines += ["| method | 1 -> 3 | 1 -> 9 | 3 -> 9 |", "|---|---:|---:|---:|"]
    for name in ("bohb", "hyperband"):
        cells = []
        for low, high in ((1.0, 3.0), (1.0, 9.0), (3.0, 9.0)):
            pairs = [p for r in results.get(name, []) for p in r["rank_correlation"]["pairs"] if (p["low"], p["high"]) == (low, high)]
            rhos = [p["rho"] for p in pairs if p["rho"] is not None]
            n = sum(p["n"] for p in pairs)
            cells.append(f"{statistics.mean(rhos):.2f} (n={n})" if rhos else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/joint_search.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_splits(resolve_dataset(DATASET))
    definition = resolve_space(SPACE)
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in ("bohb", "hyperband", "random", "optuna-tpe-hyperband")}
    baseline = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            problem = Problem(definition, data, MAX_B, seed)
            score, _ = score_configuration(problem, definition.baseline, MAX_B, label="baseline", reporter=NullReporter())
            baseline.append({"val_accuracy": score.val_accuracy, "test_accuracy": score.test_accuracy})
            for name, rows in results.items():
                if name == "optuna-tpe-hyperband":
                    outcome = optuna_method(problem, seed, args.minutes * 60)
                else:
                    outcome = hasearch_method(name, seed, args.minutes * 60, Path(tmp))
                rows.append(outcome)
                print(f"seed {seed} {name}: val {outcome['val_accuracy']:.4f} test {outcome['test_accuracy']:.4f} trials {outcome['trials']}", flush=True)
            Path(args.out).write_text(json.dumps({"args": vars(args), "baseline": baseline, "results": results}, indent=1))
    print(f"\n{len(args.seeds)} seeds, {args.minutes:g} min of search each, {args.threads} thread(s)\n")
    print(summarise(results, baseline))


if __name__ == "__main__":
    main()
