"""How a worker process rebuilds the search problem (picklable, small)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hasearch.catalog import resolve_space
from hasearch.data import make_splits, resolve_dataset
from hasearch.device import CPU, Compute, make_deterministic
from hasearch.problem import Problem


@dataclass(frozen=True)
class ProblemRecipe:
    """Everything a worker needs to rebuild a :class:`Problem`: file paths and settings.

    The space comes from the run directory's ``space.yaml`` and the data from its spec,
    so a worker on another machine needs the same paths (a shared file system).
    """

    space_file: str
    dataset: str
    split_seed: int
    max_budget: float
    seed: int
    budget_unit: str
    threads: int
    compute: Compute = CPU  # the driver's resolved device; workers place themselves with ``on``

    def build(self, compute: Compute | None = None) -> Problem:
        """The problem, its data on ``compute``'s device (default the recipe's)."""
        compute = compute or self.compute
        torch.set_num_threads(self.threads)
        make_deterministic(compute)
        definition = resolve_space(self.space_file)
        data = make_splits(resolve_dataset(self.dataset), seed=self.split_seed)
        return Problem(definition, data, self.max_budget, self.seed, self.budget_unit).on(compute)

