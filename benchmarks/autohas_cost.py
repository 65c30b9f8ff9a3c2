"""Search cost of AutoHAS (seed 000 Table 3 layout): wall time and peak memory of N search
steps of AutoHAS (REINFORCE) and of the differentiable variant, against N training steps
of the baseline network standalone (AutoHAS steps include the paired pre-step reward
forward, as AutoHAS runs by default; ``autohas-unfolded`` with the reward forwards' BatchNorm
not folded into the 1x1 convolutions, ``autohas-float32-256`` with float32 rewards,
``autohas-baseline`` every step on the baseline's child, the network the standalone steps
train: ``autohas`` samples children uniformly, 14% fewer MACs than the baseline's on average
in ``mbconv``); ``autohas-search`` is a whole AutoHAS search
(``AutoHAS.run``, joint mode, ``--search-seconds`` of budget) as seed 000 Table 3 counts
search cost: its first 30% are warm-up steps without controller updates, which score no
rewards except the last ones before the first update, and checkpoints and the history are
written as a search writes them; its time per step is the search's after its first
``--warm-up`` steps. Each
variant runs in its own subprocess; peak memory
is the process's peak RSS (VmHWM) over model construction, warm-up and the steps, minus its
RSS once the data were loaded: weights, optimizer states, activations and allocator caches.

    .venv/bin/python benchmarks/autohas_cost.py --steps 60 --repeats 3 [--warm-up 150]
    .venv/bin/python benchmarks/autohas_cost.py --variants autohas autohas-search --search-seconds 300

AutoHAS meets a new child shape (and augmentation setting) in most of its first steps,
which costs oneDNN primitive creation and augmenter construction once; the standalone
network has one shape. ``--warm-up`` untimed steps (default 5) before the timed ones: 150
measures the steady state of a search (thousands of steps), 5 includes those one-off costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ("standalone", "autohas", "autohas-baseline", "autohas-unfolded", "autohas-float32-256", "differentiable", "autohas-search")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


class StepClock:
    """A reporter that notes when each search step ended."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def start(self, key: str, description: str, total: float | None) -> None:
        pass

    def update(self, key: str, *, completed: float | None = None, description: str | None = None) -> None:
        self.times.append(time.perf_counter())

    def stop(self, key: str) -> None:
        pass

    def log(self, text: str) -> None:
        pass


def measure_search(seconds: float, dataset: str, threads: int, warm_up: int) -> dict[str, float]:
    """A whole AutoHAS search: seconds per step after the first ``warm_up`` steps."""
    import tempfile

    import torch

    from hasearch.autohas import AutoHAS
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.problem import Problem
    from hasearch.store import RunDir
    from hasearch.strategies.base import SearchContext

    torch.set_num_threads(threads)
    problem = Problem(resolve_space("mbconv"), make_splits(resolve_dataset(dataset)), 9.0, 0)
    Path("/proc/self/clear_refs").write_text("5")
    base_rss = _rss_kib("VmRSS")
    clock = StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(Path(tmp) / "run")
        AutoHAS(seed=0).run(SearchContext(problem, run, seconds, clock))
        run.close()
    timed = clock.times[warm_up:]
    return {"seconds": timed[-1] - timed[0], "steps": len(timed) - 1, "peak_mib": (_rss_kib("VmHWM") - base_rss) / 1024}


def standalone_step(definition: Any, data: Any) -> Callable[[int], None]:
    """One training step of the space's baseline network as the trainer takes it
    (``TrainingRun.step``: augmentation, forward, backward, optimizer step) on a random batch."""
    import torch

    from hasearch.data.augment import BatchAugmenter
    from hasearch.train.hparams import AugmentationSettings, TrainingHyperparameters
    from hasearch.train.trainer import Budget, TrainingRun

    baseline = definition.baseline
    model = definition.build(baseline, data.input_shape, data.num_classes).to(memory_format=torch.channels_last)
    hp = TrainingHyperparameters.from_config(baseline)
    run = TrainingRun(model.train(), hp.make_optimizer(model), BatchAugmenter.for_data(AugmentationSettings(), data),
                      hp, torch.channels_last, 1, Budget(1), 0)
    gen = torch.Generator().manual_seed(0)

    def step(i: int) -> None:
        idx = torch.randint(0, len(data.train), (hp.batch_size,), generator=gen)
        run.step(data.train.x[idx], data.train.y[idx], gen, i)

    return step


def measure(variant: str, steps: int, dataset: str, threads: int, warm_up: int) -> dict[str, float]:
    import torch

    from hasearch.autohas.controller import Controller
    from hasearch.autohas.differentiable import DifferentiableAutoHAS, MixtureSupernet
    from hasearch.autohas.engine import SharedWeightsTrainer
    from hasearch.autohas.strategy import AutoHASOptions
    from hasearch.autohas.temporary import temporary_weights
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.models.mbconv import MBCONV
    from hasearch.space import BasisSet
    from hasearch.supernet import MBConvSupernet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if variant == "autohas-unfolded":  # the reward forwards without the 1x1 conv + BatchNorm + ReLU6 fold
        import hasearch.supernet.mbconv

        hasearch.supernet.mbconv.can_fold = lambda x, cout: False
    definition = resolve_space("mbconv")
    data = make_splits(resolve_dataset(dataset))
    space, baseline = definition.space, definition.baseline
    bases = BasisSet(space)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS: data loaded, nothing built yet
    base_rss = _rss_kib("VmRSS")
    if variant == "standalone":
        step = standalone_step(definition, data)
    else:
        net_class = MixtureSupernet if variant == "differentiable" else MBConvSupernet
        net = net_class(MBCONV, space, data.input_shape, data.num_classes)
        options = AutoHASOptions()  # the reward as AutoHAS scores it by default, or as it did before (float32, 256 images)
        old = variant == "autohas-float32-256"
        trainer = SharedWeightsTrainer(net, data, seed=0, val_batch=256 if old else options.val_batch, reward_dtype=None if old else options.reward_dtype())
        controller = Controller({n: len(bases[n]) for n in space.names}, seed=0)
        arch_opt = torch.optim.Adam(list(getattr(net, "arch_logits", {}).values()) or [torch.zeros(1)], lr=3e-3)

        def step(i: int) -> None:
            sample = controller.sample()
            config = bases.from_indices(sample.indices)
            if variant == "autohas-baseline":  # the standalone network's child: the same work as a standalone step
                config = dict(baseline)
            if variant != "differentiable":
                reward = trainer.step(config, net.arch_of(config), 1.0, paired=True).accuracy  # as AutoHAS runs; W steps inside
            else:
                optimizer = trainer.configure(config, 1.0)
                trainer.gradient(config, None)
                reward = DifferentiableAutoHAS._arch_step(trainer, net, arch_opt, temporary_weights(optimizer, trainer.names))
                optimizer.step()
            controller.update(sample, reward, [n for n in space.names if n in config])

    for i in range(warm_up):  # first allocations, oneDNN primitives and augmenters of new shapes / settings
        step(-1 - i)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": steps, "peak_mib": (_rss_kib("VmHWM") - base_rss) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm-up", type=int, default=5, help="untimed steps first (AutoHAS's first steps meet new child shapes)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--search-seconds", type=float, default=300.0, help="the budget of the autohas-search variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "autohas-search":
        print(json.dumps(measure_search(args.search_seconds, args.dataset, args.threads, args.warm_up)))
        return
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.dataset, args.threads, args.warm_up)))
        return
    variants = ["standalone", *(v for v in args.variants if v != "standalone")]
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.repeats):  # variants interleaved, each in a fresh process
        for variant in variants:
            cmd = [sys.executable, __file__, "--child", variant, "--steps", str(args.steps),
                   "--dataset", args.dataset, "--threads", str(args.threads), "--warm-up", str(args.warm_up),
                   "--search-seconds", str(args.search_seconds)]
            samples[variant].append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    per_step = {v: [s["seconds"] / s["steps"] for s in samples[v]] for v in variants}
    med = {v: {"step_ms": 1000 * statistics.median(per_step[v]), "peak_mib": statistics.median(s["peak_mib"] for s in samples[v])} for v in variants}
    print(f"{args.dataset}, mbconv, {args.steps} steps after {args.warm_up} untimed (autohas-search: a "
          f"{args.search_seconds:g} s search after its first {args.warm_up} steps), batch 128, {args.threads} threads, "
          f"median of {args.repeats}\n")
    print("| variant | time per step (ms) | time / standalone | per repeat | peak memory growth (MiB) | memory / standalone |")
    print("|---|---:|---:|---|---:|---:|")
    for v in variants:
        ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(per_step[v], per_step["standalone"], strict=True))
        print(f"| {v} | {med[v]['step_ms']:.1f} | {med[v]['step_ms'] / med['standalone']['step_ms']:.2f} | {ratios} "
              f"| {med[v]['peak_mib']:.0f} | {med[v]['peak_mib'] / max(med['standalone']['peak_mib'], 1e-9):.2f} |")
    if "autohas" in med and "differentiable" in med:
        ratio = med["autohas"]["peak_mib"] / max(med["differentiable"]["peak_mib"], 1e-9)
        print(f"\nAutoHAS (REINFORCE) memory / differentiable memory: {ratio:.2f}")


if __name__ == "__main__":
    main()
