"""hasearch: joint hyperparameter, architecture and data-augmentation search for PyTorch."""

__version__ = "0.1.0"

from hasearch.space import Role, SearchSpace, derive, load_space  # noqa: E402
from hasearch.strategies import (  # noqa: E402
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
    "SuccessiveHalving",
    "Job",
    "RandomSearch",
    "Role",
    "SearchSpace",
    "SingleRunStrategy",
    "Strategy",
    "__version__",
    "derive",
    "load_space",
]
