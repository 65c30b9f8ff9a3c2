"""Searchers: *what to try next* for the first rung of a bracket (after Syne Tune).

A searcher proposes configurations and learns from every observed (configuration,
budget, loss); schedulers (:mod:`hasearch.strategies.hyperband`) decide budgets and
promotions. :class:`PriorSearcher` samples the prior (Hyperband); the BOHB model is
:class:`hasearch.strategies.kde.KDESearcher`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import ConfigSpace as CS
import numpy as np

from hasearch.space import SearchSpace


class Searcher(ABC):
    """Proposes configurations; ``observe`` feeds it every finished evaluation."""

    def __init__(self, space: SearchSpace, *, seed: int = 0) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def suggest(self) -> CS.Configuration:
        """A configuration to evaluate on the smallest budget of a new bracket."""

    def observe(self, config: CS.Configuration, budget: float, loss: float) -> None:
        """Learn that ``config`` scored ``loss`` (+inf if it failed) on ``budget``."""


class PriorSearcher(Searcher):
    """Samples ConfigSpace's prior (uniform; log-uniform on log parameters)."""

    def suggest(self) -> CS.Configuration:
        return self.space.sample(self.rng)
