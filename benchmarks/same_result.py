"""A search fixed in trial count, for comparing two versions of the code on the CPU.

    .venv/bin/python benchmarks/same_result.py                          # this checkout
    PYTHONPATH=/tmp/oldwt/src .venv/bin/python benchmarks/same_result.py  # a worktree of an older commit

Prints the trial losses and the found and baseline test accuracies of a seeded Hyperband
search (6 trials, up to 3 epochs, digits, ``mbconv``) as JSON; equal output means equal
results (docs/benchmarks.md, "Accelerators").
"""

from __future__ import annotations

import argparse
import json
import tempfile

from hasearch.search import run_search
from hasearch.settings import SearchSettings
from hasearch.store import RunDir


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, without starting the benchmark
    with tempfile.TemporaryDirectory() as root:
        out = f"{root}/run"
        settings = SearchSettings(space="mbconv", dataset="digits", strategy="hyperband", max_trials=6, max_budget=3, seed=1)
        best = run_search(settings, out)
        run = RunDir.open(out, read_only=True)
        try:
            losses = [t.loss for t in run.db.trials()]
        finally:
            run.close()
    print(json.dumps({"losses": losses, "found_test": best["found"]["test_accuracy"], "baseline_test": best["baseline"]["test_accuracy"]}))


if __name__ == "__main__":
    main()
