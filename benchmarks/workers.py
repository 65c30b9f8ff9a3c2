"""Wall time of the same search with --workers 1 and --workers 2 (process pool), side by
side: random search, a fixed number of trials, ``--space`` (default mbconv) on mnist5k.
Both runs write the same trials (same ids, configurations and budgets); the ratio is wall time 1 / wall time 2.

    .venv/bin/python benchmarks/workers.py --trials 8 --epochs 2 --repeats 3
    .venv/bin/python benchmarks/workers.py --space resnet-joint --trials 8 --epochs 2 --repeats 3
    .venv/bin/python benchmarks/workers.py --trials 8 --epochs 3 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HASEARCH = str(Path(sys.executable).with_name("hasearch"))


def timed_search(out: Path, workers: int, args: argparse.Namespace) -> float:
    cmd = [HASEARCH, "search", "--space", args.space, "--strategy", "random", "--dataset", args.dataset,
           "--trials", str(args.trials), "--epochs", str(args.epochs), "--out", str(out),
           "--workers", str(workers), "--no-baseline", "--final-budget", "0.1"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--threads", type=int, help="threads per trial for both (default: cores / workers)")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for workers in (1, 2):
                times[workers].append(timed_search(Path(tmp) / f"{r}-{workers}", workers, args))
    one, two = (statistics.median(times[w]) for w in (1, 2))
    print(f"{args.dataset}, {args.space}, random search, {args.trials} trials x {args.epochs:g} epochs, "
          f"threads per trial {args.threads or 'cores / workers'}, median of {args.repeats}")
    print(f"--workers 1: {one:.1f} s   --workers 2: {two:.1f} s   ratio {one / two:.2f}")


if __name__ == "__main__":
    main()
