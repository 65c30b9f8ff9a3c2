"""Resource targets of NES and the uniform-rescale baselines (seed 003 Eq. 2, Table 1).

A :class:`ResourceTarget` is a cost function of a configuration (MACs from the per-layer
model, or milliseconds from the device's latency table) and the value R_t to meet, within
``TOLERANCE``. The penalty is normalised by the target, ``(R / R_t - 1)^2``, so that its
weight rho has a scale-free default (Eq. 2 with R in units of R_t).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hasearch.errors import UserError
from hasearch.nes.coordinates import OrderedCoordinates
from hasearch.supernet import latency_model, resource_model

if TYPE_CHECKING:
    from hasearch.problem import Problem

TOLERANCE = 0.05  # the found model's resource is within +-5% of the target
MAX_BOX = 4096  # projection: configurations tried around one point of H at most
MAX_RADIUS = 4  # projection: the widest ring of children tried around H's child (L1 steps)


@dataclass(frozen=True)
class ResourceTarget:
    """R_t of Eq. 2: ``value`` in ``unit`` of ``cost`` (``name``: the option that set it)."""

    name: str
    value: float
    cost: Callable[[Mapping[str, Any]], float]
    unit: str

    def relative(self, config: Mapping[str, Any]) -> float:
        """R / R_t."""
        return self.cost(config) / self.value

    def penalty(self, config: Mapping[str, Any]) -> float:
        """(R / R_t - 1)^2, the resource term of Eq. 2 before its weight rho."""
        return (self.relative(config) - 1.0) ** 2

    def meets(self, config: Mapping[str, Any]) -> bool:
        return abs(self.relative(config) - 1.0) <= TOLERANCE

    def describe(self, config: Mapping[str, Any]) -> str:
        r = self.cost(config)
        return f"{_fmt(r)} {self.unit} against the target {_fmt(self.value)} {self.unit} ({100 * (r / self.value - 1):+.1f}%)"

    def check_reachable(self, coords: OrderedCoordinates, base: Mapping[str, Any]) -> None:
        """UserError when the target is outside what the searched parameters can reach."""
        low = self.cost(coords.config([0] * len(coords.names), base))
        high = self.cost(coords.config([int(u) for u in coords.upper], base))
        if not low * (1 - TOLERANCE) <= self.value <= high * (1 + TOLERANCE):
            raise UserError(
                f"{self.name} {_fmt(self.value)} is outside what the searched parameters reach "
                f"({_fmt(low)} to {_fmt(high)} {self.unit}, the others at the baseline's values)"
            )


def penalty_gradient(child: Sequence[int], coords: OrderedCoordinates, base: Mapping[str, Any], target: ResourceTarget) -> np.ndarray:
    """d (R / R_t - 1)^2 / dH at a child, per step: central differences over its lattice neighbours
    (one-sided at a bound, 0 for a parameter with one value). Deterministic: the resource term
    is a known function of H, so it needs no NES estimate (``resource_gradient="exact"``)."""
    gradient = np.zeros(len(child))
    for j, upper in enumerate(coords.upper):
        low, high = max(child[j] - 1, 0), min(child[j] + 1, int(upper))
        if high == low:
            continue
        below, above = list(child), list(child)
        below[j], above[j] = low, high
        gradient[j] = (target.penalty(coords.config(above, base)) - target.penalty(coords.config(below, base))) / (high - low)
    return gradient


def project(h: np.ndarray, coords: OrderedCoordinates, base: Mapping[str, Any], target: ResourceTarget) -> tuple[int, ...]:
    """The child nearest to H that meets the target: H's own child if it does; else the
    configurations between floor(H) and ceil(H) in every coordinate; else the same around
    H shifted along the all-ones direction (every parameter by the same number of steps) to
    where the resource crosses the target; else the children 1, 2, ... ``MAX_RADIUS`` steps
    (L1) from either point's child. If none meets it, the one closest in resource."""
    tried: dict[tuple[int, ...], float] = {}
    for candidates in _candidate_stages(h, _shifted_to_target(h, coords, base, target), coords):
        for child in candidates:
            if child not in tried:
                tried[child] = target.relative(coords.config(child, base))
        meeting = [c for c in candidates if abs(tried[c] - 1.0) <= TOLERANCE]
        if meeting:
            return min(meeting, key=lambda c: float(np.sum((np.array(c) - h) ** 2)))
    return min(tried, key=lambda c: abs(tried[c] - 1.0))


def _candidate_stages(h: np.ndarray, shifted: np.ndarray, coords: OrderedCoordinates) -> Iterator[list[tuple[int, ...]]]:
    """The children :func:`project` tries, one stage at a time (a stage is enumerated only
    when the ones before it held no child that meets the target)."""
    for point in (h, shifted):
        yield [coords.child(point)] + _box(point, coords)
    for radius in range(1, MAX_RADIUS + 1):
        yield [c for point in (h, shifted) for c in _ring(coords.child(point), coords, radius)]


def _ring(center: tuple[int, ...], coords: OrderedCoordinates, radius: int) -> list[tuple[int, ...]]:
    """The children exactly ``radius`` steps (L1) from ``center`` within the range (at most
    ``MAX_BOX``)."""

    def walk(i: int, left: int) -> Iterator[tuple[int, ...]]:
        if i == len(center):
            if left == 0:
                yield ()
            return
        for step in range(-left, left + 1):
            if 0 <= center[i] + step <= coords.upper[i]:
                yield from ((center[i] + step, *rest) for rest in walk(i + 1, left - abs(step)))

    return list(itertools.islice(walk(0, radius), MAX_BOX))


def _box(point: np.ndarray, coords: OrderedCoordinates) -> list[tuple[int, ...]]:
    lows, highs = np.clip(np.floor(point), 0, coords.upper), np.clip(np.ceil(point), 0, coords.upper)
    axes = [sorted({int(lo), int(hi)}) for lo, hi in zip(lows, highs, strict=True)]
    return list(itertools.islice(itertools.product(*axes), MAX_BOX))


def _shifted_to_target(h: np.ndarray, coords: OrderedCoordinates, base: Mapping[str, Any], target: ResourceTarget) -> np.ndarray:
    """H + t * 1 with t (bisection over the coordinates' range) where R crosses R_t."""
    span = float(coords.upper.max())
    lo, hi = -span, span
    for _ in range(30):
        mid = (lo + hi) / 2
        if target.relative(coords.config(coords.child(coords.clip(h + mid)), base)) > 1.0:
            hi = mid
        else:
            lo = mid
    return coords.clip(h + (lo + hi) / 2)


def uniform_rescale(coords: Sequence[OrderedCoordinates], base: Mapping[str, Any], target: ResourceTarget) -> dict[str, Any]:
    """Seed 003's uniform-rescale baseline: every parameter of a group (e.g. all stage widths)
    at one common value, one group per element of ``coords`` (channel; input; or both).

    Among the combinations of common values, those within the target's tolerance are
    preferred; of these, the one whose groups are scaled by the most similar factors
    (value / baseline value; channel and input together: compound scaling), then the
    closest in resource; without any, the closest in resource."""
    options = [range(int(c.upper.max()) + 1) for c in coords]
    best: tuple[tuple[float, float, float], dict[str, Any]] | None = None
    for levels in itertools.product(*options):
        config = dict(base)
        for c, level in zip(coords, levels, strict=True):
            config = c.config([min(level, int(u)) for u in c.upper], config)
        miss = abs(target.relative(config) - 1.0)
        factors = [np.mean([np.log(float(config[n]) / float(base[n])) for n in c.names]) for c in coords]
        key = (max(miss, TOLERANCE), float(np.ptp(factors)), miss)
        if best is None or key < best[0]:
            best = (key, config)
    assert best is not None
    return best[1]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def resource_target(problem: Problem, *, macs: float | None = None, latency: float | None = None) -> ResourceTarget:
    """The target of a search: ``latency`` ms per image from this device's latency table,
    else ``macs`` MACs per image, else the baseline's MACs (the shape at equal cost)."""
    family, data = problem.definition.family, problem.data
    if latency is not None:
        table = latency_model(family, data.input_shape, data.num_classes)
        return ResourceTarget("--target-latency", latency, table.cost, table.unit)
    model = resource_model(family, data.input_shape, data.num_classes)
    if macs is not None:
        return ResourceTarget("--target-macs", macs, model.cost, model.unit)
    return ResourceTarget("the baseline's MACs", model.cost(problem.space.baseline), model.cost, model.unit)
