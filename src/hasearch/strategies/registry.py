"""Search methods by name, for the CLI and settings files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hasearch.errors import UserError
from hasearch.space import SearchSpace
from hasearch.strategies.base import SingleRunStrategy, Strategy
from hasearch.strategies.random_search import RandomSearch


@dataclass(frozen=True)
class StrategyOptions:
    """What the CLI knows when it creates a strategy."""

    space: SearchSpace
    seed: int
    min_budget: float
    max_budget: float
    eta: int


@dataclass(frozen=True)
class StrategyEntry:
    name: str
    description: str
    make: Callable[[StrategyOptions], Strategy | SingleRunStrategy]


def _random(o: StrategyOptions) -> RandomSearch:
    return RandomSearch(o.space, max_budget=o.max_budget, seed=o.seed)


STRATEGIES: dict[str, StrategyEntry] = {
    e.name: e
    for e in (
        StrategyEntry("random", "random search: configurations from the prior, each on the full budget", _random),
    )
}


def get_strategy(name: str) -> StrategyEntry:
    """The strategy called ``name``; UserError listing the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UserError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})") from None
