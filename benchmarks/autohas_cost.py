"""Search cost of AutoHAS (seed 000 Table 3 layout): wall time and peak memory of N search
steps of AutoHAS (REINFORCE) and of the differentiable variant, against N training steps
of the baseline network standalone (AutoHAS steps include the paired pre-step reward
forward, as AutoHAS runs by default; ``autohas-unfolded`` with the reward forwards' BatchNorm
not folded into the 1x1 convolutions, ``autohas-float32-256`` with float32 rewards). Each
variant runs in its own subprocess; peak memory
is the process's peak RSS (VmHWM) over model construction, warm-up and the steps, minus its
RSS once the data were loaded: weights, optimizer states, activations and allocator caches.

    .venv/bin/python benchmarks/autohas_cost.py --steps 60 --repeats 3 [--warm-up 150]

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
from pathlib import Path

VARIANTS = ("standalone", "autohas", "autohas-unfolded", "autohas-float32-256", "differentiable")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def measure(variant: str, steps: int, dataset: str, threads: int, warm_up: int) -> dict[str, float]:
    import torch

    from hasearch.autohas.controller import Controller
    from hasearch.autohas.differentiable import DifferentiableAutoHAS, MixtureSupernet
    from hasearch.autohas.engine import SharedWeightsTrainer
    from hasearch.autohas.strategy import AutoHASOptions
    from hasearch.autohas.temporary import temporary_weights
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.data.augment import BatchAugmenter
    from hasearch.models.mbconv import MBCONV
    from hasearch.space import BasisSet
    from hasearch.supernet import MBConvSupernet
    from hasearch.train.hparams import AugmentationSettings, TrainingHyperparameters
    from hasearch.train.trainer import Budget, TrainingRun

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
        model = definition.build(baseline, data.input_shape, data.num_classes).to(memory_format=torch.channels_last)
        hp = TrainingHyperparameters.from_config(baseline)
        run = TrainingRun(model.train(), hp.make_optimizer(model), BatchAugmenter.for_data(AugmentationSettings(), data),
                          hp, torch.channels_last, 1, Budget(1), 0)
        gen = torch.Generator().manual_seed(0)

        def step(i: int) -> None:
            idx = torch.randint(0, len(data.train), (hp.batch_size,), generator=gen)
            run.step(data.train.x[idx], data.train.y[idx], gen, i)
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
    return {"seconds": seconds, "peak_mib": (_rss_kib("VmHWM") - base_rss) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm-up", type=int, default=5, help="untimed steps first (AutoHAS's first steps meet new child shapes)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.dataset, args.threads, args.warm_up)))
        return
    variants = ["standalone", *(v for v in args.variants if v != "standalone")]
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.repeats):  # variants interleaved, each in a fresh process
        for variant in variants:
            cmd = [sys.executable, __file__, "--child", variant, "--steps", str(args.steps),
                   "--dataset", args.dataset, "--threads", str(args.threads), "--warm-up", str(args.warm_up)]
            samples[variant].append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    med = {v: {k: statistics.median(s[k] for s in samples[v]) for k in ("seconds", "peak_mib")} for v in variants}
    print(f"{args.dataset}, mbconv, {args.steps} steps after {args.warm_up} untimed, batch 128, "
          f"{args.threads} threads, median of {args.repeats}\n")
    print("| variant | time (s) | time / standalone | peak memory growth (MiB) | memory / standalone |")
    print("|---|---:|---:|---:|---:|")
    for v in variants:
        print(f"| {v} | {med[v]['seconds']:.1f} | {med[v]['seconds'] / med['standalone']['seconds']:.2f} "
              f"| {med[v]['peak_mib']:.0f} | {med[v]['peak_mib'] / max(med['standalone']['peak_mib'], 1e-9):.2f} |")
    if "autohas" in med and "differentiable" in med:
        ratio = med["autohas"]["peak_mib"] / max(med["differentiable"]["peak_mib"], 1e-9)
        print(f"\nAutoHAS (REINFORCE) memory / differentiable memory: {ratio:.2f}")


if __name__ == "__main__":
    main()
