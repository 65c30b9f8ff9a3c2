"""Where one DHA step's time goes (seed 001 Alg. 1 on the ``darts`` space), one thread.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dha_step_profile.py --dataset imagefolder:../shared/datasets/cifar10-jpeg-subset

Times, over ``--steps`` steps after ``--warmup``, the whole step and the parts of it that are
wrapped here: the standard augmentation, the policy's augmentation (Sec. 3.1: sampling the
pairs and applying them), and the hypergradient step (Eq. 4: forward and backward of the held
batch at the look-ahead weights). Prints medians in ms and the parts' share of the step, for
full DHA and for the one-stage ISTA step (NAS only) beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.dha import engine as engine_module
from hasearch.dha.components import build_engine, stages_for
from hasearch.dha.strategy import DHAOptions
from hasearch.problem import Problem


def timed(log: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        log.append(time.perf_counter() - start)
        return out

    return wrapper


def profile(dataset: str, components: frozenset[str], steps: int, warmup: int) -> dict[str, float]:
    data = make_splits(resolve_dataset(dataset), seed=0)
    options = DHAOptions(components=components, epochs=1.0)
    engine = build_engine(Problem(resolve_space("darts"), data, 1.0), stages_for(options)[0], {}, options, 0)
    logs: dict[str, list[float]] = defaultdict(list)
    engine.standard = timed(logs["standard augmentation"], engine.standard)
    if engine.policy is not None:
        engine.policy.augment_normalised = timed(logs["policy augmentation"], engine.policy.augment_normalised)  # type: ignore[method-assign]
    original = engine_module.hypergradient_step
    engine_module.hypergradient_step = timed(logs["hypergradient step"], original)
    try:
        for i in range(warmup + steps):
            start = time.perf_counter()
            engine.step(i / (warmup + steps))
            logs["step"].append(time.perf_counter() - start)
    finally:
        engine_module.hypergradient_step = original
    return {name: 1000 * statistics.median(v[warmup:]) for name, v in logs.items() if len(v) > warmup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for label, components in (("dha", frozenset({"nas", "da", "hpo"})), ("ista", frozenset({"nas"}))):
        medians = profile(args.dataset, components, args.steps, args.warmup)
        step = medians["step"]
        parts = ", ".join(f"{k} {v:.1f} ms ({100 * v / step:.1f}%)" for k, v in medians.items() if k != "step")
        print(f"{label}: step {step:.1f} ms (median of {args.steps}); {parts}")


if __name__ == "__main__":
    main()
