"""Does the search pay off on real data? CIFAR-10 subset, several strategies x seeds.

    .venv/bin/python benchmarks/cifar_payoff.py --strategies random bohb autohas --seeds 0 1 2 \\
        --parallel 2 --out bench-runs/payoff -- --budget 10m --epochs 9 --threads 1

Runs ``hasearch search --space mbconv --dataset imagefolder:../shared/datasets/cifar10-jpeg-subset``
for each (strategy, seed), ``--parallel`` at a time, with the options after ``--``
(bohb also gets ``--min-epochs 1``). Runs already finished under ``--out`` are not re-run.
Prints one row per run (saved result's and baseline's val / test accuracy, controller
entropy for single-run searches, wall time) and the mean per strategy; writes
``summary.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HASEARCH = str(Path(sys.executable).with_name("hasearch"))
DATASET = "imagefolder:../shared/datasets/cifar10-jpeg-subset"
EXTRA = {"bohb": ["--min-epochs", "1"]}


def run_one(out: Path, strategy: str, seed: int, options: list[str]) -> dict[str, Any]:
    run = out / f"{strategy}-seed{seed}"
    timing = run / "wall_seconds.txt"
    if not timing.exists():
        cmd = [HASEARCH, "search", "--space", "mbconv", "--dataset", DATASET, "--strategy", strategy,
               "--seed", str(seed), "--out", str(run), *EXTRA.get(strategy, []), *options]
        start = time.perf_counter()
        log = (out / f"{strategy}-seed{seed}.log").open("w")
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        timing.write_text(f"{time.perf_counter() - start:.1f}")
    return row(run, strategy, seed, float(timing.read_text()))


def row(run: Path, strategy: str, seed: int, wall: float) -> dict[str, Any]:
    best = json.loads((run / "best.json").read_text())
    result = best[best["result"]]
    entropy = None
    history = run / "search" / "history.json"
    if history.exists():
        entries = json.loads(history.read_text())["entries"]
        entropy = (entries[0]["entropy"], entries[-1]["entropy"], entries[-1]["step"])
    return {
        "strategy": strategy, "seed": seed, "result": best["result"],
        "val": result["val_accuracy"], "test": result["test_accuracy"],
        "found_val": (best.get("found") or {}).get("val_accuracy"), "found_test": (best.get("found") or {}).get("test_accuracy"),
        "baseline_val": best["baseline"]["val_accuracy"], "baseline_test": best["baseline"]["test_accuracy"],
        "entropy": entropy, "search_seconds": best["search_seconds"], "wall_seconds": wall, "notes": best.get("notes", []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=["random", "bohb", "autohas"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", default="bench-runs/payoff")
    parser.add_argument("search", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = [a for a in args.search if a != "--"]
    jobs = [(s, seed) for seed in args.seeds for s in args.strategies]
    with ThreadPoolExecutor(args.parallel) as pool:
        rows = list(pool.map(lambda j: run_one(out, j[0], j[1], options), jobs))
    for r in rows:
        ent = f"{r['entropy'][0]:.1f} -> {r['entropy'][1]:.1f} ({r['entropy'][2]} steps)" if r["entropy"] else "-"
        print(f"{r['strategy']:8} seed {r['seed']}: saved {r['result']:8} val {100 * r['val']:.2f} test {100 * r['test']:.2f} | "
              f"baseline val {100 * r['baseline_val']:.2f} test {100 * r['baseline_test']:.2f} | entropy {ent} | "
              f"wall {r['wall_seconds']:.0f}s", flush=True)
    for strategy in args.strategies:
        mine = [r for r in rows if r["strategy"] == strategy]
        gain = [100 * (r["test"] - r["baseline_test"]) for r in mine]
        print(f"{strategy}: saved test {statistics.mean(100 * r['test'] for r in mine):.2f} vs baseline "
              f"{statistics.mean(100 * r['baseline_test'] for r in mine):.2f} (mean gain {statistics.mean(gain):+.2f} points)")
    (out / "summary.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
