"""Run one ``hasearch search`` command for several seeds and summarise found vs baseline.

    .venv/bin/python benchmarks/cli_seeds.py --seeds 0 1 2 -- \\
        --space mbconv --strategy autohas --dataset mnist5k --budget 5m

Everything after ``--`` is passed to ``hasearch search`` (``--out`` and ``--seed`` are set
here). Prints test and validation accuracy of both, per seed and mean +- std.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HASEARCH = str(Path(sys.executable).with_name("hasearch"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--keep", help="directory to keep the runs in (default: temporary)")
    parser.add_argument("search", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = [a for a in args.search if a != "--"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        for seed in args.seeds:
            out = root / f"seed{seed}"
            start = time.perf_counter()
            subprocess.run([HASEARCH, "search", *extra, "--seed", str(seed), "--out", str(out)], check=True, capture_output=True)
            best = json.loads((out / "best.json").read_text())
            rows.append((seed, best, time.perf_counter() - start))
            parts = [f"{who} test {best[who]['test_accuracy']:.4f} val {best[who]['val_accuracy']:.4f}"
                     for who in ("found", "baseline") if best.get(who)]
            print(f"seed {seed}: " + " | ".join(parts) + f" | wall {rows[-1][2]:.0f}s", flush=True)
    for who in ("found", "baseline"):
        if not all(r[1].get(who) for r in rows):
            continue
        tests = [100 * r[1][who]["test_accuracy"] for r in rows]
        vals = [100 * r[1][who]["val_accuracy"] for r in rows]
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(f"{who}: test {statistics.mean(tests):.2f} +- {sd:.2f} %, val {statistics.mean(vals):.2f} %")
    print(f"wall time per run: median {statistics.median(r[2] for r in rows):.0f} s")


if __name__ == "__main__":
    main()
