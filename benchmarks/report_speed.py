"""Time ``hasearch report`` on a run of many trials (issue: results, "under 10 seconds for 500").

    .venv/bin/python benchmarks/report_speed.py --trials 500 --repeats 3

Writes a synthetic run (the ``mbconv`` space, random configurations on budgets 1/3/9 with
validation errors that depend on the optimizer and dropout plus noise, 5% failed) and times
``write_report`` on it; prints the median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_run(path: Path, trials: int) -> None:
    from hasearch.catalog import resolve_space
    from hasearch.settings import SearchSettings
    from hasearch.space import save_space
    from hasearch.store import RunDir

    definition = resolve_space("mbconv")
    run = RunDir.create(path)
    run.write_json("settings.json", SearchSettings(space="mbconv", dataset="digits", strategy="bohb", max_trials=trials).to_dict())
    save_space(definition.space, run.file("space.yaml"))
    rng = np.random.default_rng(0)
    for i in range(trials):
        config = dict(definition.space.sample(rng))
        budget = float(rng.choice([1.0, 3.0, 9.0]))
        run.db.start(i, config, budget)
        if rng.uniform() < 0.05:
            run.db.fail(i, "diverged", seconds=1.0, cost=budget)
            continue
        loss = 0.05 + 0.1 * (config["optimizer"] != "sgd") + 0.1 * config["dropout"] + 0.01 * rng.normal() + 0.05 / budget
        run.db.finish(i, float(loss), {"val_accuracy": 1 - float(loss), "macs": 1e6 * (1 + rng.uniform())}, seconds=budget, cost=budget)
    run.close()


def main() -> None:
    from hasearch.report import write_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        run = Path(root) / "run"
        make_run(run, args.trials)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            write_report(run)
            seconds.append(time.perf_counter() - start)
    print(f"report of a {args.trials}-trial run: median {statistics.median(seconds):.2f} s over {args.repeats} ({', '.join(f'{s:.2f}' for s in seconds)})")


if __name__ == "__main__":
    main()
