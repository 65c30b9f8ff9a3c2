"""Random search (Bergstra & Bengio 2012): configurations drawn from the prior."""

from __future__ import annotations

import math

import ConfigSpace as CS
import numpy as np

from hasearch.checks import require_number
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
        require_number("max_budget", max_budget, "a positive finite number", lambda v: 0 < v < math.inf)
        super().__init__(space, seed=seed, start_with_baseline=start_with_baseline)
        self.max_budget = max_budget
        self._rng = np.random.default_rng(seed)

    def _next_job(self) -> Job:
        return self._new_job(self._initial_or(lambda: self.space.sample(self._rng)), self.max_budget)
