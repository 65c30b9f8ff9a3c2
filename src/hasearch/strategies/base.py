"""The two seams every search method implements.

* :class:`Strategy` - multi-trial methods (random search, successive halving, Hyperband,
  BOHB): ask for a job (configuration + budget), evaluate it anywhere, tell the loss.
  The strategy decides *what to try next*; it never trains anything itself.
* :class:`SingleRunStrategy` - methods that train one weight-sharing network (AutoHAS,
  DHA, NES): given the problem, they run and return the derived configuration.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ConfigSpace as CS
from torch import nn

from hasearch.checks import require_bool, require_number
from hasearch.space import SearchSpace

if TYPE_CHECKING:
    from hasearch.problem import Problem
    from hasearch.reporting import Reporter
    from hasearch.store.run_dir import RunDir


@dataclass(frozen=True)
class Job:
    """One evaluation a strategy asks for.

    Attributes:
        job_id: Unique, increasing id (the trial id in a run store).
        config: The configuration to evaluate.
        budget: Training budget (epochs by default, or seconds).
        info: Strategy bookkeeping (e.g. bracket and rung), stored with the trial.
        parent_id: A previous job with the same configuration on a smaller budget whose
            checkpoint this job may continue from (promotion), or ``None``.
    """

    job_id: int
    config: CS.Configuration
    budget: float
    info: Mapping[str, Any] = field(default_factory=dict)
    parent_id: int | None = None


def as_space(space: SearchSpace | CS.ConfigurationSpace) -> SearchSpace:
    """Accept a hasearch space or a plain ConfigSpace space."""
    if isinstance(space, SearchSpace):
        return space
    if not isinstance(space, CS.ConfigurationSpace):
        raise TypeError(f"space must be a hasearch SearchSpace or a ConfigSpace ConfigurationSpace, got {type(space).__name__}")
    if not list(space.values()):
        raise ValueError("space: the ConfigurationSpace has no hyperparameters to search")
    return SearchSpace.from_configspace(space)


def worst_if_bad(loss: float) -> float:
    """Crashed, NaN and diverged results count as the worst loss (+inf)."""
    return loss if math.isfinite(loss) else math.inf


class Strategy(ABC):
    """Base class of ask/tell (multi-trial) strategies.

    Subclasses implement :meth:`_next_job` and may override :meth:`tell`. ``ask`` may
    return ``None`` when the strategy must wait for pending results before it can
    propose anything (e.g. a synchronous rung); :attr:`finished` says that it will never
    propose anything again.

    With ``start_with_baseline`` (the default) the first configuration a strategy
    proposes is the space's baseline (for a plain ConfigSpace space: its defaults), so
    the search compares what it finds with what the user has at equal budget (SMAC3's
    initial design includes the default configuration for the same reason).
    """

    def __init__(
        self, space: SearchSpace | CS.ConfigurationSpace, *, seed: int = 0, start_with_baseline: bool = True
    ) -> None:
        require_number("seed", seed, "an integer in [0, 2**32)", lambda v: 0 <= v < 2**32, integer=True)
        require_bool("start_with_baseline", start_with_baseline)
        self.space = as_space(space)
        self.seed = int(seed)
        self._next_id = 0
        self.pending: dict[int, Job] = {}
        baseline = self.space.configuration(self.space.baseline)
        # a baseline over the space's resource limit is not trained (it stays the reference of the final comparison)
        self._initial_design = [baseline] if start_with_baseline and self.space.feasible(baseline) else []

    def _initial_or(self, propose: Callable[[], CS.Configuration]) -> CS.Configuration:
        """The next configuration of the initial design (the baseline), else ``propose()``."""
        return self._initial_design.pop(0) if self._initial_design else propose()

    def ask(self) -> Job | None:
        """The next job to evaluate, or ``None`` if none can be proposed now."""
        job = self._next_job()
        if job is not None:
            self.pending[job.job_id] = job
        return job

    def tell(self, job: Job, loss: float) -> None:
        """Report the loss (lower is better) of an asked job; non-finite means failed.

        Raises:
            TypeError: if ``loss`` is not a real number (``None`` included).
            ValueError: if ``job`` is not pending here: told already, or asked from
                another strategy.
        """
        if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
            raise TypeError(f"tell: loss must be a real number (NaN or inf for a failed job), got {loss!r}")
        if not isinstance(job, Job):
            raise TypeError(f"tell: job must be a Job this strategy's ask returned, got {type(job).__name__}")
        if self.pending.get(job.job_id) is not job:
            raise ValueError(f"tell: job {job.job_id} is not pending in this strategy (told twice, or asked from another one)")
        del self.pending[job.job_id]
        try:
            value = float(loss)
        except OverflowError:  # an integer beyond any float: as bad as a loss gets
            value = math.inf
        self._observe(job, worst_if_bad(value))

    @property
    def finished(self) -> bool:
        """True when no further job will ever be proposed."""
        return False

    def promotable(self) -> set[int]:
        """Ids of finished jobs whose checkpoint a future job may still continue from."""
        return set()

    def _new_job(self, config: CS.Configuration, budget: float, **kwargs: Any) -> Job:
        job = Job(self._next_id, config, float(budget), **kwargs)
        self._next_id += 1
        return job

    @abstractmethod
    def _next_job(self) -> Job | None:
        """Propose the next job (``job_id`` from :meth:`_new_job`)."""

    def _observe(self, job: Job, loss: float) -> None:
        """Learn from a finished job (``loss`` is +inf for failures)."""


@dataclass(frozen=True)
class SearchContext:
    """What a single-run method gets: the problem, its run directory (for checkpoints and
    histories), the wall-clock budget in seconds, a progress reporter, and whether to
    continue from the run's last checkpoint."""

    problem: Problem
    run: RunDir
    time_budget: float | None
    reporter: Reporter
    resume: bool = False


SEARCH_HISTORY = "search/history.json"  # every single-run method's history, one document shape


@dataclass(frozen=True)
class SingleRunResult:
    """What a single-run method returns.

    Attributes:
        config: The derived configuration (active parameters only).
        notes: Sentences the user should read (e.g. parameters that kept the baseline's
            value because the search learned nothing about them).
        network: A trained standalone network of ``config``, ready to use (one-stage
            methods such as DHA, trained on the training split only). When given, the final
            comparison scores it as it is and does not retrain; when ``None`` the
            configuration is retrained from scratch (AutoHAS, NES).
        epochs: With ``network``: the epochs it was trained for. The final comparison then
            trains the baseline standalone for the same number of epochs.

    The method's search history is a JSON document at :data:`SEARCH_HISTORY` in the run:
    ``{"method": name, "entries": [per step or update: "step", "phase", ...],
    "phases": [per phase: "steps", "notes", method-specific results], "derived": config}``,
    which ``hasearch show`` (and the coming report) read whatever the method.
    """

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    network: nn.Module | None = None
    epochs: float | None = None


class SingleRunStrategy(ABC):
    """Base class of methods that search in one training run of a shared network."""

    #: True where the run's trained network is the result (one-stage, no retraining).
    returns_network: bool = False
    #: False where the method's own tensors (architecture codes, policy) live on the CPU
    #: only: ``--device auto`` then trains it on the CPU, ``--device cuda`` exits 2.
    supports_cuda: bool = True

    def check(self, problem: Problem, time_budget: float | None) -> None:
        """Raise UserError if this method cannot search ``problem`` (called before any write)."""

    @abstractmethod
    def run(self, context: SearchContext) -> SingleRunResult:
        """Search and return the derived configuration with notes for the user."""
