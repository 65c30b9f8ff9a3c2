"""The training hyperparameters and augmentation settings the trainer understands.

A search space may search any of these by name; parameters it leaves out keep the
defaults below. Keeping the vocabulary in one place lets a space file be validated
before anything trains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from hasearch.space.search_space import plain_values

OptimizerFactory = Callable[[list[dict[str, Any]], "TrainingHyperparameters"], torch.optim.Optimizer]

# foreach: one kernel per operation over all parameters instead of one per parameter. torch
# picks it by default only on CUDA; on the CPU it gives bit-identical parameters and steps
# the mbconv baseline (74k parameters, 2 threads) in 0.35 instead of 0.50 ms (SGD), 1.06
# instead of 5.86 ms (Adam), 0.91 instead of 1.68 ms (RMSprop).
FOREACH = True


def _sgd(groups: list[dict[str, Any]], hp: TrainingHyperparameters) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, foreach=FOREACH)


def _adam(groups: list[dict[str, Any]], hp: TrainingHyperparameters) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=hp.lr, foreach=FOREACH)


def _rmsprop(groups: list[dict[str, Any]], hp: TrainingHyperparameters) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=hp.lr, momentum=hp.momentum, alpha=0.9, foreach=FOREACH)


OPTIMIZERS: dict[str, OptimizerFactory] = {"sgd": _sgd, "adam": _adam, "rmsprop": _rmsprop}


@dataclass(frozen=True)
class TrainingHyperparameters:
    """Hyperparameters of one training run (seed 000 footnote 1: everything that affects training)."""

    lr: float = 0.05
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    momentum: float = 0.9
    batch_size: int = 128
    mixup_alpha: float = 0.0
    label_smoothing: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainingHyperparameters:
        """The trainer's view of ``config``; ``lr_<optimizer>`` (e.g. ``lr_adam``), when the
        configuration has it, is the learning rate of that optimizer (adaptive optimizers
        need rates ~50x smaller than SGD, so joint spaces give each its own range)."""
        config = plain_values(config)  # numpy scalars (ConfigSpace's choices) as Python's
        values = {f.name: config[f.name] for f in fields(cls) if f.name in config}
        per_optimizer = f"lr_{values.get('optimizer', cls.optimizer)}"
        if per_optimizer in config:
            values["lr"] = config[per_optimizer]
        return cls(**values)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer; weight decay applies to weights, not to BatchNorm or biases."""
        decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return OPTIMIZERS[self.optimizer](groups, self)


@dataclass(frozen=True)
class AugmentationSettings:
    """Data augmentation of one training run. ``None`` means: the data set's default."""

    cutout: int = 0
    crop_padding: int | None = None
    flip: bool | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AugmentationSettings:
        config = plain_values(config)
        return cls(**{f.name: config[f.name] for f in fields(cls) if f.name in config})


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: float(v).is_integer() and v >= low


# Legal values of every name in the vocabulary, with a description for error messages.
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (lambda v: 0 < v <= 10, "learning rate in (0, 10]"),
    **{f"lr_{name}": (lambda v: 0 < v <= 10, "learning rate in (0, 10]") for name in OPTIMIZERS},
    "weight_decay": (lambda v: 0 <= v < 1, "weight decay in [0, 1)"),
    "optimizer": (lambda v: v in OPTIMIZERS, "one of " + ", ".join(OPTIMIZERS)),
    "momentum": (lambda v: 0 <= v < 1, "momentum in [0, 1)"),
    "batch_size": (_int_at_least(2), "integer batch size >= 2"),
    "mixup_alpha": (lambda v: 0 <= v <= 10, "mixup alpha in [0, 10]"),
    "label_smoothing": (lambda v: 0 <= v < 1, "label smoothing in [0, 1)"),
    "cutout": (_int_at_least(0), "integer cutout length >= 0"),
    "crop_padding": (_int_at_least(0), "integer padding >= 0"),
    "flip": (lambda v: isinstance(v, bool), "true or false"),
}

VOCABULARY = frozenset(CHECKS)
