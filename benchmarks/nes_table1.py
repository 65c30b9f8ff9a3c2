"""Seed 003 Table 1/2 at CPU scale: NES against uniform rescaling at equal MACs.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/nes_table1.py --dataset mnist5k --seeds 0 1 2 \
        --targets 0.75 0.5 0.3 --epochs 4 --search-budget 60

For each MACs target (a fraction of the baseline's MACs, the 1x network, as seed 003's
targets are fractions of the 1x backbone: a channel-only or input-only rescale cannot grow
the depth to reach the space's largest network) and seed, every row runs as the CLI runs it
(``hasearch search --space mobilenetv2 --strategy ROW --target-macs T --no-baseline``):
the uniform rows pick their configuration at once, the NES rows search for
``--search-budget`` seconds; then the final comparison retrains the configuration from
scratch with ``--epochs`` (validation accuracy from training on the training split, test
accuracy from training on training + validation, the same seed). Reported: mean +- std over
seeds of test accuracy and MACs per row and target, and NES's search time as a fraction of
one from-scratch training of its model. Writes ``benchmarks/results/nes_table1_<dataset>.json``
(a rerun with the same ``--epochs``, ``--search-budget`` and ``--space`` replaces only the rows it runs;
``--tag`` writes another file, e.g. ``--nes-option mirrored=false --tag iid`` for NES with
the paper's i.i.d. perturbations).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

ROWS = ("uniform-channel", "uniform-input", "uniform-channel-input", "nes-channel", "nes-channel-input", "nes")
SPACE = "mobilenetv2"


def baseline_macs(dataset: str, space: str = SPACE) -> float:
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.supernet import resource_model

    definition = resolve_space(space)
    data = make_splits(resolve_dataset(dataset))
    return resource_model(definition.family, data.input_shape, data.num_classes).cost(definition.space.baseline)


def run_row(row: str, target: float, seed: int, args: argparse.Namespace, root: Path, *, flag: str = "--target-macs") -> dict[str, Any]:
    """One row at one target and seed, as the CLI runs it (``flag``: the target's option)."""
    from hasearch.cli.main import main

    out = root / f"{row}-{target:g}-{seed}"
    budget = f"{args.search_budget}s" if row.startswith("nes") else "1s"
    argv = ["search", "--space", getattr(args, "space", SPACE), "--strategy", row, "--dataset", args.dataset, "--budget", budget, "--epochs", str(args.epochs),
            "--seed", str(seed), flag, str(round(target) if flag == "--target-macs" else target), "--no-baseline", "--out", str(out)]  # fmt: skip
    argv += [f"--option={o}" for o in getattr(args, "nes_option", [])] if row.startswith("nes") else []
    code = main(argv)
    if code != 0:
        return {"row": row, "target": target, "seed": seed, "error": code}
    best = json.loads((out / "best.json").read_text())
    found = best["found"]
    return {
        "row": row, "target": target, "seed": seed, "config": found["config"], "macs": found["macs"],
        "val_accuracy": found["val_accuracy"], "test_accuracy": found["test_accuracy"],
        "search_seconds": best["search_seconds"], "retrain_seconds": found["retrain_seconds"],
    }  # fmt: skip


def table(results: list[dict[str, Any]], fractions: list[float]) -> str:
    lines = ["| row | " + " | ".join(f"{f:g}x baseline: test % / MACs (M)" for f in fractions) + " |", "|---|" + "---|" * len(fractions)]
    targets = sorted({r["target"] for r in results}, reverse=True)
    for row in ROWS:
        cells = []
        for target in targets:
            done = [r for r in results if r["row"] == row and r["target"] == target and "test_accuracy" in r]
            if not done:
                cells.append("-")
                continue
            acc = [100 * r["test_accuracy"] for r in done]
            macs = [r["macs"] / 1e6 for r in done]
            spread = f" +- {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
            cells.append(f"{statistics.fmean(acc):.2f}{spread} / {statistics.fmean(macs):.2f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_path(dataset: str, tag: str | None) -> Path:
    """``benchmarks/results/nes_table1_<dataset>[_<tag>].json`` (``:`` and ``/`` of the dataset as ``_``)."""
    name = dataset.replace(":", "_").replace("/", "_") + (f"_{tag}" if tag else "")
    return Path(__file__).parent / "results" / f"nes_table1_{name}.json"


def kept_results(path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The results file's rows, kept when a rerun uses the same retraining and search budget
    (a rerun replaces only the rows, targets and seeds it runs)."""
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    same = all(saved["args"].get(k, SPACE if k == "space" else None) == getattr(args, k) for k in ("epochs", "search_budget", "space"))
    return saved["results"] if same else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--space", default=SPACE, help="a space name or YAML file with the mobilenetv2 family (e.g. benchmarks/spaces/mobilenetv2-fine.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.75, 0.5, 0.3], help="fractions of the baseline's MACs")
    parser.add_argument("--epochs", type=float, default=6.0, help="from-scratch retraining budget of every row")
    parser.add_argument("--search-budget", type=int, default=60, help="seconds of NES search")
    parser.add_argument("--rows", nargs="+", default=list(ROWS))
    parser.add_argument("--nes-option", action="append", default=[], metavar="NAME=VALUE", help="--option of the NES rows (e.g. mirrored=false)")
    parser.add_argument("--tag", help="results file nes_table1_<dataset>_<tag>.json instead of nes_table1_<dataset>.json")
    args = parser.parse_args()
    baseline = baseline_macs(args.dataset, args.space)
    out = results_path(args.dataset, args.tag)
    results = kept_results(out, args)
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            for fraction in args.targets:
                for row in args.rows:
                    done = run_row(row, fraction * baseline, seed, args, Path(root))
                    results = [r for r in results if (r["row"], r["seed"]) != (row, seed) or abs(r["target"] - done["target"]) > 1] + [done]
                    print(json.dumps(done), flush=True)
                    out.write_text(json.dumps({"args": vars(args), "baseline_macs": baseline, "results": results}, indent=1))
    print(table(results, args.targets))
    nes = [r for r in results if r["row"].startswith("nes") and "retrain_seconds" in r]
    if nes:
        print(f"NES search time / one from-scratch training of its model: {statistics.median(r['search_seconds'] / r['retrain_seconds'] for r in nes):.2f} (median)")


if __name__ == "__main__":
    main()
