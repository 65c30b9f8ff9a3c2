"""What a search is about: a space with its model family, the data, and the budgets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from hasearch.catalog import SpaceDefinition
from hasearch.data import DataSplits
from hasearch.device import CPU, Compute
from hasearch.space import SearchSpace
from hasearch.train.trainer import Budget


@dataclass(frozen=True)
class Problem:
    """A search problem shared by every method.

    Attributes:
        definition: The space and the builder of child networks.
        data: Train / validation / test splits.
        max_budget: The largest training budget (length of the learning-rate schedule).
        seed: Seed of the search.
        budget_unit: ``epochs`` or ``seconds`` of training time.
        compute: Device and precision of training; ``data`` must already be on its device
            (:meth:`on` moves it).
    """

    definition: SpaceDefinition
    data: DataSplits
    max_budget: float
    seed: int = 0
    budget_unit: str = "epochs"
    compute: Compute = CPU

    def on(self, compute: Compute) -> Problem:
        """This problem on ``compute``'s device (the data moved there once)."""
        return replace(self, data=self.data.to(compute.torch_device), compute=compute)

    @property
    def space(self) -> SearchSpace:
        return self.definition.space

    def budget(self, amount: float) -> Budget:
        """A training budget of ``amount`` units within the max-budget schedule."""
        if self.budget_unit == "seconds":
            return Budget(math.inf, max_seconds=amount, schedule_seconds=self.max_budget)
        return Budget(amount, schedule_epochs=self.max_budget)

    def build(self, config: Mapping[str, Any], *, seed: int | None = None) -> nn.Module:
        """The child network of ``config``, initialised from ``seed`` (default: the search seed)."""
        torch.manual_seed(self.seed if seed is None else seed)  # initialised on the CPU: the same weights on every device
        return self.definition.build(config, self.data.input_shape, self.data.num_classes).to(self.compute.torch_device)
