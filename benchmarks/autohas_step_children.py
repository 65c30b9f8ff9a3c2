"""AutoHAS step time by the child it trains, against the standalone step, in one process.

``autohas_cost.py`` samples children uniformly, as a fresh controller does; in ``mbconv``
those have 14% fewer MACs than the baseline network the standalone steps train, and a
converging controller moves to heavier ones (larger kernels, expansion 6). This script
times, interleaved round by round in one process (so machine noise hits all alike), the
median step of: the standalone baseline (``autohas_cost.standalone_step``), and AutoHAS steps
(``SharedWeightsTrainer.step`` with the paired reward, as AutoHAS runs) on uniformly
sampled children, on the baseline's child (the same network as standalone) and on the
child a 90 s demo search converged to (kernel 5 in blocks 1-4, expansion 6).

    .venv/bin/python benchmarks/autohas_step_children.py [--rounds 4] [--steps 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from autohas_cost import standalone_step  # the standalone step autohas_cost.py times

from hasearch.autohas.controller import Controller
from hasearch.autohas.engine import SharedWeightsTrainer
from hasearch.autohas.strategy import AutoHASOptions
from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.models.mbconv import MBCONV
from hasearch.space import BasisSet
from hasearch.supernet import MBConvSupernet, resource_model


def median_ms(step: Callable[[int], None], steps: int) -> float:
    times = []
    for i in range(steps):
        start = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    definition, data = resolve_space("mbconv"), make_splits(resolve_dataset("mnist5k"))
    space, baseline = definition.space, dict(definition.baseline)
    bases = BasisSet(space)
    net = MBConvSupernet(MBCONV, space, data.input_shape, data.num_classes)
    options = AutoHASOptions()
    trainer = SharedWeightsTrainer(net, data, seed=0, val_batch=options.val_batch, reward_dtype=options.reward_dtype())
    controller = Controller({n: len(bases[n]) for n in space.names}, seed=0)
    converged = dict(baseline, **{f"kernel_{i}": 5 for i in (1, 2, 3, 4)})

    def autohas(pick: Callable[[], dict]) -> Callable[[int], None]:
        def step(i: int) -> None:
            config = pick()
            trainer.step(config, net.arch_of(config), 1.0, paired=True)

        return step

    rows = {
        "standalone (baseline network)": standalone_step(definition, data),
        "AutoHAS, uniformly sampled children": autohas(lambda: bases.from_indices(controller.sample().indices)),
        "AutoHAS, the baseline's child": autohas(lambda: baseline),
        "AutoHAS, a converged child (kernel 5 in blocks 1-4)": autohas(lambda: converged),
    }
    for step in rows.values():
        median_ms(step, 10)  # first allocations and oneDNN primitives
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, step in rows.items():
            samples[name].append(median_ms(step, args.steps))
    macs = resource_model(definition.family, data.input_shape, data.num_classes)
    uniform_macs = statistics.mean(macs.cost(bases.from_indices(controller.sample().indices)) for _ in range(500))
    print(f"mnist5k, mbconv, {args.threads} threads, {args.rounds} rounds x median of {args.steps} steps; MACs: baseline "
          f"{macs.cost(baseline) / 1e6:.2f} M, uniform children {uniform_macs / 1e6:.2f} M, converged {macs.cost(converged) / 1e6:.2f} M\n")
    print("| step | median ms | / standalone | per round / standalone |\n|---|---:|---:|---|")
    reference = samples["standalone (baseline network)"]
    for name, values in samples.items():
        ratios = ", ".join(f"{v / r:.2f}" for v, r in zip(values, reference, strict=True))
        print(f"| {name} | {statistics.median(values):.1f} | {statistics.median(values) / statistics.median(reference):.2f} | {ratios} |")


if __name__ == "__main__":
    main()
