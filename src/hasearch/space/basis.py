"""Unified basis representation of seed 000 (AutoHAS) Sec. 2.2 and derivation Eq. 4-5.

Every parameter maps to a finite basis B: a categorical/ordinal parameter's basis is its
choices; a float or int parameter is discretised into m basis values (default m=5),
log-spaced on log parameters (Eq. 3: h = sum_i C_i B_i). Given probability vectors P over
the bases, :func:`derive` returns the final configuration: one-hot argmax for
architecture and categorical choices (Eq. 4 and Eq. 5, categorical case) and the
probability-weighted sum of the basis for continuous hyperparameters (Eq. 5, C^h = P^h).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hasearch.errors import SpaceError
from hasearch.space.params import Kind, ParamSpec, Role
from hasearch.space.search_space import SearchSpace


@dataclass(frozen=True)
class Basis:
    """The finite basis of one parameter."""

    param: ParamSpec
    values: tuple[Any, ...]

    @property
    def combinable(self) -> bool:
        """True when Eq. 5 takes the probability-weighted sum (continuous hyperparameters)."""
        return self.param.is_numeric_range and self.param.role is not Role.ARCHITECTURE

    def __len__(self) -> int:
        return len(self.values)

    def combine(self, probs: Sequence[float]) -> Any:
        """The value for probability vector ``probs`` over this basis (Eq. 4-5)."""
        p = _check_probabilities(self.param.name, probs, len(self.values))
        if not self.combinable:
            return self.values[int(np.argmax(p))]  # Eq. 4 / Eq. 5 categorical: one_hot(argmax P)
        value = float(np.dot(p, np.asarray(self.values, dtype=float)))  # Eq. 3 with C^h = P^h
        value = min(max(value, self.param.low), self.param.high)  # guard rounding at the bounds
        return round(value) if self.param.kind is Kind.INT else value


def basis_of(p: ParamSpec) -> Basis:
    """The basis of parameter ``p`` (seed 000 Sec. 2.2)."""
    if p.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
        return Basis(p, tuple(p.choices))
    assert p.low is not None and p.high is not None
    m = p.basis_size
    if p.kind is Kind.INT and p.high - p.low + 1 <= m:
        return Basis(p, tuple(range(int(p.low), int(p.high) + 1)))
    grid = np.geomspace(p.low, p.high, m) if p.log else np.linspace(p.low, p.high, m)
    if p.kind is Kind.INT:
        return Basis(p, tuple(dict.fromkeys(round(v) for v in grid)))
    return Basis(p, tuple(float(v) for v in grid))


class BasisSet:
    """The bases of all parameters of a space, in space order."""

    def __init__(self, space: SearchSpace) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        self.space = space
        self.bases: tuple[Basis, ...] = tuple(basis_of(p) for p in space.params)
        self._index = {b.param.name: i for i, b in enumerate(self.bases)}

    def __getitem__(self, name: str) -> Basis:
        if name not in self._index:
            raise SpaceError(f"unknown parameter {name!r} (the space has {', '.join(self._index)})")
        return self.bases[self._index[name]]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(b) for b in self.bases)

    def from_indices(self, indices: Mapping[str, int], *, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The configuration that picks basis element ``indices[name]`` of each parameter.

        Parameters missing from ``indices`` take their value in ``base`` (default: the
        space's baseline); inactive parameters are dropped.
        """
        values = dict(self.space.baseline if base is None else base)
        for name, i in indices.items():
            basis = self[name].values
            if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < len(basis):  # -1 would pick from the end
                raise SpaceError(f"basis index {i!r} of {name} is outside [0, {len(basis)})")
            values[name] = basis[i]
        return _complete_with_inactive(self.space, values)

    def derive(self, probabilities: Mapping[str, Sequence[float]], *, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The final configuration from probability vectors over the bases (Eq. 4-5).

        Parameters without a probability vector take their value in ``base`` (default:
        the space's baseline).
        """
        if not isinstance(probabilities, Mapping):
            raise TypeError(f"derive: probabilities must be a mapping of parameter names to vectors, got {type(probabilities).__name__}")
        unknown = set(probabilities) - set(self._index)
        if unknown:
            raise SpaceError(f"derive: unknown parameter {min(unknown)!r}")
        values = dict(self.space.baseline if base is None else base)
        for name, probs in probabilities.items():
            values[name] = self[name].combine(probs)
        return _complete_with_inactive(self.space, values)


def derive(space: SearchSpace, probabilities: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Shortcut for ``BasisSet(space).derive(probabilities)``."""
    return BasisSet(space).derive(probabilities)


def _complete_with_inactive(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill parameters that a parent activates but the baseline left out, then validate."""
    full = dict(values)
    for p in space.params:
        if p.name not in full:
            full[p.name] = basis_of(p).values[0] if p.default is None else p.default
    return dict(space.configuration(full))


def _check_probabilities(name: str, probs: Sequence[float], size: int) -> np.ndarray:
    try:
        p = np.asarray(probs, dtype=float)
    except (TypeError, ValueError):
        raise SpaceError(f"derive: the probabilities of {name} must be numbers, got {probs!r}") from None
    if p.shape != (size,):
        raise SpaceError(f"derive: {name} needs {size} probabilities, got shape {p.shape}")
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-4):
        raise SpaceError(f"derive: probabilities of {name} must be non-negative and sum to 1")
    return p
