"""The architecture hyperparameters H that NES optimises (seed 003 Sec. 3.1.2), as real
coordinates in units of each parameter's step.

Coordinate j of H is an index into parameter j's ordered values (``width_0`` in 0.5, 0.75,
..., 1.5 is coordinate 0..4). A child is H rounded to the nearest index and clipped to the
range: ``floor(H + 1/2)``, the paper's ``int(H)`` (Eq. 6, 8) with H shifted by half a step,
so that H0 = the baseline's indices is the baseline itself and a zero-mean perturbation is
symmetric around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hasearch.errors import UserError
from hasearch.space import ParamSpec, SearchSpace

# which ordered architecture parameters belong to which of seed 003's dimensions, by name prefix
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "channel": ("width_", "filters", "widen_factor_"),
    "input": ("input_scale",),
    "depth": ("depth_",),
}


def ordered_values(p: ParamSpec) -> tuple[Any, ...]:
    """The values of an ordered parameter, in order."""
    if p.choices:
        return tuple(p.choices)
    return tuple(range(int(p.low), int(p.high) + 1))  # type: ignore[arg-type]


def dimension_names(space: SearchSpace, dimensions: Iterable[str] | None) -> tuple[str, ...]:
    """The ordered architecture parameters of ``space`` in ``dimensions`` (None: all of them).

    Raises:
        UserError: for an unknown dimension, or when the space has none of their parameters.
    """
    ordered = [p.name for p in space.ordered_architecture() if len(ordered_values(p)) > 1]
    if dimensions is None:
        names = ordered
    else:
        unknown = sorted(set(dimensions) - set(DIMENSIONS))
        if unknown:
            raise UserError(f"unknown NES dimension {unknown[0]!r} (known: {', '.join(DIMENSIONS)})")
        prefixes = tuple(prefix for d in dimensions for prefix in DIMENSIONS[d])
        names = [n for n in ordered if n.startswith(prefixes)]
    if not names:
        wanted = "ordered architecture parameters" if dimensions is None else f"{'/'.join(dimensions)} parameters"
        raise UserError(f"space {space.name!r} has no {wanted} to search (NES needs int or ordinal architecture parameters)")
    return tuple(names)


@dataclass(frozen=True)
class OrderedCoordinates:
    """Maps H (one real per searched parameter) to configurations of the space."""

    space: SearchSpace
    names: tuple[str, ...]

    @property
    def values(self) -> tuple[tuple[Any, ...], ...]:
        return tuple(ordered_values(self.space[n]) for n in self.names)

    @property
    def upper(self) -> np.ndarray:
        """The largest index of each coordinate."""
        return np.array([len(v) - 1 for v in self.values], dtype=float)

    def clip(self, h: np.ndarray) -> np.ndarray:
        return np.clip(h, 0.0, self.upper)

    def indices_of(self, config: Mapping[str, Any]) -> np.ndarray:
        """The coordinates of a configuration (its values' indices)."""
        return np.array([float(v.index(config[n])) for n, v in zip(self.names, self.values, strict=True)])

    def child(self, h: np.ndarray) -> tuple[int, ...]:
        """The child H stands for: nearest index, clipped to the range."""
        return tuple(int(i) for i in np.clip(np.floor(np.asarray(h) + 0.5), 0, self.upper))

    def config(self, indices: Sequence[int], base: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` with the searched parameters at ``indices`` (inactive ones dropped,
        newly active ones at their defaults)."""
        values = {k: v for k, v in base.items() if k in self.space}
        values.update({n: v[i] for n, v, i in zip(self.names, self.values, indices, strict=True)})
        return self.space.complete(values)
