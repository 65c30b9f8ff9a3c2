"""Successive halving, Hyperband and BOHB: *when to stop or promote*.

One scheduler runs synchronous successive-halving brackets (Jamieson & Talwalkar 2016)
planned by :mod:`hasearch.strategies.brackets`; a :class:`Searcher` fills the first rung
of each bracket. A rung is promoted when all its jobs have finished: the configurations
whose rank among the finite losses is below the next rung's size continue (from their
checkpoint) on the next budget; failed ones never do. While every open bracket waits for
results, a new bracket starts, so parallel workers stay busy (as in HpBandSter).

* :class:`SuccessiveHalving` - the most aggressive bracket (s = s_max), over and over.
* :class:`Hyperband` - Li et al. 2018: brackets s = s_max ... 0 in turn, prior samples.
* :class:`BOHB` - Falkner et al. 2018: Hyperband's brackets, KDE-model samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import ConfigSpace as CS

from hasearch.space import SearchSpace
from hasearch.strategies.base import Job, Strategy, as_space
from hasearch.strategies.brackets import BracketPlan, hyperband_plans
from hasearch.strategies.kde import KDESearcher
from hasearch.strategies.searchers import PriorSearcher, Searcher


@dataclass
class _Bracket:
    """The state of one running bracket."""

    index: int
    plan: BracketPlan
    rung: int = 0
    queue: list[tuple[CS.Configuration, int | None]] = field(default_factory=list)  # (config, parent job id)
    issued: list[Job] = field(default_factory=list)  # jobs of the current rung
    losses: dict[int, float] = field(default_factory=dict)
    to_sample: int = 0

    def __post_init__(self) -> None:
        self.to_sample = self.plan.sizes[0]

    @property
    def budget(self) -> float:
        return self.plan.budgets[self.rung]

    @property
    def rung_done(self) -> bool:
        return not self.to_sample and not self.queue and all(j.job_id in self.losses for j in self.issued)

    @property
    def finished(self) -> bool:
        return self.rung_done and (self.rung == len(self.plan.sizes) - 1 or not self._survivors())

    def _survivors(self) -> list[Job]:
        """Jobs of this rung whose rank among finite losses is below the next rung's size."""
        finite = [j for j in self.issued if math.isfinite(self.losses[j.job_id])]
        finite.sort(key=lambda j: (self.losses[j.job_id], j.job_id))
        return finite[: self.plan.sizes[self.rung + 1]]

    def promote(self) -> None:
        self.queue = [(job.config, job.job_id) for job in self._survivors()]
        self.rung += 1
        self.issued = []


class HyperbandScheduler(Strategy):
    """Synchronous successive-halving brackets fed by a searcher.

    Args:
        space: The search space.
        searcher: Proposes new configurations (prior for Hyperband, KDE for BOHB).
        plans: The brackets of one iteration, cycled in order.
        seed: Seed (the searcher has its own).
        start_with_baseline: The first configuration of the first bracket is the space's
            baseline (default True); the searcher proposes all others.
    """

    promotes = True  # jobs on larger budgets continue from their parent's checkpoint

    def __init__(
        self,
        space: SearchSpace,
        *,
        searcher: Searcher,
        plans: Sequence[BracketPlan],
        seed: int = 0,
        start_with_baseline: bool = True,
    ) -> None:
        super().__init__(space, seed=seed, start_with_baseline=start_with_baseline)
        self.searcher = searcher
        self.plans = tuple(plans)
        self.brackets: list[_Bracket] = []
        self._started = 0
        self._bracket_of: dict[int, _Bracket] = {}

    def _next_job(self) -> Job | None:
        for bracket in self.brackets:
            job = self._job_from(bracket)
            if job is not None:
                return job
        bracket = _Bracket(self._started, self.plans[self._started % len(self.plans)])
        self._started += 1
        self.brackets.append(bracket)
        return self._job_from(bracket)

    def _job_from(self, bracket: _Bracket) -> Job | None:
        if bracket.queue:
            config, parent = bracket.queue.pop(0)
        elif bracket.to_sample:
            bracket.to_sample -= 1
            config, parent = self._initial_or(self.searcher.suggest), None
        else:
            return None
        info = {"bracket": bracket.index, "s": bracket.plan.s, "rung": bracket.rung}
        job = self._new_job(config, bracket.budget, info=info, parent_id=parent)
        bracket.issued.append(job)
        self._bracket_of[job.job_id] = bracket
        return job

    def promotable(self) -> set[int]:
        ids: set[int] = set()
        for bracket in self.brackets:
            ids.update(parent for _, parent in bracket.queue if parent is not None)
            if bracket.rung < len(bracket.plan.sizes) - 1:
                ids.update(job.job_id for job in bracket.issued)
        return ids

    def _observe(self, job: Job, loss: float) -> None:
        self.searcher.observe(job.config, job.budget, loss)
        bracket = self._bracket_of.pop(job.job_id, None)
        if bracket is None:
            return
        bracket.losses[job.job_id] = loss
        if bracket.finished:
            self.brackets.remove(bracket)
        elif bracket.rung_done:
            bracket.promote()


class Hyperband(HyperbandScheduler):
    """Hyperband (Li et al. 2018): brackets s = s_max ... 0 in turn, configurations from the prior.

    Args:
        space: A hasearch SearchSpace or a ConfigSpace ConfigurationSpace.
        min_budget: Smallest budget (first rung of the most aggressive bracket).
        max_budget: Largest budget.
        eta: Keep the best 1/eta of each rung.
        seed: Seed.
        integer_budgets: Round budgets to whole numbers (epochs).
        start_with_baseline: Evaluate the space's baseline first (default True).
    """

    brackets = slice(None)  # which of the iteration's brackets to run

    def __init__(
        self,
        space: SearchSpace | CS.ConfigurationSpace,
        *,
        min_budget: float,
        max_budget: float,
        eta: int = 3,
        seed: int = 0,
        integer_budgets: bool = False,
        start_with_baseline: bool = True,
    ) -> None:
        s = as_space(space)
        plans = hyperband_plans(min_budget, max_budget, eta, integer=integer_budgets)[self.brackets]
        searcher = PriorSearcher(s, seed=seed)
        super().__init__(s, searcher=searcher, plans=plans, seed=seed, start_with_baseline=start_with_baseline)


class SuccessiveHalving(Hyperband):
    """Successive halving (Jamieson & Talwalkar 2016): Hyperband's most aggressive bracket, repeated.

    Args: as :class:`Hyperband`.
    """

    brackets = slice(0, 1)


class BOHB(HyperbandScheduler):
    """BOHB (Falkner et al. 2018): Hyperband brackets, configurations from a KDE model.

    Args:
        space: A hasearch SearchSpace or a ConfigSpace ConfigurationSpace.
        min_budget: Smallest budget.
        max_budget: Largest budget.
        eta: Halving rate.
        seed: Seed.
        integer_budgets: Round budgets to whole numbers (epochs).
        top_n_percent: Good/bad split of the KDE model (default 15).
        num_samples: Candidates per suggestion (default 64).
        random_fraction: Share of prior samples (default 1/3).
        bandwidth_factor: Candidate bandwidth widening (default 3).
        min_bandwidth: KDE bandwidth floor (default 1e-3).
        min_points_in_model: N_min, at least d + 1 (default d + 1).
        adaptive_floor: Opt-in departure from the paper: continuous KDE bandwidths are also at
            least adaptive_floor / min(100, n + 1) for n points (default None: off).
    """

    def __init__(
        self,
        space: SearchSpace | CS.ConfigurationSpace,
        *,
        min_budget: float,
        max_budget: float,
        eta: int = 3,
        seed: int = 0,
        integer_budgets: bool = False,
        top_n_percent: float = 15.0,
        num_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
        min_points_in_model: int | None = None,
        adaptive_floor: float | None = None,
        start_with_baseline: bool = True,
    ) -> None:
        s = as_space(space)
        searcher = KDESearcher(
            s,
            seed=seed,
            top_n_percent=top_n_percent,
            num_samples=num_samples,
            random_fraction=random_fraction,
            bandwidth_factor=bandwidth_factor,
            min_bandwidth=min_bandwidth,
            min_points_in_model=min_points_in_model,
            adaptive_floor=adaptive_floor,
        )
        plans = hyperband_plans(min_budget, max_budget, eta, integer=integer_budgets)
        super().__init__(s, searcher=searcher, plans=plans, seed=seed, start_with_baseline=start_with_baseline)
