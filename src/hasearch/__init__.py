"""hasearch: joint hyperparameter, architecture and data-augmentation search for PyTorch."""

__version__ = "0.1.0"

from hasearch.space import Role, SearchSpace, derive, load_space
from hasearch.strategies import (
    BOHB,
    Hyperband,
    Job,
    RandomSearch,
    SingleRunStrategy,
    Strategy,
    SuccessiveHalving,
)

__all__ = [
    "BOHB",
    "Hyperband",
    "Job",
    "RandomSearch",
    "Role",
    "SearchSpace",
    "SingleRunStrategy",
    "Strategy",
    "SuccessiveHalving",
    "__version__",
    "derive",
    "load_space",
]
