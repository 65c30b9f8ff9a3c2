"""Validate the latency look-up table: predicted vs measured whole-network latency.

    .venv/bin/python benchmarks/latency_table.py --children 30 --seed 0

For each built-in space (mbconv, mobilenetv2, resnet-joint, darts; ``--spaces`` picks some) on a 3x32x32 input, batch 1 and 32, this
machine's threads: build the table (grid of layer shapes, thinned channels; the rest interpolated),
with its calibration networks (the scale of whole networks to summed layers), and time
random children (other than the calibration ones) as whole networks in the same
interleaved rounds (build_table(..., also=...): the machine's speed drift hits table and
networks alike); compare the table's prediction (scale x sum of layer entries) with the
child's measured latency.
Prints Spearman's rho and the median relative error, and writes
``benchmarks/results/latency_table.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from hasearch.catalog import resolve_space
from hasearch.supernet import latency_model
from hasearch.supernet.latency import ROUNDS, device_name, time_module, validate_table

SPACES = ("mbconv", "mobilenetv2", "resnet-joint", "darts")
SHAPE = (3, 32, 32)


def validate(space_name: str, children: int, seed: int, cache: Path, batch: int) -> dict[str, object]:
    definition = resolve_space(space_name)
    table = latency_model(definition.family, SHAPE, 10, batch_size=batch, cache=cache)
    x = torch.rand(batch, *SHAPE).contiguous(memory_format=torch.channels_last)
    reference = definition.build(definition.baseline, SHAPE, 10).to(memory_format=torch.channels_last)
    reference_before = time_module(reference, x)  # the machine's speed drifts: the baseline timed before and after
    # the table built as hasearch builds it (grid layers + calibration networks), with the
    # validation children timed in the same rounds (validate_table)
    start = time.perf_counter()
    check = validate_table(table, definition.space, children=children, seed=seed)
    build_seconds = time.perf_counter() - start
    assert check.measured_to_predict == 0, "a layer was neither on the grid nor interpolable"
    interpolated = sum(layer not in table.entries for c in check.configs for layer in table.layers(c))
    reference_after = time_module(reference, x)
    return {
        "space": space_name,
        "batch_size": batch,
        "min_rounds": ROUNDS,
        "grid_entries": len(table.grid(definition.space)),
        "scale": table.scale,
        "grid_and_children_seconds": round(build_seconds, 1),
        "children": check.children,
        "interpolated_layers": interpolated,
        "spearman": check.spearman,
        "median_relative_error": check.median_relative_error,
        "baseline_ms_before_and_after": [round(reference_before, 4), round(reference_after, 4)],
        "measured_ms": [round(m, 4) for m in check.measured_ms],
        "predicted_ms": [round(p, 4) for p in check.predicted_ms],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=SPACES)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latency_table.json")
    args = parser.parse_args()
    results = {"device": device_name(), "threads": torch.get_num_threads(), "torch": torch.__version__, "spaces": []}
    with tempfile.TemporaryDirectory() as cache:  # build from scratch, not from the user's cache
        for batch, name in [(b, n) for b in args.batch_sizes for n in args.spaces]:
            result = validate(name, args.children, args.seed, Path(cache), batch)
            results["spaces"].append(result)
            print(f"{name}, batch {batch}: {result['grid_entries']} grid entries and the children timed in {result['grid_and_children_seconds']}s; "
                  f"{result['interpolated_layers']} layers interpolated; Spearman {result['spearman']:.3f}, "
                  f"median relative error {100 * result['median_relative_error']:.1f}%; baseline timed "
                  f"{result['baseline_ms_before_and_after'][0]:.2f} ms before the build, {result['baseline_ms_before_and_after'][1]:.2f} ms "
                  "after the validation", flush=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
