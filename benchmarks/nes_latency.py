"""Seed 003's latency-target row at CPU scale: NES under a measured-latency target against
uniform rescaling at the same latency, and the shape NES picks on this CPU.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nes_latency.py \
        --dataset imagefolder:/work/shared/datasets/cifar10-jpeg-subset --seeds 0 1 2 \
        --targets 0.95 0.7 --epochs 4 --search-budget 60

The latency table of ``mobilenetv2`` on this device (batch 1, this process's thread count;
built first if the cache lacks it) gives the baseline's predicted latency; the target is
each of ``--targets`` times it. Every row runs as the CLI runs it (``hasearch search --space
mobilenetv2 --strategy ROW --target-latency MS --no-baseline``, see ``nes_table1.py``),
then every found network and the baseline are timed as whole networks in the same rounds
(:func:`hasearch.supernet.latency.time_in_rounds`), so each row's measured latency is
compared under the same machine conditions. Also printed: what one step down of each
ordered coordinate saves at the baseline, in MACs and in predicted ms (the price of width,
depth and resolution on this CPU). Writes ``benchmarks/results/nes_latency_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from nes_table1 import SPACE, run_row

ROWS = ("uniform-channel", "uniform-input", "uniform-channel-input", "nes-channel-input", "nes")


def latency_table(dataset: str) -> tuple[Any, Any, Any]:
    """The space definition, the data's (input shape, classes) and its built latency table."""
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.supernet import latency_model
    from hasearch.supernet.latency import build_table

    definition = resolve_space(SPACE)
    data = make_splits(resolve_dataset(dataset))
    table = latency_model(definition.family, data.input_shape, data.num_classes)
    if not table.built:
        build_table(table, definition.space)
    return definition, (data.input_shape, data.num_classes), table


def measure(definition: Any, shape: tuple[Any, int], configs: list[dict[str, Any]]) -> list[float]:
    """Whole-network ms per image (batch 1) of each configuration, timed in shared rounds."""
    import torch

    from hasearch.supernet.latency import time_in_rounds

    input_shape, classes = shape
    x = torch.rand(1, *input_shape).contiguous(memory_format=torch.channels_last)
    nets = [(definition.build(c, input_shape, classes).to(memory_format=torch.channels_last).eval(), x) for c in configs]
    return time_in_rounds(nets, min_seconds=10.0)


def shape_of(config: dict[str, Any]) -> str:
    widths = "/".join(f"{config[k]:g}" for k in sorted(config) if k.startswith("width_"))
    depths = "/".join(str(config[k]) for k in sorted(config) if k.startswith("depth_"))
    return f"width {widths}, depth {depths}, input {config['input_scale']:g}"


def step_prices(definition: Any, table: Any, shape: tuple[Any, int]) -> list[tuple[str, float, float]]:
    """(parameter, MACs saved, predicted ms saved) for one step down of each ordered
    architecture parameter from the baseline."""
    from hasearch.nes.coordinates import ordered_values
    from hasearch.supernet import resource_model

    macs = resource_model(definition.family, *shape)
    base = dict(definition.space.baseline)
    prices = []
    for param in definition.space.ordered_architecture():
        values = ordered_values(param)
        index = values.index(base[param.name])
        if index == 0:
            continue
        lower = {**base, param.name: values[index - 1]}
        prices.append((param.name, macs.cost(base) - macs.cost(lower), table.cost(base) - table.cost(lower)))
    return prices


def report(results: list[dict[str, Any]], baseline_ms: float) -> str:
    lines = ["| row | test % | MACs (M) | predicted ms | measured ms (vs baseline) | shape (seed 0) |", "|---|---|---|---|---|---|"]
    for row in ROWS:
        done = [r for r in results if r["row"] == row and "test_accuracy" in r]
        if not done:
            continue
        acc = [100 * r["test_accuracy"] for r in done]
        spread = f" +- {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
        measured = statistics.fmean(r["measured_ms"] for r in done)
        lines.append(
            f"| {row} | {statistics.fmean(acc):.2f}{spread} | {statistics.fmean(r['macs'] for r in done) / 1e6:.2f} | "
            f"{statistics.fmean(r['predicted_ms'] for r in done):.3f} | {measured:.3f} ({measured / baseline_ms:.2f}x) | {shape_of(done[0]['config'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.95, 0.7], help="fractions of the baseline's predicted latency")
    parser.add_argument("--epochs", type=float, default=4.0, help="from-scratch retraining budget of every row")
    parser.add_argument("--search-budget", type=int, default=60, help="seconds of NES search")
    parser.add_argument("--rows", nargs="+", default=list(ROWS))
    args = parser.parse_args()
    definition, shape, table = latency_table(args.dataset)
    baseline_ms = table.cost(definition.space.baseline)
    out = Path(__file__).parent / "results" / f"nes_latency_{args.dataset.replace(':', '_').replace('/', '_')}.json"
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            for fraction in args.targets:
                for row in args.rows:
                    results.append(run_row(row, round(fraction * baseline_ms, 4), seed, args, Path(root), flag="--target-latency"))
                    print(json.dumps(results[-1]), flush=True)
    found = [r for r in results if "config" in r]
    timings = measure(definition, shape, [dict(definition.space.baseline)] + [r["config"] for r in found])
    for r, ms in zip(found, timings[1:], strict=True):
        r["measured_ms"], r["predicted_ms"] = ms, table.cost(r["config"])
    prices = step_prices(definition, table, shape)
    document = {"args": vars(args), "baseline_predicted_ms": baseline_ms,
                "baseline_measured_ms": timings[0], "table": str(table.path), "step_prices": prices, "results": results}  # fmt: skip
    out.write_text(json.dumps(document, indent=1))
    print(f"baseline: predicted {baseline_ms:.3f} ms, measured {timings[0]:.3f} ms")
    for target in sorted({r["target"] for r in results}, reverse=True):
        print(f"target {target:.3f} ms ({target / baseline_ms:.2f}x the baseline's predicted latency)")
        print(report([r for r in results if r["target"] == target], timings[0]))
    print("| one step down at the baseline | MACs saved | predicted ms saved | ms per M MACs |\n|---|---|---|---|")
    for name, macs, ms in prices:
        print(f"| {name} | {macs / 1e6:.3f} M | {ms:.3f} | {ms / (macs / 1e6) if macs else float('nan'):.3f} |")


if __name__ == "__main__":
    main()
