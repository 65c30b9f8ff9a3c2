"""Which parts DHA searches in a stage, and the engine that searches them on a problem.

The architecture relaxation is chosen by the space's model family (a dict, no if-chain):
ISTA-NAS sparse codes on the ``darts`` cell space, straight-through Gumbel-softmax on the
MBConv families. Without ``nas`` any family with a supernet works (its base child).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from hasearch.dha.architecture import (
    ArchitectureSearch,
    FixedArchitecture,
    GatedMBConvSupernet,
    GumbelChoices,
)
from hasearch.dha.engine import DHAEngine
from hasearch.dha.hypergrad import HyperBounds, LearnedHyperparameters
from hasearch.dha.policy import AugmentationPolicy
from hasearch.errors import UserError
from hasearch.space import Role
from hasearch.supernet import MBCONV_FAMILIES, has_supernet, supernet_for
from hasearch.train.hparams import TrainingHyperparameters

if TYPE_CHECKING:
    from hasearch.dha.strategy import DHAOptions
    from hasearch.problem import Problem

COMPONENTS = ("nas", "da", "hpo")


@dataclass(frozen=True)
class Stage:
    """One training run of a DHA variant: what it searches and its share of the budget."""

    name: str
    components: frozenset[str]
    share: float


def check_components(components: frozenset[str]) -> None:
    unknown = set(components) - set(COMPONENTS)
    if unknown or not components:
        raise UserError(f"DHA components must be a non-empty subset of {', '.join(COMPONENTS)} (got {sorted(components)})")


def stages_for(options: DHAOptions) -> list[Stage]:
    """One joint stage, or (sequential) NAS first, then the other components from scratch."""
    if not options.sequential:
        return [Stage("joint search", options.components, 1.0)]
    if "nas" not in options.components or options.components == {"nas"}:
        raise UserError("a sequential DHA variant needs NAS and at least one of da, hpo")
    rest = options.components - {"nas"}
    return [
        Stage("architecture search", frozenset({"nas"}), options.search_fraction),
        Stage("derived architecture from scratch", frozenset(rest), 1.0 - options.search_fraction),
    ]


ArchitectureFactory = Callable[["Problem", Mapping[str, Any], "DHAOptions", int], ArchitectureSearch]
#: ``DHAOptions.freeze_at=None``: the darts cells freeze at a quarter of the stage (chosen on
#: validation accuracy, docs/benchmarks.md; a departure from ISTA-NAS's "as long again"), the
#: MBConv choices at half of it (not measured otherwise).
ISTA_FREEZE_AT, GUMBEL_FREEZE_AT = 0.25, 0.5


def _ista(problem: Problem, base: Mapping[str, Any], options: DHAOptions, seed: int) -> ArchitectureSearch:
    from hasearch.dha.ista_cells import ISTACells

    net = supernet_for(problem.definition.family, problem.space, problem.data.input_shape, problem.data.num_classes)
    batch = int(base.get("batch_size", TrainingHyperparameters.batch_size))
    per_epoch = max(1, len(problem.data.train) // batch)  # the reference recovers alpha once per epoch
    freeze = ISTA_FREEZE_AT if options.freeze_at is None else options.freeze_at
    exact = options.recovery == "lasso"
    return ISTACells(net, problem.space, base, freeze_at=freeze, seed=seed, recover_every=max(10, per_epoch), exact_recovery=exact)


def _gumbel(problem: Problem, base: Mapping[str, Any], options: DHAOptions, seed: int) -> ArchitectureSearch:
    family = MBCONV_FAMILIES[problem.definition.family.name]
    net = GatedMBConvSupernet(family, problem.space, problem.data.input_shape, problem.data.num_classes)
    return GumbelChoices(net, problem.space, base, freeze_at=GUMBEL_FREEZE_AT if options.freeze_at is None else options.freeze_at)


RELAXATIONS: dict[str, ArchitectureFactory] = {"darts": _ista, **{name: _gumbel for name in MBCONV_FAMILIES}}


def _architecture(problem: Problem, stage: Stage, base: Mapping[str, Any], options: DHAOptions, seed: int) -> ArchitectureSearch:
    family = problem.definition.family
    if "nas" in stage.components:
        if family.name not in RELAXATIONS:
            raise UserError(f"DHA's architecture search needs model darts or an MBConv family (mbconv, mobilenetv2), not {family.name!r}")
        if not any(p.choices for p in problem.space.with_role(Role.ARCHITECTURE)):
            raise UserError(f"space {problem.space.name!r} has no categorical architecture choice for DHA to search")
        return RELAXATIONS[family.name](problem, base, options, seed)
    if not has_supernet(family):
        raise UserError(f"DHA needs a weight-sharing supernet; model {family.name!r} has none")
    net = supernet_for(family, problem.space, problem.data.input_shape, problem.data.num_classes)
    names = tuple(p.name for p in problem.space.with_role(Role.ARCHITECTURE))
    return FixedArchitecture(net, base, names)


def _hyperparameters(problem: Problem, base: Mapping[str, Any], options: DHAOptions) -> LearnedHyperparameters:
    """lr and weight decay learned within the space's ranges, from the base configuration's values."""
    space, hp = problem.space, TrainingHyperparameters.from_config(base)
    if hp.optimizer != "sgd":
        raise UserError(f"DHA's hypergradient step is SGD's (Eq. 3); the base configuration uses {hp.optimizer!r}")
    missing = [n for n in ("lr", "weight_decay") if n not in space or space[n].low is None]
    if missing:
        raise UserError(f"DHA's HPO learns lr and weight_decay within their ranges; space {space.name!r} has no range for {', '.join(missing)}")
    bounds = HyperBounds(lr=(float(space["lr"].low), float(space["lr"].high)), weight_decay=(float(space["weight_decay"].low), float(space["weight_decay"].high)))
    return LearnedHyperparameters(lr=hp.lr, weight_decay=hp.weight_decay, bounds=bounds, hyper_lr=options.hyper_lr)


def build_engine(problem: Problem, stage: Stage, derived: Mapping[str, Any], options: DHAOptions, seed: int) -> DHAEngine:
    """The engine of one stage (fresh weights: a later stage trains its child from scratch)."""
    base = {**problem.space.baseline, **derived}
    torch.manual_seed(seed)
    arch = _architecture(problem, stage, base, options, seed)
    policy = AugmentationPolicy() if "da" in stage.components else None
    hyper = _hyperparameters(problem, base, options) if "hpo" in stage.components else None
    return DHAEngine(arch=arch, data=problem.data, base=base, policy=policy, hyper=hyper, seed=seed, policy_lr=options.policy_lr, held_batch=options.held_batch)
