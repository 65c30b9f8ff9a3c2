"""Paired differences between two rows of `nes_table1.py` results, per target and seed.

    .venv/bin/python benchmarks/nes_table1_paired.py --dataset imagefolder:/work/shared/datasets/cifar10-jpeg-subset \
        --a nes-channel-input:e8-s300-exact-a,e8-s300-exact-b --b uniform-channel-input:e8-uniform,e8-uniform-more

Each side is ROW:TAG[,TAG...] (the results files ``benchmarks/results/nes_table1_<dataset>_<tag>.json``;
a tag ``-`` is the untagged file). Prints, per target, the test accuracy of both sides
(mean +- std over the seeds both have), the difference A - B per seed, its mean and
standard error, the validation accuracy's mean difference (``-`` where a side has none:
`nes_retrain.py` results), and A's MACs relative to the target.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from nes_table1 import results_path


def load(dataset: str, side: str) -> dict[tuple[float, int], dict[str, Any]]:
    """(target, seed) -> result of the side's row (a later tag overrides an earlier one)."""
    row, tags = side.split(":", 1)
    found: dict[tuple[float, int], dict[str, Any]] = {}
    for tag in tags.split(","):
        path = results_path(dataset, None if tag == "-" else tag)
        for r in json.loads(path.read_text())["results"]:
            if r["row"] == row and "test_accuracy" in r:
                found[(r["target"], r["seed"])] = r
    return found


def mean_sd(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f} +- {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def _both_validated(a: dict[tuple[float, int], dict[str, Any]], b: dict[tuple[float, int], dict[str, Any]], key: tuple[float, int]) -> bool:
    return a[key]["val_accuracy"] is not None and b[key]["val_accuracy"] is not None


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):+.2f}" if values else "-"


def table(a: dict[tuple[float, int], dict[str, Any]], b: dict[tuple[float, int], dict[str, Any]]) -> list[str]:
    lines = ["| target (MACs) | seeds | A test % | B test % | A - B per seed | mean (SE) | validation A - B | A's MACs vs target |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for target in sorted({t for t, _ in a} & {t for t, _ in b}, reverse=True):
        seeds = sorted(s for t, s in a if t == target and (t, s) in b)
        acc_a = [100 * a[(target, s)]["test_accuracy"] for s in seeds]
        acc_b = [100 * b[(target, s)]["test_accuracy"] for s in seeds]
        diff = [x - y for x, y in zip(acc_a, acc_b, strict=True)]
        val = [100 * (a[(target, s)]["val_accuracy"] - b[(target, s)]["val_accuracy"]) for s in seeds if _both_validated(a, b, (target, s))]
        se = statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else float("nan")
        macs = ", ".join(f"{100 * (a[(target, s)]['macs'] / target - 1):+.1f}%" for s in seeds)
        lines.append(f"| {target / 1e6:.2f} M | {','.join(map(str, seeds))} | {mean_sd(acc_a)} | {mean_sd(acc_b)} | "
                     f"{', '.join(f'{d:+.2f}' for d in diff)} | {statistics.fmean(diff):+.2f} ({se:.2f}) | {_mean(val)} | {macs} |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--a", required=True, help="ROW:TAG[,TAG...]")
    parser.add_argument("--b", required=True, help="ROW:TAG[,TAG...]")
    args = parser.parse_args()
    print("\n".join(table(load(args.dataset, args.a), load(args.dataset, args.b))))


if __name__ == "__main__":
    main()
