"""How much of NES's gradient G is the resource term's, over one search (the audit of seed 003).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nes_gradient_share.py \
        --dataset imagefolder:/work/shared/datasets/cifar10-jpeg-subset --seconds 120 --target 0.5

Runs hasearch's own NES search (``mobilenetv2``, widths and input scale, MACs target a
fraction of the baseline's) and splits every update's G into the classification part G_c
(Eq. 7 on L_c, with the update's own perturbations) and the resource part (Eq. 7 on
rho (R / R_t - 1)^2 with ``--resource-gradient nes``, the paper; sigma * rho * the
central difference with ``exact``). Reported per quarter of the search: the rms of each
part, the share of coordinates whose step direction the resource part decides, the share
of updates that hit the one-step bound, and the mean |R / R_t - 1| of H's child.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hasearch.nes.strategy as nes_strategy
from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.nes.estimator import nes_gradient, perturbations
from hasearch.nes.target import penalty_gradient
from hasearch.problem import Problem
from hasearch.reporting import NullReporter
from hasearch.store.run_dir import RunDir
from hasearch.strategies.base import SearchContext
from hasearch.supernet import resource_model


def decomposed_search(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """Run the search; return per update sigma, alpha, G_c, the resource part and |R / R_t - 1|."""
    definition = resolve_space("mobilenetv2")
    data = make_splits(resolve_dataset(args.dataset))
    target = args.target * resource_model(definition.family, data.input_shape, data.num_classes).cost(definition.space.baseline)
    options = nes_strategy.NESOptions(dimensions=("channel", "input"), target_macs=target, resource_gradient=args.resource_gradient)
    search = nes_strategy._Search(nes_strategy.NES(options=options, seed=args.seed), SearchContext(Problem(definition, data, 1), RunDir.create(out), args.seconds, NullReporter()))
    rho, log = options.rho, []
    classification: dict[tuple[int, ...], float] = {}
    penalty = lambda child: search.target.penalty(search.coords.config(child, search.base))

    def loss(indices: tuple[int, ...], x: torch.Tensor, y: torch.Tensor, memo: dict[tuple[int, ...], float], rho_in: float) -> float:
        value = original_loss(indices, x, y, memo, rho_in)
        classification[indices] = value - rho_in * penalty(indices)
        return value

    def estimate(h: np.ndarray, loss_of: Any, *, sigma: float, samples: int, rng: np.random.Generator, mirrored: bool = False) -> tuple[np.ndarray, float]:
        noise = perturbations(rng, samples, len(h), sigma, mirrored=mirrored)
        at_h = loss_of(h)
        losses = np.array([loss_of(h + n) for n in noise])
        children, here = [search.coords.child(h + n) for n in noise], search.coords.child(h)
        g_c = nes_gradient(noise, np.array([classification[c] for c in children]), classification[here], sigma)
        if args.resource_gradient == "nes":
            g_r = rho * nes_gradient(noise, np.array([penalty(c) for c in children]), penalty(here), sigma)
        else:
            g_r = sigma * rho * penalty_gradient(here, search.coords, search.base, search.target)
        log.append({"sigma": sigma, "g_c": g_c, "g_r": g_r, "off": abs(search.target.relative(search.coords.config(here, search.base)) - 1)})
        classification.clear()
        return nes_gradient(noise, losses, at_h, sigma), at_h

    original_loss = search._loss
    search._loss = loss  # type: ignore[method-assign]
    nes_strategy.estimate = estimate  # type: ignore[assignment]
    search.run()
    return log


def summary(log: list[dict[str, Any]], sigma0: float, alpha0: float) -> list[str]:
    lines = ["| quarter | updates | rms G_c | rms resource part | resource decides the sign | updates at the one-step bound | mean abs(R/R_t - 1) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for q in range(4):
        sel = [e for e in log if q / 4 <= 1 - e["sigma"] / sigma0 < (q + 1) / 4]
        if not sel:
            continue
        g_c, g_r = np.array([e["g_c"] for e in sel]), np.array([e["g_r"] for e in sel])
        alpha = np.array([alpha0 * e["sigma"] / sigma0 for e in sel])[:, None]
        decides = np.mean(np.sign(g_c + g_r) == np.sign(g_r))
        bound = np.mean(np.any(np.abs(alpha * (g_c + g_r)) >= 1, axis=1))
        lines.append(f"| {q + 1} | {len(sel)} | {np.sqrt((g_c**2).mean()):.3f} | {np.sqrt((g_r**2).mean()):.3f} | {decides:.2f} | {bound:.2f} | {np.mean([e['off'] for e in sel]):.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--seconds", type=float, default=120.0, help="the search's time budget")
    parser.add_argument("--target", type=float, default=0.5, help="MACs target as a fraction of the baseline's")
    parser.add_argument("--resource-gradient", choices=("nes", "exact"), default="nes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(tempfile.mkdtemp(prefix="nes-share-")) / "run"
    try:
        log = decomposed_search(args, out)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    schedule = nes_strategy.Schedule()
    print(f"resource_gradient={args.resource_gradient}, {len(log)} updates")
    print("\n".join(summary(log, schedule.sigma0, schedule.alpha0)))


if __name__ == "__main__":
    main()
