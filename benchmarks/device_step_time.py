"""Median training-step time of each built-in space's baseline on the CPU and on CUDA (fp32
and bf16), and the AutoHAS step / standalone step ratio on each device (seed 000: 1.21x).

One step = batch augmentation + forward + backward + optimizer step as in the trainer
(``TrainingRun.step`` under the run's ``Compute``), data already on the device, batch 128;
on CUDA every timed step ends with ``torch.cuda.synchronize``. The AutoHAS step is
``SharedWeightsTrainer.step`` (gradient, W*, paired rewards on 256 validation images) plus
the real update, on the ``mbconv`` supernet, sampled configurations. Settings are
interleaved round by round so machine noise hits them alike. CUDA rows are skipped where
there is no GPU.

    .venv/bin/python benchmarks/device_step_time.py [--rounds 5] [--steps 20] [--dataset mnist5k]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from hasearch.autohas.controller import Controller
from hasearch.autohas.engine import SharedWeightsTrainer, reward_precision
from hasearch.catalog import builtin_space_names, resolve_space
from hasearch.data import DataSplits, make_splits, resolve_dataset
from hasearch.data.augment import BatchAugmenter
from hasearch.device import Compute
from hasearch.models.mbconv import MBCONV
from hasearch.space import BasisSet
from hasearch.supernet import MBConvSupernet
from hasearch.train.hparams import AugmentationSettings, TrainingHyperparameters
from hasearch.train.trainer import Budget, TrainingRun

RESULTS = Path(__file__).parent / "results" / "device_step_time.json"


def settings() -> list[Compute]:
    found = [Compute("cpu", "fp32")]
    if torch.cuda.is_available():
        found += [Compute("cuda:0", "fp32"), Compute("cuda:0", "bf16")]
    return found


def timed(step: Callable[[int], None], compute: Compute, steps: int) -> float:
    """Median seconds of ``steps`` calls after 3 warm-up calls."""
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        step(i)
        if compute.is_cuda:
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def standalone(space: str, data: DataSplits, compute: Compute, batch: int) -> Callable[[int], None]:
    definition = resolve_space(space)
    config = dict(definition.baseline, batch_size=batch)
    torch.manual_seed(0)
    model = definition.build(config, data.input_shape, data.num_classes).to(compute.torch_device, memory_format=torch.channels_last)
    hp = TrainingHyperparameters.from_config(config)
    augment = BatchAugmenter.for_data(AugmentationSettings.from_config(config), data)
    run = TrainingRun(model.train(), hp.make_optimizer(model), augment, hp, torch.channels_last, 1, Budget(1), 0, compute)
    gen = torch.Generator().manual_seed(0)
    x, y = data.train.x[:batch], data.train.y[:batch]

    def step(i: int) -> None:
        run.step(x, y, gen, i)

    return step


def autohas(data: DataSplits, compute: Compute) -> Callable[[int], None]:
    space = resolve_space("mbconv").space
    bases = BasisSet(space)
    torch.manual_seed(0)
    net = MBConvSupernet(MBCONV, space, data.input_shape, data.num_classes)
    trainer = SharedWeightsTrainer(net, data, seed=0, reward_dtype=reward_precision(compute.torch_device), compute=compute)
    controller = Controller({n: len(bases[n]) for n in space.names}, seed=0)

    def step(i: int) -> None:
        sample = controller.sample()
        config = bases.from_indices(sample.indices)
        result = trainer.step(config, net.arch_of(config), 1.0, paired=True)  # W takes its step inside
        controller.update(sample, result.accuracy, [n for n in space.names if n in config])

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu_data = make_splits(resolve_dataset(args.dataset))
    computes = settings()
    data = {c: cpu_data.to(c.torch_device) for c in computes}
    rows = [*builtin_space_names(), "autohas-mbconv"]
    samples: dict[tuple[str, Compute], list[float]] = {(r, c): [] for r in rows for c in computes}
    for _ in range(args.rounds):
        for compute in computes:
            for row in rows:
                step = autohas(data[compute], compute) if row == "autohas-mbconv" else standalone(row, data[compute], compute, args.batch)
                samples[(row, compute)].append(timed(step, compute, args.steps))
    ms = {k: 1000 * statistics.median(v) for k, v in samples.items()}
    names = [f"{c.device} {c.precision}" for c in computes]
    print(f"{args.dataset} {cpu_data.input_shape}, batch {args.batch}, {args.rounds} rounds x {args.steps} steps, "
          f"{args.threads} CPU threads, torch {torch.__version__}" + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    print("| step | " + " | ".join(f"{n} median ms" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in rows:
        print(f"| {row} | " + " | ".join(f"{ms[(row, c)]:.2f}" for c in computes) + " |")
    ratio = {n: ms[("autohas-mbconv", c)] / ms[("mbconv", c)] for n, c in zip(names, computes, strict=True)}
    print("AutoHAS step / standalone mbconv step: " + ", ".join(f"{n} {r:.2f}x" for n, r in ratio.items()))
    RESULTS.write_text(json.dumps({"args": vars(args), "ms": {f"{r} | {c.device} {c.precision}": v for (r, c), v in ms.items()},
                                   "autohas_ratio": ratio}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
