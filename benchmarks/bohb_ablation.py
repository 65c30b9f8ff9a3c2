"""BOHB ablation on the synthetic multi-fidelity functions of ``multifidelity.py``: which of
BOHB's published defaults (random fraction 1/3, bandwidth factor 3, top 15%, minimum
bandwidth 1e-3) limits its final regret. 10 seeds, 200 full evaluations each.

    .venv/bin/python benchmarks/bohb_ablation.py
"""

from __future__ import annotations

import statistics

import multifidelity as mf

import hasearch

VARIANTS: dict[str, dict[str, float]] = {
    "default": {},
    "random_fraction 0": {"random_fraction": 0.0},
    "bandwidth_factor 1": {"bandwidth_factor": 1.0},
    "top 30%": {"top_n_percent": 30.0},
    "min_bandwidth 0.01 + random_fraction 0.1": {"min_bandwidth": 0.01, "random_fraction": 0.1},
}


def main() -> None:
    total = 200 * mf.MAX_B
    for problem in mf.PROBLEMS:
        for name, options in VARIANTS.items():
            finals = []
            for seed in range(10):
                trace = mf.run_hasearch(
                    lambda cs, s, o=options: hasearch.BOHB(cs, min_budget=mf.MIN_B, max_budget=mf.MAX_B, eta=mf.ETA, seed=s, **o),
                    problem, seed, total,
                )
                finals.append(trace.regret_at(1.0))
            print(f"{problem.name} | {name} | {statistics.mean(finals):.4f} | {statistics.median(finals):.4f}", flush=True)


if __name__ == "__main__":
    main()
