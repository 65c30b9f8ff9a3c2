"""Parameter declarations of a joint search space.

A :class:`ParamSpec` is the declarative form of one searchable choice (it mirrors one
entry of the YAML schema in ``docs/space-schema.md``); :class:`SearchSpace` turns a list
of them into a ConfigSpace ``ConfigurationSpace`` and keeps each parameter's role.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What a parameter controls; methods use roles to pick what they search."""

    ARCHITECTURE = "architecture"
    HYPERPARAMETER = "hyperparameter"
    AUGMENTATION = "augmentation"


class Kind(StrEnum):
    """The value type of a parameter."""

    CATEGORICAL = "categorical"
    FLOAT = "float"
    INT = "int"
    ORDINAL = "ordinal"


@dataclass(frozen=True)
class Clause:
    """``parameter`` takes one of ``values``."""

    parameter: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Condition:
    """A parameter is active when ``any`` (or ``all``) of its clauses hold."""

    clauses: tuple[Clause, ...]
    combine: str = "any"  # "any" or "all"

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.parameter for c in self.clauses))


@dataclass(frozen=True)
class ParamSpec:
    """One searchable parameter.

    Attributes:
        name: Unique name; builders and the trainer read values by name.
        role: Architecture, hyperparameter or augmentation.
        kind: Categorical, float, int or ordinal.
        choices: The values of a categorical or ordinal parameter (ordinal: in order).
        low: Lower bound of a float or int parameter.
        high: Upper bound of a float or int parameter.
        log: Sample (and place basis values) on a log scale.
        default: Default value (ConfigSpace's default; used for fixed parameters).
        basis_size: Number of basis values m for a float or int parameter (seed 000 Sec. 2.2).
        condition: When the parameter is active; ``None`` means always.
    """

    name: str
    role: Role
    kind: Kind
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    default: Any = None
    basis_size: int = 5
    condition: Condition | None = field(default=None)

    @property
    def is_numeric_range(self) -> bool:
        return self.kind in (Kind.FLOAT, Kind.INT)

    @property
    def is_ordered(self) -> bool:
        """True for int and ordinal parameters: values have an order (channels, depth...).

        The NES method (seed 003) optimises such ordered architecture parameters.
        """
        return self.kind in (Kind.INT, Kind.ORDINAL)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a legal value of this parameter."""
        if self.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is Kind.INT and not float(value).is_integer():
            return False
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high and math.isfinite(value)
