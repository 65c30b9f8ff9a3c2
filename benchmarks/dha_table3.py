"""Seed 001 Table 1/3 at CPU scale: DHA, Sequential DHA, one-stage ISTA and the ablations.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dha_table3.py --dataset mnist5k --seeds 0 1 2 --epochs 3

Every row trains on the ``darts`` space's training split through the Python API with a
fixed number of epochs (not seconds, so rows compare at equal training, whatever the load):

* ``baseline``: the space's baseline cell trained standalone for ``--epochs`` with the
  base augmentation and hyperparameters;
* one-stage rows (``ista``, ``dha-nas-da``, ``dha-nas-hpo``, ``dha``): one run of
  ``--epochs`` whose network is the result;
* sequential rows (``dha-nas-da-sequential``, ``dha-nas-hpo-sequential``,
  ``dha-sequential``): ``--epochs`` of architecture search, then the derived cell trained
  from scratch for ``--epochs`` with the online components.

Reported per row: mean +- std over seeds of test accuracy, and compute = median over seeds of the wall seconds of the
whole row (search + any retraining) at ``OMP_NUM_THREADS`` threads, in CPU-minutes. Writes
``benchmarks/results/dha_table3_<dataset>_e<epochs>_seed<k>.json`` per seed (so seeds can run as
parallel processes, one thread each); a rerun replaces only the rows it runs; ``--report`` prints the table of every seed's file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = ("baseline", "ista", "dha-nas-da-sequential", "dha-nas-da", "dha-nas-hpo-sequential", "dha-nas-hpo", "dha-sequential", "dha")
#: Extra rows (``--rows``): a strategy with changed DHAOptions, e.g. Eq. 4 on an extra held batch.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dha-fresh": ("dha", {"held_batch": "fresh"}),
    "dha-sequential-fresh": ("dha-sequential", {"held_batch": "fresh"}),
    # step sizes of the online components (chosen on validation accuracy, never test)
    "dha-hyper-lr-0.1": ("dha", {"hyper_lr": 0.1}),
    "dha-hyper-lr-0.3": ("dha", {"hyper_lr": 0.3}),
    "dha-hyper-lr-1": ("dha", {"hyper_lr": 1.0}),
    "dha-hyper-lr-3": ("dha", {"hyper_lr": 3.0}),
    "dha-policy-lr-0.01": ("dha", {"policy_lr": 0.01}),
    "dha-policy-lr-0.1": ("dha", {"policy_lr": 0.1}),
    # when the architecture freezes (share of the run; chosen on validation accuracy)
    "dha-freeze-0.1": ("dha", {"freeze_at": 0.1}),
    "dha-freeze-0.25": ("dha", {"freeze_at": 0.25}),  # the default since it was measured
    "dha-freeze-0.5": ("dha", {"freeze_at": 0.5}),  # the default before
    "dha-sequential-freeze-0.25": ("dha-sequential", {"freeze_at": 0.25}),
    "dha-sequential-freeze-0.5": ("dha-sequential", {"freeze_at": 0.5}),
}


def run_row(row: str, seed: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import torch

    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.problem import Problem
    from hasearch.reporting import NullReporter
    from hasearch.store import RunDir
    from hasearch.strategies.base import SearchContext
    from hasearch.strategies.registry import StrategyOptions, get_strategy
    from hasearch.train.trainer import evaluate, train_child

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    data = make_splits(resolve_dataset(args.dataset), seed=0)
    problem = Problem(resolve_space("darts"), data, args.epochs, seed)
    start = time.perf_counter()
    if row == "baseline":
        model = problem.build(problem.space.baseline)
        train_child(model, problem.space.baseline, data, problem.budget(args.epochs), seed=seed)
    else:
        name, changes = VARIANTS.get(row, (row, {}))
        changes = {"recovery": args.recovery, **changes}
        strategy = get_strategy(name).make(StrategyOptions(space=problem.space, seed=seed, min_budget=1, max_budget=args.epochs, eta=3))
        epochs = 2 * args.epochs if strategy.options.sequential else args.epochs  # type: ignore[attr-defined]
        strategy.options = dataclasses.replace(strategy.options, epochs=epochs, checkpoint_seconds=1e9, **changes)  # type: ignore[attr-defined]
        run = RunDir.create(root / f"{row}-{seed}")
        model = strategy.run(SearchContext(problem, run, None, NullReporter())).network
        run.close()
    seconds = time.perf_counter() - start
    _, accuracy = evaluate(model.eval(), data.test)
    _, val_accuracy = evaluate(model, data.val)  # one-stage rows trained on the training split only
    return {"row": row, "seed": seed, "test_accuracy": accuracy, "val_accuracy": val_accuracy, "seconds": seconds, "threads": torch.get_num_threads()}


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| row | validation % | test % (mean +- std) | compute, CPU-minutes (median) |", "|---|---|---|---|"]
    for row in (*ROWS, *VARIANTS):
        done = [r for r in results if r["row"] == row]
        if not done:
            continue
        acc = [100 * r["test_accuracy"] for r in done]
        minutes = [r["seconds"] * r["threads"] / 60 for r in done]
        spread = f" +- {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
        val = [100 * r["val_accuracy"] for r in done if "val_accuracy" in r]
        val_cell = f"{statistics.fmean(val):.2f}" if len(val) == len(done) else "-"
        lines.append(f"| {row} | {val_cell} | {statistics.fmean(acc):.2f}{spread} | {statistics.median(minutes):.2f} |")
    return "\n".join(lines)


def results_path(dataset: str, epochs: float, seed: int, tag: str = "") -> Path:
    suffix = f"_{tag}" if tag else ""
    return Path(__file__).parent / "results" / f"dha_table3_{dataset.replace(':', '_').replace('/', '_')}_e{epochs:g}{suffix}_seed{seed}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=float, default=3.0, help="training epochs of a one-stage row (and of each stage of a sequential one)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS))
    parser.add_argument("--recovery", choices=("ista", "lasso"), default="ista", help="how darts nodes recover alpha (DHAOptions.recovery)")
    parser.add_argument("--tag", default="", help="a name for separate result files (e.g. a side-by-side timing run)")
    parser.add_argument("--report", action="store_true", help="print the table of the seeds' result files; train nothing")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if args.report:
        for seed in args.seeds:
            results += json.loads(results_path(args.dataset, args.epochs, seed, args.tag).read_text())["results"]
        print(table(results))
        return
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            path = results_path(args.dataset, args.epochs, seed, args.tag)
            done: list[dict[str, Any]] = json.loads(path.read_text())["results"] if path.exists() else []
            for row in args.rows:
                done = [r for r in done if r["row"] != row] + [run_row(row, seed, args, Path(root))]
                print(json.dumps(done[-1]), flush=True)
                path.write_text(json.dumps({"epochs": args.epochs, "results": done}, indent=1))  # other rows of the seed kept
            results += [r for r in done if r["row"] in args.rows]
    print(table(results))


if __name__ == "__main__":
    main()
