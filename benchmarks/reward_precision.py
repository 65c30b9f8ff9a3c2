"""Does a bfloat16 reward forward keep AutoHAS's reward quality? (foundation issue, item 6)

    .venv/bin/python benchmarks/reward_precision.py --warm-steps 150 --steps 150 --seed 0

An AutoHAS supernet (``mbconv``) is trained for ``--warm-steps`` steps on uniformly sampled
children and hyperparameters (the state of a search after its warm-up). Then, for
``--steps`` more sampled (child, hyperparameters), W* is formed as AutoHAS forms it and
scored on the same 256-image validation batch in float32 and in bfloat16 (autocast), on its
first 160 images in bfloat16, and in float32 on the whole validation split (the reward the batch estimates). Reported: the
correlation of each batch reward with the whole-split reward, for the architecture reward
(Q = accuracy of W*) and the paired hyperparameter reward (Q - accuracy of W), the share of
images both precisions classify alike, and the reward forwards' time. Writes
``benchmarks/results/reward_precision.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

# dtype, images, BatchNorm folded into the 1x1 convolutions, other BatchNorm + ReLU6 fused
# (hasearch.supernet.folded; bfloat16 only). "bfloat16" is the default; "bfloat16-fold-only"
# the default before the fused BatchNorm + ReLU6; "bfloat16-unfolded" the plain operations.
VARIANTS = {
    "float32": (None, 256, False, False),
    "bfloat16": (torch.bfloat16, 256, True, True),
    "bfloat16-fold-only": (torch.bfloat16, 256, True, False),
    "bfloat16-unfolded": (torch.bfloat16, 256, False, False),
    "bfloat16-160": (torch.bfloat16, 160, True, True),
}


def main() -> None:
    import hasearch.supernet.mbconv as mbconv_supernet
    from hasearch.autohas.controller import Controller
    from hasearch.autohas.engine import SharedWeightsTrainer, scored_accuracy
    from hasearch.autohas.temporary import temporary_weights
    from hasearch.catalog import resolve_space
    from hasearch.data import make_splits, resolve_dataset
    from hasearch.models.mbconv import MBCONV
    from hasearch.space import BasisSet
    from hasearch.supernet import MBConvSupernet
    from hasearch.supernet.folded import can_fold, can_fuse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-steps", type=int, default=150)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    definition = resolve_space("mbconv")
    data = make_splits(resolve_dataset(args.dataset))
    net = MBConvSupernet(MBCONV, definition.space, data.input_shape, data.num_classes)
    trainer = SharedWeightsTrainer(net, data, seed=args.seed)
    bases = BasisSet(definition.space)
    controller = Controller({n: len(bases[n]) for n in definition.space.names}, seed=args.seed)  # never updated: uniform
    full_x = data.val.x.contiguous(memory_format=torch.channels_last)
    rows, seconds = [], {label: [] for label in VARIANTS}
    for step in range(args.warm_steps + args.steps):
        config = bases.from_indices(controller.sample().indices)
        arch = net.arch_of(config)
        optimizer = trainer.configure(config, 1.0)
        trainer.gradient(config, arch)
        if step >= args.warm_steps:
            w_star = temporary_weights(optimizer, trainer.names)
            x, y = trainer._val_batch()
            row = {}
            for label, (dtype, images, fold, fuse) in VARIANTS.items():
                mbconv_supernet.can_fold = can_fold if fold else (lambda x, cout: False)
                mbconv_supernet.can_fuse = can_fuse if fuse else (lambda y: False)
                start = time.perf_counter()
                before, after = _paired(trainer, w_star, partial(scored_accuracy, net, x[:images], y[:images], arch, dtype=dtype))
                seconds[label].append(time.perf_counter() - start)
                row[label] = (after, after - before)
            mbconv_supernet.can_fold, mbconv_supernet.can_fuse = can_fold, can_fuse
            before, after = _paired(trainer, w_star, partial(scored_accuracy, net, full_x, data.val.y, arch, dtype=None))
            row["full"] = (after, after - before)
            rows.append(row)
        optimizer.step()
    results = _summary(rows, seconds, args)
    print(json.dumps({k: v for k, v in results.items() if k != "rewards"}, indent=1))
    out = Path(__file__).parent / "results" / "reward_precision.json"
    out.write_text(json.dumps(results, indent=1))


def _paired(trainer, w_star, accuracy):
    """(accuracy of W, accuracy of W*) by the given scoring function."""
    params = dict(trainer.net.named_parameters())
    before = accuracy()
    saved = {n: params[n].detach().clone() for n in w_star}
    with torch.no_grad():
        for n, v in w_star.items():
            params[n].copy_(v)
        after = accuracy()
        for n, v in saved.items():
            params[n].copy_(v)
    return before, after


def _summary(rows: list[dict], seconds: dict[str, list[float]], args: argparse.Namespace) -> dict[str, object]:
    def corr(a: str, b: str, i: int) -> float:
        return float(np.corrcoef([r[a][i] for r in rows], [r[b][i] for r in rows])[0, 1])

    return {
        "command": f"benchmarks/reward_precision.py --warm-steps {args.warm_steps} --steps {args.steps} --seed {args.seed}",
        "threads": args.threads,
        "corr_with_full_split": {
            label: {"Q": round(corr(label, "full", 0), 4), "paired": round(corr(label, "full", 1), 4)} for label in VARIANTS
        },
        "corr_float32_bfloat16": {"Q": round(corr("float32", "bfloat16", 0), 4), "paired": round(corr("float32", "bfloat16", 1), 4)},
        "corr_bfloat16_folded_unfolded": {"Q": round(corr("bfloat16", "bfloat16-unfolded", 0), 4), "paired": round(corr("bfloat16", "bfloat16-unfolded", 1), 4)},
        "corr_bfloat16_fused_fold_only": {"Q": round(corr("bfloat16", "bfloat16-fold-only", 0), 4), "paired": round(corr("bfloat16", "bfloat16-fold-only", 1), 4)},
        "mean_abs_difference_float32_bfloat16": {
            "Q": statistics.fmean(abs(r["float32"][0] - r["bfloat16"][0]) for r in rows),
            "paired": statistics.fmean(abs(r["float32"][1] - r["bfloat16"][1]) for r in rows),
        },
        "std_of_rewards_float32": {"Q": statistics.pstdev(r["float32"][0] for r in rows), "paired": statistics.pstdev(r["float32"][1] for r in rows)},
        "median_ms_two_reward_forwards": {label: round(1000 * statistics.median(v), 1) for label, v in seconds.items()},
        "rewards": rows,
    }


if __name__ == "__main__":
    main()
