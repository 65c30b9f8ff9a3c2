"""Seed 000 Table 4 layout: which parameters AutoHAS searches, and what the retrained
result scores. Rows: baseline, weight decay only, mixup only, arch only, mixup + arch
(joint), mixup + arch (phase-wise, the same total budget split in two phases).

Each AutoHAS row searches ``--minutes`` on the data set with the ``mbconv`` space, derives
the configuration by Eq. 4-5, retrains it on train+validation for ``--epochs`` and tests
it; the baseline is retrained the same way. Mean +- std over seeds.

    .venv/bin/python benchmarks/autohas_table4.py --dataset mnist5k --minutes 2 --seeds 0 1 2
    .venv/bin/python benchmarks/autohas_table4.py --dataset imagefolder:../shared/datasets/cifar10-jpeg-subset/train --minutes 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from partial import load_partial

from hasearch.autohas import AutoHAS, AutoHASOptions
from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.final import score_configuration
from hasearch.problem import Problem
from hasearch.reporting import NullReporter
from hasearch.store import RunDir
from hasearch.strategies.base import SearchContext

ARCH = tuple(f"{kind}_{i}" for i in range(6) for kind in ("kernel", "expansion"))
ROWS: dict[str, AutoHASOptions | None] = {
    "baseline": None,
    "weight decay": AutoHASOptions(search=("weight_decay",)),
    "mixup": AutoHASOptions(search=("mixup_alpha",)),
    "arch": AutoHASOptions(search=ARCH),
    "mixup + arch (joint)": AutoHASOptions(search=("mixup_alpha", *ARCH)),
    "mixup + arch (phase)": AutoHASOptions(mode="phase-wise", search=("mixup_alpha", *ARCH)),
}


def run_row(
    problem: Problem, options: AutoHASOptions | None, seconds: float, epochs: float, workdir: Path, baseline: dict[str, Any] | None
) -> dict[str, Any]:
    config, notes = dict(problem.space.baseline), []
    if options is not None:
        run = RunDir.create(workdir)
        context = SearchContext(problem, run, seconds, NullReporter())
        outcome = AutoHAS(options=options, seed=problem.seed).run(context)
        config, notes = outcome.config, outcome.notes
        run.close()
    if baseline is not None and config == baseline["config"]:  # every parameter kept the baseline's value
        return {**baseline, "notes": notes, "same_as_baseline": True}
    score, _ = score_configuration(problem, config, epochs, label="row", reporter=NullReporter())
    return {"test_accuracy": score.test_accuracy, "val_accuracy": score.val_accuracy, "macs": score.macs, "config": dict(config), "notes": notes}


def saved_result(row: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """What `hasearch search` saves: the better of the row and the baseline on validation."""
    return baseline if baseline["val_accuracy"] > row["val_accuracy"] else row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--epochs", type=float, default=9.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_splits(resolve_dataset(args.dataset))
    definition = resolve_space("mbconv")
    out = Path(args.out or f"benchmarks/results/autohas_table4_{Path(args.dataset.split(':')[-1]).name}.json")
    results = load_partial(out, vars(args), list(ROWS))
    with tempfile.TemporaryDirectory() as tmp:
        for position, seed in enumerate(args.seeds):
            problem = Problem(definition, data, args.epochs, seed)
            for index, (name, options) in enumerate(ROWS.items()):
                if len(results[name]) > position:
                    continue
                base = results["baseline"][position] if options is not None else None
                row = run_row(problem, options, args.minutes * 60, args.epochs, Path(tmp) / f"seed{seed}-row{index}", base)
                results[name].append(row)
                print(f"seed {seed} {name}: test {row['test_accuracy']:.4f} val {row['val_accuracy']:.4f}", flush=True)
                out.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(f"\n{args.dataset}, mbconv, {args.minutes:g} min AutoHAS search, {args.epochs:g}-epoch retraining, seeds {args.seeds}\n")
    print("| search space | derived: test % (mean +- std) | derived: val % | rows equal to the baseline | saved (better on val): test % | MACs |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        tests = [100 * r["test_accuracy"] for r in rows]
        vals = [100 * r["val_accuracy"] for r in rows]
        saved = [100 * saved_result(r, b)["test_accuracy"] for r, b in zip(rows, results["baseline"], strict=False)]
        same = sum(bool(r.get("same_as_baseline")) for r in rows)
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(f"| {name} | {statistics.mean(tests):.2f} +- {sd:.2f} | {statistics.mean(vals):.2f} | {same}/{len(rows)} | "
              f"{statistics.mean(saved):.2f} | {statistics.mean(r['macs'] for r in rows):,.0f} |")


if __name__ == "__main__":
    main()
