"""AutoHAS vs random search and BOHB at equal and at 5x search time (seed 000's headline:
AutoHAS matches what multi-trial search reaches with much more compute).

Joint space ``mbconv`` on mnist5k. AutoHAS searches T minutes; random search and BOHB
(budgets 1..9 epochs) search T and 5T minutes. Every found configuration is retrained on
train+validation for 9 epochs and tested (hasearch.final); mean +- std over seeds.

    .venv/bin/python benchmarks/autohas_vs_multitrial.py --minutes 1 --seeds 0 1 2
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

from hasearch.search import run_search
from hasearch.settings import SearchSettings


def search(strategy: str, minutes: float, seed: int, workdir: Path, dataset: str) -> dict[str, Any]:
    settings = SearchSettings(
        space="mbconv", dataset=dataset, strategy=strategy, seed=seed, time_budget=minutes * 60,
        max_budget=9, min_budget=1, compare_baseline=False,
    )
    best = run_search(settings, str(workdir / f"{strategy}-{minutes:g}-{seed}"))
    found = best["found"] or {}
    return {"test_accuracy": found.get("test_accuracy"), "val_accuracy": found.get("val_accuracy"),
            "search_seconds": best["search_seconds"], "macs": found.get("macs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/autohas_vs_multitrial.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t = args.minutes
    plan = [("autohas", t), ("random", t), ("bohb", t), ("random", 5 * t), ("bohb", 5 * t)]
    results = load_partial(Path(args.out), vars(args), [f"{s} {m:g} min" for s, m in plan])
    with tempfile.TemporaryDirectory() as tmp:
        for position, seed in enumerate(args.seeds):
            for strategy, minutes in plan:
                rows = results[f"{strategy} {minutes:g} min"]
                if len(rows) > position:
                    continue
                row = search(strategy, minutes, seed, Path(tmp), args.dataset)
                rows.append(row)
                print(f"seed {seed} {strategy} {minutes:g} min: test {row['test_accuracy']:.4f}", flush=True)
                Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(f"\n{args.dataset}, mbconv, seeds {args.seeds}, final retraining 9 epochs\n")
    print("| method | search time | test accuracy % (mean +- std) | val accuracy % |")
    print("|---|---:|---:|---:|")
    for name, rows in results.items():
        tests = [100 * r["test_accuracy"] for r in rows if r["test_accuracy"] is not None]
        vals = [100 * r["val_accuracy"] for r in rows if r["val_accuracy"] is not None]
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        method, minutes = name.rsplit(" ", 2)[0], name.rsplit(" ", 2)[1]
        print(f"| {method} | {minutes} min | {statistics.mean(tests):.2f} +- {sd:.2f} | {statistics.mean(vals):.2f} |")


if __name__ == "__main__":
    main()
