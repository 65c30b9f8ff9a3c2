"""Validate the latency look-up table: predicted vs measured whole-network latency.

    .venv/bin/python benchmarks/latency_table.py --children 30 --seed 0

For each built-in space (mbconv, mobilenetv2, resnet-joint) on a 3x32x32 input, batch 1 and 32, this
machine's threads: build the table (grid of layer shapes, thinned channels; the rest interpolated),
and time random children as whole networks, both in the same interleaved rounds
(time_in_rounds over the grid's layers and the children together, the fastest round of each
counts, so that the machine's speed drift hits table and networks alike); compare the
table's prediction (sum of layer entries) with the child's measured latency.
Prints Spearman's rho and the median relative error, and writes
``benchmarks/results/latency_table.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from hasearch.catalog import resolve_space
from hasearch.supernet import latency_model
from hasearch.supernet.latency import device_name, time_in_rounds, time_module

SPACES = ("mbconv", "mobilenetv2", "resnet-joint")
SHAPE = (3, 32, 32)


def validate(space_name: str, children: int, seed: int, cache: Path, batch: int, rounds: int) -> dict[str, object]:
    definition = resolve_space(space_name)
    table = latency_model(definition.family, SHAPE, 10, batch_size=batch, cache=cache)
    x = torch.rand(batch, *SHAPE).contiguous(memory_format=torch.channels_last)
    reference = definition.build(definition.baseline, SHAPE, 10).to(memory_format=torch.channels_last)
    reference_before = time_module(reference, x)  # the machine's speed drifts: the baseline timed before and after
    rng = np.random.default_rng(seed)
    configs = [dict(definition.space.sample(rng)) for _ in range(children)]
    nets = [definition.build(c, SHAPE, 10).to(memory_format=torch.channels_last).eval() for c in configs]
    grid = [layer for layer in table.grid(definition.space) if layer not in table.entries]
    # the grid's layers and the whole children timed in the same interleaved rounds (the
    # fastest round counts for each): the machine's drift hits the table and the networks alike
    start = time.perf_counter()
    timings = time_in_rounds([table.timing_item(layer) for layer in grid] + [(n, x) for n in nets], rounds=rounds)
    build_seconds = time.perf_counter() - start
    table.record(dict(zip(grid, timings[: len(grid)], strict=True)))
    measured = timings[len(grid) :]
    predicted, interpolated = [], 0
    for config in configs:
        layers = table.layers(config)
        interpolated += sum(layer not in table.entries for layer in layers)
        before = table.measured_now
        predicted.append(table.cost(config))
        assert table.measured_now == before, "a layer was neither on the grid nor interpolable"
    reference_after = time_module(reference, x)
    errors = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
    return {
        "space": space_name,
        "batch_size": batch,
        "rounds": rounds,
        "grid_entries": len(grid),
        "grid_and_children_seconds": round(build_seconds, 1),
        "children": children,
        "interpolated_layers": interpolated,
        "spearman": float(spearmanr(predicted, measured).statistic),
        "median_relative_error": statistics.median(errors),
        "baseline_ms_before_and_after": [round(reference_before, 4), round(reference_after, 4)],
        "measured_ms": [round(m, 4) for m in measured],
        "predicted_ms": [round(p, 4) for p in predicted],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurements of every child (the fastest counts)")
    args = parser.parse_args()
    results = {"device": device_name(), "threads": torch.get_num_threads(), "torch": torch.__version__, "spaces": []}
    with tempfile.TemporaryDirectory() as cache:  # build from scratch, not from the user's cache
        for batch, name in [(b, n) for b in args.batch_sizes for n in SPACES]:
            result = validate(name, args.children, args.seed, Path(cache), batch, args.rounds)
            results["spaces"].append(result)
            print(f"{name}, batch {batch}: {result['grid_entries']} grid entries and the children timed in {result['grid_and_children_seconds']}s; "
                  f"{result['interpolated_layers']} layers interpolated; Spearman {result['spearman']:.3f}, "
                  f"median relative error {100 * result['median_relative_error']:.1f}%; baseline timed "
                  f"{result['baseline_ms_before_and_after'][0]:.2f} ms before the build, {result['baseline_ms_before_and_after'][1]:.2f} ms "
                  "after the validation", flush=True)
    out = Path(__file__).parent / "results" / "latency_table.json"
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
