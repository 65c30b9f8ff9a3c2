"""BOHB ablation on the synthetic multi-fidelity functions of ``multifidelity.py``: which of
BOHB's published defaults (random fraction 1/3, bandwidth factor 3, top 15%, minimum
bandwidth 1e-3) limits its final regret, whether the multi-fidelity bias is the cause
(the same functions without bias), and whether a variant that wins on the two benchmark
functions also wins on a held-out one (MF-Hartmann-3). Optuna TPE + Hyperband runs side by
side. 10 seeds, 200 full evaluations each, two processes.

    .venv/bin/python benchmarks/bohb_ablation.py
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from multiprocessing import Pool

import ConfigSpace as CS
import multifidelity as mf

import hasearch

SEEDS = 10


VARIANTS: dict[str, Callable[[CS.ConfigurationSpace, int], hasearch.Strategy] | None] = {
    "published defaults": mf.bohb(),
    "random_fraction 0": mf.bohb(random_fraction=0.0),
    "bandwidth_factor 1": mf.bohb(bandwidth_factor=1.0),
    "top_n_percent 30": mf.bohb(top_n_percent=30.0),
    "min_bandwidth 0.01 + random_fraction 0.1": mf.bohb(min_bandwidth=0.01, random_fraction=0.1),
    "adaptive_floor 1: floor 1/(n+1) (hyperopt's rule)": mf.bohb(adaptive_floor=1.0),
    "adaptive_floor 0.5: floor 0.5/(n+1)": mf.bohb(adaptive_floor=0.5),
    "optuna-tpe-hyperband (reference)": None,
}


def _without_bias(problem: mf.Problem) -> mf.Problem:
    """Every budget sees the true function (z = 1): isolates the model from the fidelity bias."""
    return mf.Problem(f"{problem.name} without bias", problem.space, lambda c, z, f=problem.f: f(c, 1.0), problem.optimum)


PROBLEMS = (*mf.PROBLEMS, mf.HELD_OUT, *(_without_bias(p) for p in mf.PROBLEMS))


def _final_regret(task: tuple[str, int, int]) -> float:
    variant, problem_index, seed = task
    problem, total, make = PROBLEMS[problem_index], 200 * mf.MAX_B, VARIANTS[variant]
    trace = mf.run_optuna(problem, seed, total) if make is None else mf.run_hasearch(make, problem, seed, total)
    return trace.regret_at(1.0)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, without starting the benchmark
    tasks = [(v, p, s) for p in range(len(PROBLEMS)) for v in VARIANTS for s in range(SEEDS)]
    with Pool(2) as pool:
        finals = pool.map(_final_regret, tasks, chunksize=1)
    print("| problem | BOHB variant | final mean regret | median |")
    print("|---|---|---:|---:|")
    for start in range(0, len(tasks), SEEDS):
        variant, problem_index, _ = tasks[start]
        values = finals[start : start + SEEDS]
        print(f"| {PROBLEMS[problem_index].name} | {variant} | {statistics.mean(values):.4f} | {statistics.median(values):.4f} |")


if __name__ == "__main__":
    main()
