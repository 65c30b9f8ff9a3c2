"""A standalone child as the "supernet" of hyperparameter-only weight-sharing search.

AutoHAS's ``hp-only`` mode (and any family without an elastic supernet) trains one fixed
network while the controller samples hyperparameters; this wrapper gives it the
supernet's interface (``forward(x, arch)``, BatchNorm modes, per-step training config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from hasearch.supernet.elastic import BNMode, BNModeSwitch

Arch = tuple[()]


class FixedNetwork(BNModeSwitch, nn.Module):
    """A standalone child as the 'supernet' of hyperparameter-only search (any model family)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.mode = BNMode.TRAIN
        self.choices: list[Any] = []

    def arch_of(self, config: Mapping[str, Any]) -> Arch:
        return ()

    def set_training_config(self, config: Mapping[str, Any]) -> None:
        """Dropout, plus whatever the model family applies per step (e.g. ShakeDrop's rate)."""
        super().set_training_config(config)
        apply = getattr(self.model, "apply_training_config", None)
        if apply is not None:
            apply(config)

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        if self.mode is BNMode.BATCH:  # batch statistics, running statistics left as they are
            bns = [m for m in self.model.modules() if isinstance(m, nn.BatchNorm2d)]
            saved = [(m.momentum, m.training) for m in bns]
            for m in bns:  # batch statistics even when the rest of the network is in eval mode
                m.momentum = 0.0
                m.train()
            try:
                return self.model(x)
            finally:
                for m, (momentum, training) in zip(bns, saved, strict=True):
                    m.momentum = momentum
                    m.train(training)
        return self.model(x)

    @property
    def dropout(self) -> float:
        return next((m.p for m in self.model.modules() if isinstance(m, nn.Dropout)), 0.0)

    @dropout.setter
    def dropout(self, p: float) -> None:
        for m in self.model.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
