"""Median training-step time of each built-in space's baseline, NCHW vs channels_last.

One step = batch augmentation + forward + backward + optimizer step, as in the trainer,
on mnist5k with batch 128. Both memory formats are measured side by side in one run,
interleaved round by round, so machine noise hits both alike.

    .venv/bin/python benchmarks/step_time.py [--rounds 5] [--steps 20] [--dataset mnist5k]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hasearch.catalog import builtin_space_names, resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.data.augment import BatchAugmenter
from hasearch.train.hparams import AugmentationSettings, TrainingHyperparameters
from hasearch.train.trainer import Budget, TrainingRun

FORMATS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


def time_steps(space: str, data, fmt: torch.memory_format, steps: int, batch: int) -> list[float]:  # type: ignore[no-untyped-def]
    definition = resolve_space(space)
    config = dict(definition.baseline, batch_size=batch)
    torch.manual_seed(0)
    model = definition.build(config, data.input_shape, data.num_classes).to(memory_format=fmt)
    hp = TrainingHyperparameters.from_config(config)
    augment = BatchAugmenter.for_data(AugmentationSettings.from_config(config), data)
    run = TrainingRun(model.train(), hp.make_optimizer(model), augment, hp, fmt, 1, Budget(1), 0)
    gen = torch.Generator().manual_seed(0)
    x, y = data.train.x[:batch], data.train.y[:batch]
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        run.step(x, y, gen, i)
        if i >= 3:  # warm-up steps excluded
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_splits(resolve_dataset(args.dataset))
    print(f"dataset {args.dataset} {data.input_shape}, batch {args.batch}, {args.rounds} rounds x {args.steps} steps, "
          f"{args.threads} threads, torch {torch.__version__}")
    print("| space | NCHW median ms | channels_last median ms | NCHW / channels_last |")
    print("|---|---:|---:|---:|")
    for space in builtin_space_names():
        samples: dict[str, list[float]] = {name: [] for name in FORMATS}
        for _ in range(args.rounds):
            for name, fmt in FORMATS.items():
                samples[name].append(statistics.median(time_steps(space, data, fmt, args.steps, args.batch)))
        nchw, cl = (statistics.median(samples[n]) * 1000 for n in FORMATS)
        print(f"| {space} | {nchw:.1f} | {cl:.1f} | {nchw / cl:.2f} |")


if __name__ == "__main__":
    main()
