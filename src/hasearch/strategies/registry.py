"""Search methods by name, for the CLI and settings files."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hasearch.errors import UserError
from hasearch.space import SearchSpace
from hasearch.strategies.base import SingleRunStrategy, Strategy
from hasearch.strategies.hyperband import BOHB, Hyperband, SuccessiveHalving
from hasearch.strategies.random_search import RandomSearch
from hasearch.strategies.tunables import tuned


@dataclass(frozen=True)
class StrategyOptions:
    """What the CLI knows when it creates a strategy."""

    space: SearchSpace
    seed: int
    min_budget: float
    max_budget: float
    eta: int
    integer_budgets: bool = True
    checkpoint_seconds: float = 60.0
    controller_lr: float = 0.05
    max_macs: float | None = None  # multi-trial methods get it as the space's constraint
    target_macs: float | None = None  # NES and the uniform-rescale baselines
    target_latency: float | None = None
    tuning: Mapping[str, object] = field(default_factory=dict)  # --option NAME=VALUE (single-run strategies)


@dataclass(frozen=True)
class StrategyEntry:
    name: str
    description: str
    make: Callable[[StrategyOptions], Strategy | SingleRunStrategy]
    targets: bool = False  # takes --target-macs / --target-latency (and not the --max-* limits)
    options_type: str | None = None  # "module:Class" of the options dataclass --option sets (imported when needed)

    def load_options_type(self) -> type | None:
        """The options dataclass of ``--option`` (None: the strategy takes none)."""
        if self.options_type is None:
            return None
        module, name = self.options_type.split(":")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


_AUTOHAS_OPTIONS, _NES_OPTIONS, _DHA_OPTIONS = "hasearch.autohas.strategy:AutoHASOptions", "hasearch.nes.strategy:NESOptions", "hasearch.dha.strategy:DHAOptions"


def _random(o: StrategyOptions) -> RandomSearch:
    return RandomSearch(o.space, max_budget=o.max_budget, seed=o.seed)


def _sh(o: StrategyOptions) -> SuccessiveHalving:
    return SuccessiveHalving(o.space, min_budget=o.min_budget, max_budget=o.max_budget, eta=o.eta, seed=o.seed, integer_budgets=o.integer_budgets)


def _hyperband(o: StrategyOptions) -> Hyperband:
    return Hyperband(o.space, min_budget=o.min_budget, max_budget=o.max_budget, eta=o.eta, seed=o.seed, integer_budgets=o.integer_budgets)


def _bohb(adaptive_floor: float | None = None) -> Callable[[StrategyOptions], BOHB]:
    def make(o: StrategyOptions) -> BOHB:
        return BOHB(
            o.space, min_budget=o.min_budget, max_budget=o.max_budget, eta=o.eta, seed=o.seed,
            integer_budgets=o.integer_budgets, adaptive_floor=adaptive_floor,
        )

    return make


def _autohas(mode: str) -> Callable[[StrategyOptions], SingleRunStrategy]:
    def make(o: StrategyOptions) -> SingleRunStrategy:
        from hasearch.autohas import AutoHAS, AutoHASOptions

        options = AutoHASOptions(mode=mode, checkpoint_seconds=o.checkpoint_seconds, controller_lr=o.controller_lr, flops_target=o.max_macs)
        return AutoHAS(options=tuned(options, o.tuning), seed=o.seed)

    return make


def _differentiable(o: StrategyOptions) -> SingleRunStrategy:
    from hasearch.autohas.differentiable import DifferentiableAutoHAS

    return DifferentiableAutoHAS(controller_lr=o.controller_lr, seed=o.seed)


def _nes(dimensions: tuple[str, ...] | None) -> Callable[[StrategyOptions], SingleRunStrategy]:
    def make(o: StrategyOptions) -> SingleRunStrategy:
        from hasearch.nes import NES, NESOptions

        options = NESOptions(dimensions=dimensions, target_macs=o.target_macs, target_latency=o.target_latency, checkpoint_seconds=o.checkpoint_seconds)
        return NES(options=tuned(options, o.tuning), seed=o.seed)

    return make


def _uniform(dimensions: tuple[str, ...]) -> Callable[[StrategyOptions], SingleRunStrategy]:
    def make(o: StrategyOptions) -> SingleRunStrategy:
        from hasearch.nes import UniformRescale

        return UniformRescale(dimensions=dimensions, target_macs=o.target_macs, target_latency=o.target_latency)

    return make


def _dha(components: tuple[str, ...], *, sequential: bool = False) -> Callable[[StrategyOptions], SingleRunStrategy]:
    def make(o: StrategyOptions) -> SingleRunStrategy:
        from hasearch.dha import DHA, DHAOptions

        options = DHAOptions(components=frozenset(components), sequential=sequential, checkpoint_seconds=o.checkpoint_seconds)
        return DHA(options=tuned(options, o.tuning), seed=o.seed)

    return make


_ALL = ("nas", "da", "hpo")
_DHA_ENTRIES = (
    StrategyEntry("dha", "DHA (seed 001): augmentation policy, lr / weight decay and architecture in one run, no retraining", _dha(_ALL), options_type=_DHA_OPTIONS),
    StrategyEntry("dha-sequential", "Sequential DHA (seed 001 App. B): NAS first, then the derived architecture with online DA + HPO", _dha(_ALL, sequential=True), options_type=_DHA_OPTIONS),
    StrategyEntry("ista", "one-stage ISTA-NAS (seed 001 Table 1): architecture only, base augmentation and hyperparameters", _dha(("nas",)), options_type=_DHA_OPTIONS),
    StrategyEntry("dha-nas-da", "DHA ablation (Table 3): architecture and augmentation policy jointly", _dha(("nas", "da")), options_type=_DHA_OPTIONS),
    StrategyEntry("dha-nas-hpo", "DHA ablation (Table 3): architecture and lr / weight decay jointly", _dha(("nas", "hpo")), options_type=_DHA_OPTIONS),
    StrategyEntry("dha-nas-da-sequential", "DHA ablation (Table 3): architecture first, then the augmentation policy", _dha(("nas", "da"), sequential=True), options_type=_DHA_OPTIONS),
    StrategyEntry("dha-nas-hpo-sequential", "DHA ablation (Table 3): architecture first, then lr / weight decay", _dha(("nas", "hpo"), sequential=True), options_type=_DHA_OPTIONS),
    StrategyEntry("dha-da-hpo", "DHA without NAS: online augmentation policy and lr / weight decay on the base architecture", _dha(("da", "hpo")), options_type=_DHA_OPTIONS),
)

STRATEGIES: dict[str, StrategyEntry] = {
    e.name: e
    for e in (
        StrategyEntry("random", "random search: configurations from the prior, each on the full budget", _random),
        StrategyEntry("sh", "successive halving: the most aggressive Hyperband bracket, repeated", _sh),
        StrategyEntry("hyperband", "Hyperband (Li et al. 2018): all brackets, configurations from the prior", _hyperband),
        StrategyEntry("bohb", "BOHB (Falkner et al. 2018): Hyperband brackets + KDE model (seed 002)", _bohb()),
        StrategyEntry("bohb-adaptive", "BOHB with a KDE bandwidth floor that shrinks with the data (not in the paper)", _bohb(adaptive_floor=0.5)),
        StrategyEntry("autohas", "AutoHAS (seed 000): supernet + REINFORCE over architecture and hyperparameters", _autohas("joint"), options_type=_AUTOHAS_OPTIONS),
        StrategyEntry("autohas-hp", "AutoHAS, hyperparameters and augmentation only", _autohas("hp-only"), options_type=_AUTOHAS_OPTIONS),
        StrategyEntry("autohas-arch", "AutoHAS, architecture only", _autohas("arch-only"), options_type=_AUTOHAS_OPTIONS),
        StrategyEntry("autohas-phase", "AutoHAS phase-wise: architecture first, then hyperparameters", _autohas("phase-wise"), options_type=_AUTOHAS_OPTIONS),
        StrategyEntry("autohas-darts", "differentiable variant: softmax mixture of all candidates (seed 000 Table 3)", _differentiable),
        StrategyEntry("nes", "NES (seed 003): widths, depths and input scale by evolution-strategy gradients under a target", _nes(None), targets=True, options_type=_NES_OPTIONS),
        StrategyEntry("nes-channel", "NES over the channel widths only", _nes(("channel",)), targets=True, options_type=_NES_OPTIONS),
        StrategyEntry("nes-channel-input", "NES over the channel widths and the input scale", _nes(("channel", "input")), targets=True, options_type=_NES_OPTIONS),
        StrategyEntry("uniform-channel", "baseline of seed 003: every width scaled alike to meet the target", _uniform(("channel",)), targets=True),
        StrategyEntry("uniform-input", "baseline of seed 003: the input resolution scaled to meet the target", _uniform(("input",)), targets=True),
        StrategyEntry("uniform-channel-input", "baseline of seed 003: widths and resolution scaled together", _uniform(("channel", "input")), targets=True),
        *_DHA_ENTRIES,
    )
}


def get_strategy(name: str) -> StrategyEntry:
    """The strategy called ``name``; UserError listing the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UserError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})") from None
