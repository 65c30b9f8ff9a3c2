"""Retrain the configurations a `nes_table1.py` run found, from scratch with another budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nes_retrain.py --dataset imagefolder:/work/shared/datasets/cifar10-jpeg-subset \
        --space benchmarks/spaces/mobilenetv2-fine.yaml --source nes-channel-input:fine-e8-nes,fine-e8-nes-more \
        --targets 0.75 0.5 --seeds 0 1 2 --epochs 30 --tag fine-e30-nes-a

Asks whether `nes_table1.py`'s ranking of rows holds when the same models are trained longer:
seed 003 retrains to convergence, the table at CPU scale for 8 epochs. Each configuration of
the source row (``ROW:TAG[,TAG...]`` as `nes_table1_paired.py` reads it) at the chosen targets
(fractions of the baseline's MACs) and seeds is trained from scratch on training +
validation for ``--epochs`` with the same seed and scored on the test split (the final
comparison's test protocol, :func:`hasearch.final.score_configuration`; the validation
training is skipped, so ``val_accuracy`` is None). Writes a results file in
`nes_table1.py`'s format (``benchmarks/results/nes_table1_<dataset>_<tag>.json``), so
`nes_table1_paired.py` pairs its rows; a rerun skips the entries the file already holds.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nes_table1 import baseline_macs, results_path
from nes_table1_paired import load

if TYPE_CHECKING:
    from hasearch.problem import Problem


def retrain(problem: Problem, config: dict[str, Any], epochs: float) -> dict[str, Any]:
    """Test accuracy of ``config`` after ``epochs`` on training + validation (``problem``'s seed)."""
    from hasearch.final import score_configuration
    from hasearch.reporting import NullReporter

    score, _ = score_configuration(problem, config, epochs, label="retrain", reporter=NullReporter(), val_accuracy=math.nan)
    if score.error is not None:
        return {"error": score.error}
    return {"macs": score.macs, "val_accuracy": None, "test_accuracy": score.test_accuracy, "retrain_seconds": score.retrain_seconds}


def problem_of(args: argparse.Namespace) -> Problem:
    """The space and data, loaded once; each retraining replaces the seed."""
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.problem import Problem

    return Problem(resolve_space(args.space), make_splits(resolve_dataset(args.dataset)), args.epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--space", default="mobilenetv2", help="the space the source run searched")
    parser.add_argument("--source", required=True, help="ROW:TAG[,TAG...] of nes_table1.py results")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.75, 0.5, 0.3], help="fractions of the baseline's MACs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=float, default=30.0)
    parser.add_argument("--tag", required=True, help="results file nes_table1_<dataset>_<tag>.json")
    args = parser.parse_args()
    baseline = baseline_macs(args.dataset, args.space)
    source = load(args.dataset, args.source)
    out = results_path(args.dataset, args.tag)
    saved = json.loads(out.read_text())["results"] if out.exists() else []
    done = {(r["row"], round(r["target"]), r["seed"]) for r in saved}
    row, problem = args.source.split(":", 1)[0], problem_of(args)
    for seed in args.seeds:
        for fraction in args.targets:
            target = next((t for t, s in source if s == seed and abs(t / baseline - fraction) < 1e-6), None)
            if target is None or (row, round(target), seed) in done:
                continue
            found = source[(target, seed)]
            entry = {"row": row, "target": target, "seed": seed, "config": found["config"], **retrain(replace(problem, seed=seed), found["config"], args.epochs)}
            saved.append(entry)
            print(json.dumps(entry), flush=True)
            out.write_text(json.dumps({"args": vars(args), "baseline_macs": baseline, "results": saved}, indent=1))


if __name__ == "__main__":
    main()
