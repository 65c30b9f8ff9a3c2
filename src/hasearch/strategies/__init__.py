"""Search strategies: ask/tell multi-trial methods and single-run methods."""

from hasearch.strategies.base import Job, SingleRunStrategy, Strategy
from hasearch.strategies.hyperband import BOHB, Hyperband, HyperbandScheduler, SuccessiveHalving
from hasearch.strategies.random_search import RandomSearch
from hasearch.strategies.registry import STRATEGIES, StrategyOptions, get_strategy

__all__ = [
    "BOHB",
    "STRATEGIES",
    "Hyperband",
    "HyperbandScheduler",
    "Job",
    "RandomSearch",
    "SingleRunStrategy",
    "Strategy",
    "StrategyOptions",
    "SuccessiveHalving",
    "get_strategy",
]
