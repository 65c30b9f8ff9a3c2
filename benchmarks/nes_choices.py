"""NES's open choices (seed 003 leaves them unsaid), measured on one setting.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/nes_choices.py --dataset mnist5k --search-seconds 120 --repeats 10

1. A NES search (``mobilenetv2``, target 0.5 x the baseline's MACs, ``--search-seconds``)
   trains the shared weights; its last checkpoint is loaded.
2. At the search's final H (on the target), NES gradient estimates of the classification
   loss L_c alone (the choices only touch L_c; M = 20, sigma = 0.75) are
   repeated ``--repeats`` times in each setting: one evaluation batch shared by all M + 1 losses with
   BatchNorm on the batch's statistics (hasearch's default); a fresh batch per loss; a shared
   batch with each child's BatchNorm recalibrated on 500 fixed training images (OFA); a shared
   batch with mirrored perturbations (pairs n, -n; a departure, see
   :func:`hasearch.nes.estimator.perturbations`); and, for scale, the default at M = 100.

The resource term's part of a full estimate is left out. It is a fixed function of each child, but its
sampled part of G is not deterministic, and at this space's coarse steps it dominates G even on the
target (an audit measured it; README "Departures", the `mobilenetv2` space row), so the consistency
measured here is L_c's, not that of the G a default search steps with.

Reported per setting: consistency (mean pairwise cosine between its repeated estimates: the
share of signal in one estimate), the cosine between its mean estimate and the default's,
and seconds per estimate. Writes ``benchmarks/results/nes_choices.json`` (mnist5k) or
``nes_choices_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SETTINGS = ("shared batch, batch BN", "batch per loss, batch BN", "shared batch, recalibrated BN", "shared batch, mirrored perturbations", "shared batch, M = 100")


def main() -> None:
    from hasearch.artifacts import load_weights
    from hasearch.autohas.engine import reward_precision, scored_logits
    from hasearch.catalog import resolve_space
    from hasearch.cli.main import main as cli
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.nes.coordinates import OrderedCoordinates, dimension_names
    from hasearch.nes.estimator import estimate
    from hasearch.nes.strategy import CHECKPOINT
    from hasearch.nes.target import ResourceTarget
    from hasearch.supernet import resource_model, supernet_for
    from hasearch.supernet.scoring import calibration_images, recalibrated_logits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--search-seconds", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS), help="the first is the reference of the cosine column")
    args = parser.parse_args()
    definition, data = resolve_space("mobilenetv2"), make_splits(resolve_dataset(args.dataset))
    model = resource_model(definition.family, data.input_shape, data.num_classes)
    base = dict(definition.space.baseline)
    target = ResourceTarget("--target-macs", 0.5 * model.cost(base), model.cost, "MACs")
    with tempfile.TemporaryDirectory() as root:
        out = Path(root) / "run"
        cli(["search", "--space", "mobilenetv2", "--strategy", "nes", "--dataset", args.dataset, "--budget", f"{args.search_seconds}s",
             "--epochs", "0.1", "--min-budget", "0.1", "--no-baseline", "--target-macs", str(round(target.value)), "--out", str(out)])  # fmt: skip
        blob = load_weights(out / CHECKPOINT)
    net = supernet_for(definition.family, definition.space, data.input_shape, data.num_classes).to(memory_format=torch.channels_last)
    net.load_state_dict(blob["network"])
    coords = OrderedCoordinates(definition.space, dimension_names(definition.space, None))
    calibration, dtype = calibration_images(data.train, count=500), reward_precision(torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(len(data.val), generator=generator)[:256]
        return data.val.x[idx].contiguous(memory_format=torch.channels_last), data.val.y[idx]

    def loss(point: np.ndarray, x: torch.Tensor, y: torch.Tensor, recalibrate: bool) -> float:
        config = coords.config(coords.child(point), base)
        arch = net.arch_of(config)
        logits = recalibrated_logits(net, arch, calibration, x) if recalibrate else scored_logits(net, x, arch, dtype=dtype)
        return float(F.cross_entropy(logits, y))

    def one_estimate(setting: str, rng: np.random.Generator) -> np.ndarray:
        shared = batch()
        fresh = setting.startswith("batch per loss")
        recal = setting.endswith("recalibrated BN")
        mirrored, samples = setting.endswith("mirrored perturbations"), 100 if setting.endswith("M = 100") else 20
        return estimate(h, lambda p: loss(p, *(batch() if fresh else shared), recal), sigma=0.75, samples=samples, rng=rng, mirrored=mirrored)[0]

    h = np.array(blob["h"], dtype=float)
    estimates, seconds = {}, {}
    for setting in args.settings:
        rng = np.random.default_rng(1)
        start = time.perf_counter()
        estimates[setting] = [one_estimate(setting, rng) for _ in range(args.repeats)]
        seconds[setting] = (time.perf_counter() - start) / args.repeats
    cos = lambda a, b: float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    default_mean = np.mean(estimates[args.settings[0]], axis=0)
    results = {
        setting: {
            "consistency": statistics.fmean(cos(a, b) for a, b in itertools.combinations(estimates[setting], 2)),
            "cosine_with_default_mean": cos(np.mean(estimates[setting], axis=0), default_mean),
            "seconds_per_estimate": seconds[setting],
        }
        for setting in args.settings
    }
    print(json.dumps(results, indent=1))
    suffix = "" if args.dataset == "mnist5k" else "_" + args.dataset.replace(":", "_").replace("/", "_")
    out_file = Path(__file__).parent / "results" / f"nes_choices{suffix}.json"
    out_file.write_text(json.dumps({"args": vars(args), "names": list(coords.names), "results": results}, indent=1))


if __name__ == "__main__":
    main()
