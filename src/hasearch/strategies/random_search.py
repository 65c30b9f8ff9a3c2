"""Random search (Bergstra & Bengio 2012): configurations drawn from the prior."""

from __future__ import annotations

import math
import numbers

import ConfigSpace as CS
import numpy as np

from hasearch.space import SearchSpace
from hasearch.strategies.base import Job, Strategy


class RandomSearch(Strategy):
    """Sample configurations uniformly (ConfigSpace's prior) and evaluate each on ``max_budget``.

    Args:
        space: A hasearch SearchSpace or a ConfigSpace ConfigurationSpace.
        max_budget: The budget every configuration is evaluated on.
        seed: Seed of the sampler.
        start_with_baseline: Evaluate the space's baseline first (default True).
    """

    def __init__(
        self,
        space: SearchSpace | CS.ConfigurationSpace,
        *,
        max_budget: float = 1.0,
        seed: int = 0,
        start_with_baseline: bool = True,
    ) -> None:
        if isinstance(max_budget, bool) or not isinstance(max_budget, numbers.Real) or not 0 < max_budget < math.inf:
            raise ValueError(f"max_budget must be positive and finite, got {max_budget!r}")
        super().__init__(space, seed=seed, start_with_baseline=start_with_baseline)
        self.max_budget = max_budget
        self._rng = np.random.default_rng(seed)

    def _next_job(self) -> Job:
        return self._new_job(self._initial_or(lambda: self.space.sample(self._rng)), self.max_budget)
