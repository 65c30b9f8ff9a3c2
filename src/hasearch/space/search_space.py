"""The joint search space: parameters with roles, on top of ConfigSpace."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ConfigSpace as CS
import numpy as np
from ConfigSpace.util import deactivate_inactive_hyperparameters

from hasearch.errors import SpaceError
from hasearch.space.params import Clause, Condition, Kind, ParamSpec, Role

_ROLE_KEY = "role"


def _to_hyperparameter(p: ParamSpec) -> CS.hyperparameters.Hyperparameter:
    meta = {_ROLE_KEY: str(p.role)}
    if p.kind is Kind.CATEGORICAL:
        return CS.CategoricalHyperparameter(p.name, list(p.choices), default_value=_or_first(p), meta=meta)
    if p.kind is Kind.ORDINAL:
        return CS.OrdinalHyperparameter(p.name, list(p.choices), default_value=_or_first(p), meta=meta)
    if p.kind is Kind.FLOAT:
        return CS.UniformFloatHyperparameter(
            p.name, p.low, p.high, log=p.log, default_value=p.default, meta=meta
        )
    return CS.UniformIntegerHyperparameter(
        p.name, int(p.low), int(p.high), log=p.log, default_value=p.default, meta=meta
    )


def _or_first(p: ParamSpec) -> Any:
    return p.choices[0] if p.default is None else p.default


def _to_condition(space: CS.ConfigurationSpace, child: str, cond: Condition) -> Any:
    parts = [CS.InCondition(space[child], space[c.parameter], list(c.values)) for c in cond.clauses]
    if len(parts) == 1:
        return parts[0]
    return CS.OrConjunction(*parts) if cond.combine == "any" else CS.AndConjunction(*parts)


MAX_TRIES = 1000  # draws per sample under a constraint before the space counts as infeasible


def plain_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as a dict of Python values: ConfigSpace gives numpy scalars for ordinal,
    categorical and stepped integer choices (``np.int64(64)`` as a batch size made every
    sampled trial fail in the trainer: "an integer is required")."""
    return {name: value.item() if isinstance(value, np.generic) else value for name, value in config.items()}


@dataclass
class Constraint:
    """A resource limit on configurations: ``cost(config) <= limit`` (e.g. MACs).

    Keeps the smallest cost it has seen, for the error when nothing meets the limit.
    """

    name: str  # the option that set it, e.g. "--max-macs"
    limit: float
    cost: Callable[[Mapping[str, Any]], float]
    unit: str = ""
    source: Any = None  # the resource model behind ``cost`` (e.g. a latency table to save)
    smallest: float = math.inf

    def allows(self, config: Mapping[str, Any]) -> bool:
        value = self.cost(config)
        self.smallest = min(self.smallest, value)
        return value <= self.limit

    def refusal(self, tries: int) -> str:
        return (
            f"{self.name} {_number(self.limit)}: none of {tries} random configurations of the space is under the limit "
            f"(smallest seen: {_number(self.smallest)} {self.unit}); raise the limit or narrow the space"
        )


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


class SearchSpace:
    """A joint architecture + hyperparameter + augmentation space.

    Args:
        params: The parameters, in a fixed order (bases and controllers follow it).
        name: A short name shown in tables.
        model: The model family whose builder turns a configuration into a network
            (``None`` for spaces used only through the Python API).
        baseline: The hand-picked configuration a search must beat; missing parameters
            take their default.
        seed: Seed of the ConfigSpace sampler.
    """

    def __init__(
        self,
        params: Sequence[ParamSpec],
        *,
        name: str = "space",
        model: str | None = None,
        baseline: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self.params: tuple[ParamSpec, ...] = tuple(params)
        self.name = name
        self.model = model
        self._by_name = {p.name: p for p in self.params}
        if len(self._by_name) != len(self.params):
            raise SpaceError(f"space {name!r}: duplicate parameter names")
        self.configspace = self._build_configspace(seed)
        self._sampler: CS.ConfigurationSpace | None = None  # private copy that sampling seeds
        self.constraints: tuple[Constraint, ...] = ()
        self.baseline: dict[str, Any] = self.complete(baseline or {}, field="baseline")

    def _build_configspace(self, seed: int | None) -> CS.ConfigurationSpace:
        space = CS.ConfigurationSpace(name=self.name, seed=seed)
        for p in self.params:
            try:
                space.add(_to_hyperparameter(p))
            except (ValueError, TypeError) as exc:
                raise SpaceError(f"parameter {p.name!r}: {exc}") from None
        for p in self.params:
            if p.condition is not None:
                try:
                    space.add(_to_condition(space, p.name, p.condition))
                except (ValueError, TypeError, KeyError) as exc:  # e.g. ConfigSpace's CyclicDependancyError
                    detail = str(exc) or type(exc).__name__
                    raise SpaceError(f"condition of parameter {p.name!r}: {detail} (conditions must not form a cycle)") from None
        return space

    # ----------------------------------------------------------------- lookups
    def __getitem__(self, name: str) -> ParamSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise SpaceError(f"unknown parameter {name!r} in space {self.name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.params)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def with_role(self, *roles: Role) -> tuple[ParamSpec, ...]:
        """The parameters whose role is one of ``roles``, in space order."""
        return tuple(p for p in self.params if p.role in roles)

    def ordered_architecture(self) -> tuple[ParamSpec, ...]:
        """Ordered (int/ordinal) architecture parameters: the NES space of seed 003."""
        return tuple(p for p in self.params if p.role is Role.ARCHITECTURE and p.is_ordered)

    # ------------------------------------------------------------ configurations
    def sample(self, rng: np.random.Generator) -> CS.Configuration:
        """One configuration drawn from ConfigSpace's prior (uniform) with ``rng``; with a
        :attr:`constraints`, the first of up to ``MAX_TRIES`` draws that meets them all.

        Sampling seeds a private copy of the ConfigSpace space, so a space the caller passed
        in (:meth:`from_configspace`) is never reseeded.

        Raises:
            SpaceError: if none of ``MAX_TRIES`` draws meets the constraints.
        """
        if self._sampler is None:
            self._sampler = copy.deepcopy(self.configspace)
        for _ in range(MAX_TRIES if self.constraints else 1):
            self._sampler.seed(int(rng.integers(0, 2**31 - 1)))
            drawn = CS.Configuration(self.configspace, values=dict(self._sampler.sample_configuration()))
            if self.feasible(drawn):
                return drawn
        never = [c.refusal(MAX_TRIES) for c in self.constraints if c.smallest > c.limit]
        names = " and ".join(f"{c.name} {_number(c.limit)}" for c in self.constraints)
        raise SpaceError("; ".join(never) or f"none of {MAX_TRIES} random configurations meets {names} together; raise a limit")

    def feasible(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` meets every constraint of the space (always, without any)."""
        return all(c.allows(config) for c in self.constraints)

    def constrained(self, *constraints: Constraint) -> SearchSpace:
        """A copy whose sampling (and every strategy's proposals) meets ``constraints`` too."""
        out = copy.copy(self)
        out._sampler, out.constraints = None, self.constraints + constraints
        return out

    def complete(self, values: Mapping[str, Any], *, field: str = "configuration") -> dict[str, Any]:
        """Fill missing parameters with defaults, drop inactive ones, and validate.

        Raises:
            SpaceError: naming the first unknown parameter or out-of-range value.
        """
        for key, value in values.items():
            spec = self._by_name.get(key)
            if spec is None:
                raise SpaceError(f"{field}: unknown parameter {key!r}")
            if not spec.contains(value):
                raise SpaceError(f"{field}: {key}={value!r} is outside {describe_range(spec)}")
        full = {p.name: values.get(p.name, _default(p)) for p in self.params}
        return dict(self.configuration(full))

    def configuration(self, values: Mapping[str, Any]) -> CS.Configuration:
        """A ConfigSpace Configuration from a full assignment; inactive values are dropped."""
        typed = {k: _native(self._by_name[k], v) for k, v in values.items()}
        return deactivate_inactive_hyperparameters(typed, self.configspace)

    def is_active(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether parameter ``name`` is active given the (parent) values."""
        cond = self[name].condition
        if cond is None:
            return True
        hits = (values.get(c.parameter) in c.values for c in cond.clauses)
        return any(hits) if cond.combine == "any" else all(hits)

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_configspace(cls, space: CS.ConfigurationSpace, *, role: Role = Role.HYPERPARAMETER) -> SearchSpace:
        """Wrap a plain ConfigSpace space (for the Python API on any objective).

        Roles come from each hyperparameter's ``meta['role']`` when present, else ``role``.
        Conditions other than In/Equals (and their And/Or conjunctions) are not supported.
        """
        wrapped = cls(_specs_from_configspace(space, role), name=space.name or "space")
        wrapped.configspace = space  # jobs then carry Configurations of the caller's own space
        return wrapped

    def restricted(self, fixed: Mapping[str, Any], *, name: str | None = None) -> SearchSpace:
        """A copy in which ``fixed`` parameters are removed (their values are kept aside).

        Used by phase-wise search and the hp-only / arch-only modes.
        """
        keep = [p for p in self.params if p.name not in fixed]
        keep = [_drop_missing_parents(p, {q.name for q in keep}) for p in keep]
        base = {k: v for k, v in self.baseline.items() if k not in fixed}
        return SearchSpace(keep, name=name or self.name, model=self.model, baseline=base)

    def __repr__(self) -> str:
        return f"SearchSpace(name={self.name!r}, model={self.model!r}, params={len(self.params)})"


def _drop_missing_parents(p: ParamSpec, present: set[str]) -> ParamSpec:
    if p.condition is None:
        return p
    clauses = tuple(c for c in p.condition.clauses if c.parameter in present)
    cond = Condition(clauses, p.condition.combine) if clauses else None
    return ParamSpec(**{**p.__dict__, "condition": cond})


def _default(p: ParamSpec) -> Any:
    if p.default is not None:
        return p.default
    if p.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
        return p.choices[0]
    assert p.low is not None and p.high is not None
    mid = float(np.sqrt(p.low * p.high)) if p.log else (p.low + p.high) / 2
    return round(mid) if p.kind is Kind.INT else mid


def _native(p: ParamSpec, value: Any) -> Any:
    if p.kind is Kind.INT:
        return round(value)
    if p.kind is Kind.FLOAT:
        return float(value)
    return value


def describe_range(p: ParamSpec) -> str:
    """A human-readable description of a parameter's legal values."""
    if p.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
        return "{" + ", ".join(map(str, p.choices)) + "}"
    return f"[{p.low}, {p.high}] ({p.kind})"


def _specs_from_configspace(space: CS.ConfigurationSpace, role: Role) -> list[ParamSpec]:
    conditions = _conditions_by_child(space)
    specs = []
    for hp in space.values():
        meta_role = Role((hp.meta or {}).get(_ROLE_KEY, role))
        common = {"name": hp.name, "role": meta_role, "condition": conditions.get(hp.name)}
        if isinstance(hp, CS.CategoricalHyperparameter):
            specs.append(ParamSpec(kind=Kind.CATEGORICAL, choices=tuple(hp.choices), default=hp.default_value, **common))
        elif isinstance(hp, CS.OrdinalHyperparameter):
            specs.append(ParamSpec(kind=Kind.ORDINAL, choices=tuple(hp.sequence), default=hp.default_value, **common))
        elif isinstance(hp, CS.UniformIntegerHyperparameter):
            specs.append(ParamSpec(kind=Kind.INT, low=hp.lower, high=hp.upper, log=hp.log, default=hp.default_value, **common))
        elif isinstance(hp, CS.UniformFloatHyperparameter):
            specs.append(ParamSpec(kind=Kind.FLOAT, low=hp.lower, high=hp.upper, log=hp.log, default=hp.default_value, **common))
        elif isinstance(hp, CS.Constant):
            specs.append(ParamSpec(kind=Kind.CATEGORICAL, choices=(hp.value,), default=hp.value, **common))
        else:
            raise SpaceError(f"parameter {hp.name!r}: unsupported ConfigSpace type {type(hp).__name__}")
    return specs


def _conditions_by_child(space: CS.ConfigurationSpace) -> dict[str, Condition]:
    out: dict[str, Condition] = {}
    for cond in space.conditions:
        if isinstance(cond, (CS.OrConjunction, CS.AndConjunction)):
            combine = "any" if isinstance(cond, CS.OrConjunction) else "all"
            clauses = tuple(_clause(c) for c in cond.components)
            out[cond.get_descendant_literal_conditions()[0].child.name] = Condition(clauses, combine)
        else:
            out[cond.child.name] = Condition((_clause(cond),))
    return out


def _clause(cond: Any) -> Clause:
    if isinstance(cond, CS.InCondition):
        return Clause(cond.parent.name, tuple(cond.values))
    if isinstance(cond, CS.EqualsCondition):
        return Clause(cond.parent.name, (cond.value,))
    raise SpaceError(f"condition {cond}: only In/Equals conditions are supported")

