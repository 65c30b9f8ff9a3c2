"""Seed 003's uniform-rescale baselines (Table 1 rows): no search, one configuration that
scales a whole dimension alike (every stage's width, or the input resolution, or both) to
meet the same resource target as NES. The final comparison retrains it from scratch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hasearch.errors import UserError
from hasearch.nes.coordinates import OrderedCoordinates, dimension_names
from hasearch.nes.target import ResourceTarget, resource_target, uniform_rescale
from hasearch.strategies.base import (
    SEARCH_HISTORY,
    SearchContext,
    SingleRunResult,
    SingleRunStrategy,
)

if TYPE_CHECKING:
    from hasearch.problem import Problem


class UniformRescale(SingleRunStrategy):
    """Every parameter of each of ``dimensions`` at one common value, meeting the target."""

    def __init__(self, *, dimensions: tuple[str, ...], target_macs: float | None = None, target_latency: float | None = None) -> None:
        if not dimensions:
            raise UserError("a uniform rescale needs at least one dimension (channel, input)")
        self.dimensions, self.target_macs, self.target_latency = dimensions, target_macs, target_latency

    def _groups(self, problem: Problem) -> list[OrderedCoordinates]:
        return [OrderedCoordinates(problem.space, dimension_names(problem.space, (d,))) for d in self.dimensions]

    def _target(self, problem: Problem) -> ResourceTarget:
        return resource_target(problem, macs=self.target_macs, latency=self.target_latency)

    def check(self, problem: Problem, time_budget: float | None) -> None:
        self._checked(problem)

    def _checked(self, problem: Problem) -> tuple[list[OrderedCoordinates], ResourceTarget]:
        """The groups and the target, the target reachable by the groups' parameters together."""
        groups, target = self._groups(problem), self._target(problem)
        all_names = tuple(n for g in groups for n in g.names)
        target.check_reachable(OrderedCoordinates(problem.space, all_names), problem.space.baseline)
        return groups, target

    def run(self, context: SearchContext) -> SingleRunResult:
        problem = context.problem
        groups, target = self._checked(problem)
        config = uniform_rescale(groups, problem.space.baseline, target)
        name = "uniform-" + "-".join(self.dimensions)
        notes = [f"{name}: {', '.join(f'{n}={config[n]}' for g in groups for n in g.names)}; {target.describe(config)}."]
        if not target.meets(config):
            notes.append(f"no uniform {'/'.join(self.dimensions)} rescale of this space is within 5% of {target.name}; the closest was taken.")
        context.run.write_json(SEARCH_HISTORY, {"method": name, "entries": [], "phases": [{"notes": notes, "resource": target.cost(config)}], "derived": config})
        return SingleRunResult(config, notes)
