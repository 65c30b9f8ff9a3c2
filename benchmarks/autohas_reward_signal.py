"""Why does one-run AutoHAS search learn so little on CIFAR? Reward signal vs noise per parameter.

    .venv/bin/python benchmarks/autohas_reward_signal.py --warm-steps 150 --repeats 8 --threads 1

1. Trains the mbconv supernet's shared weights W on the baseline configuration for
   ``--warm-steps`` AutoHAS steps (about where a 10-minute CPU search is when the controller
   starts learning).
2. For every searched parameter and every basis value (the others at the baseline), scores
   the one-step paired reward Q(W*) - Q(W) ``--repeats`` times on fresh training and
   validation batches, without updating W: mean per value (signal = best - worst mean) and
   the standard deviation of one reward (noise).
3. The same for the learning rate with a 4x larger reward batch and with one fixed batch.
4. Times the parts of an AutoHAS step (sampling; gradient, W step and reward forwards;
   controller update).

Writes benchmarks/results/autohas_reward_signal.json and prints a table.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hasearch.autohas.controller import Controller
from hasearch.autohas.engine import SharedWeightsTrainer
from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.models.mbconv import MBCONV
from hasearch.space import BasisSet
from hasearch.supernet import MBConvSupernet

DATASET = "imagefolder:../shared/datasets/cifar10-jpeg-subset"


def paired_rewards(trainer: SharedWeightsTrainer, net: MBConvSupernet, config: dict[str, Any], repeats: int) -> list[float]:
    """``repeats`` one-step paired rewards of ``config``; W is left untouched."""
    out = []
    for _ in range(repeats):
        kept = _weights_and_optimizers(trainer)
        result = trainer.step(config, net.arch_of(config), 1.0, paired=True)
        _restore(trainer, kept)  # the step updated W: put it back
        out.append(result.accuracy - (result.accuracy_before or 0.0))
    return out


def _weights_and_optimizers(trainer: SharedWeightsTrainer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    return ({k: v.clone() for k, v in trainer.net.state_dict().items()},
            {n: copy.deepcopy(o.state_dict()) for n, o in trainer.optimizers.items()})


def _restore(trainer: SharedWeightsTrainer, kept: tuple[dict[str, torch.Tensor], dict[str, Any]]) -> None:
    trainer.net.load_state_dict(kept[0])
    for name, optimizer in trainer.optimizers.items():
        optimizer.load_state_dict(kept[1][name])


def signal_table(trainer: SharedWeightsTrainer, net: MBConvSupernet, bases: BasisSet, names: list[str], repeats: int) -> list[dict[str, Any]]:
    base = dict(net_space_baseline(bases))
    rows = []
    for name in names:
        means, sds = [], []
        for value in bases[name].values:
            config = bases.from_indices({name: bases[name].values.index(value)}, base=base)
            rewards = paired_rewards(trainer, net, config, repeats)
            means.append(statistics.mean(rewards))
            sds.append(statistics.stdev(rewards))
        signal, noise = max(means) - min(means), statistics.mean(sds)
        rows.append({
            "name": name, "values": list(bases[name].values), "mean_reward": means, "sd": sds,
            "signal": signal, "noise": noise,
            # samples per value to separate best from worst at 2 standard errors
            "samples_needed": 2 * (2 * noise / signal) ** 2 if signal > 0 else float("inf"),
        })
        print(f"{name:16} signal {signal:.4f} noise {noise:.4f} means {[round(m, 4) for m in means]}", flush=True)
    return rows


def net_space_baseline(bases: BasisSet) -> dict[str, Any]:
    return dict(bases.space.baseline)


def step_profile(trainer: SharedWeightsTrainer, net: MBConvSupernet, bases: BasisSet, steps: int) -> dict[str, float]:
    controller = Controller({n: len(bases[n]) for n in bases.space.names})
    parts = {"sample": 0.0, "gradient, W step and reward forwards": 0.0, "controller update": 0.0}
    for _ in range(steps):
        t0 = time.perf_counter()
        sample = controller.sample()
        config = bases.from_indices(sample.indices)
        t1 = time.perf_counter()
        trainer.step(config, net.arch_of(config), 1.0, paired=True)
        t2 = time.perf_counter()
        controller.update(sample, 0.5, list(config))
        t3 = time.perf_counter()
        for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[key] += seconds / steps
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=DATASET)
    parser.add_argument("--warm-steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/autohas_reward_signal.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = resolve_space("mbconv").space
    data = make_splits(resolve_dataset(args.dataset))
    net = MBConvSupernet(MBCONV, space, data.input_shape, data.num_classes)
    trainer = SharedWeightsTrainer(net, data, seed=0)
    bases = BasisSet(space)
    baseline = dict(space.baseline)
    start = time.perf_counter()
    for step in range(args.warm_steps):  # W trained on the baseline, cosine rate as in a search's first half
        trainer.step(baseline, net.arch_of(baseline), 1.0)
    warm = time.perf_counter() - start
    profile = step_profile(trainer, net, bases, 10)
    hp = ["optimizer", "lr", "weight_decay", "momentum", "mixup_alpha", "dropout", "label_smoothing", "cutout"]
    arch = [f"{k}_{i}" for i in (0, 3) for k in ("kernel", "expansion")]
    rows = signal_table(trainer, net, bases, hp + arch, args.repeats)
    variants = {}
    for label, val_batch, fixed in (("reward batch 1024", 1024, False), ("one fixed reward batch", 256, True)):
        trainer.val_batch = val_batch
        if fixed:
            batch = trainer._val_batch()
            trainer._val_batch = lambda batch=batch: batch  # type: ignore[method-assign]
        variants[label] = signal_table(trainer, net, bases, ["lr", "weight_decay"], args.repeats)
    result = {"args": vars(args), "warm_seconds": warm, "step_profile_seconds": profile, "rows": rows, "variants": variants}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print("\nstep profile (s):", {k: round(v, 4) for k, v in profile.items()})
    print("| parameter | signal (best - worst mean paired reward) | noise (sd of one reward) | samples per value for 2 SE |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['signal']:.4f} | {r['noise']:.4f} | {r['samples_needed']:.0f} |")
    for label, vrows in variants.items():
        for r in vrows:
            print(f"| {r['name']} ({label}) | {r['signal']:.4f} | {r['noise']:.4f} | {r['samples_needed']:.0f} |")


if __name__ == "__main__":
    main()
