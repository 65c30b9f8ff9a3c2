"""How well two timings of the same networks agree on this machine: the noise floor of
`latency_table.py`'s validation.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/latency_repeatability.py --space darts --batch 32 --timings 3

Draws ``--children`` random children of the space with `validation_networks`, as
`validate_table` does (same seed, same children), times all of them ``--timings`` times over with ``time_in_rounds`` (the
validation's timing; ``--min-seconds`` per timing), and prints, for every pair of timings,
Spearman's rho and the median relative difference. A table cannot be shown to predict ranks
better than two measurements of the same networks agree.
"""

from __future__ import annotations

import argparse
import itertools
import statistics

from scipy.stats import spearmanr

from hasearch.catalog import resolve_space
from hasearch.supernet import latency_model
from hasearch.supernet.latency import MIN_SECONDS, time_in_rounds, validation_networks

SHAPE = (3, 32, 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="darts")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--children", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timings", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS)
    args = parser.parse_args()
    definition = resolve_space(args.space)
    table = latency_model(definition.family, SHAPE, 10, batch_size=args.batch)  # builds networks only: nothing is timed or cached
    _, networks = validation_networks(table, definition.space, children=args.children, seed=args.seed)
    timings = [time_in_rounds(networks, min_seconds=args.min_seconds) for _ in range(args.timings)]
    print(f"{args.space}, batch {args.batch}, {args.children} children: span {max(timings[0]) / min(timings[0]):.2f}x")
    for (i, a), (j, b) in itertools.combinations(enumerate(timings), 2):
        diff = statistics.median(abs(p - q) / q for p, q in zip(a, b, strict=True))
        print(f"timings {i} and {j}: Spearman {spearmanr(a, b).statistic:.3f}, median relative difference {100 * diff:.1f}%")


if __name__ == "__main__":
    main()
