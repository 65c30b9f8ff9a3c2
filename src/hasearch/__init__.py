"""hasearch: joint hyperparameter, architecture and data-augmentation search for PyTorch."""

__version__ = "0.1.0"

from hasearch.space import Role, SearchSpace, derive, load_space  # noqa: E402
from hasearch.strategies import Job, RandomSearch, SingleRunStrategy, Strategy  # noqa: E402

__all__ = [
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
