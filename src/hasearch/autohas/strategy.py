"""AutoHAS (seed 000): joint architecture + hyperparameter search in one training run.

Modes (Sec. 2.5): ``joint`` searches every parameter; ``hp-only`` the hyperparameters and
augmentation (architecture fixed at the baseline); ``arch-only`` the architecture
(hyperparameters at the baseline); ``phase-wise`` the architecture first, then the
hyperparameters with the found architecture. With architecture choices the reward is
TuNAS's absolute reward Q + beta * |F / F0 - 1| (beta < 0; F0 = the baseline's MACs or a
target) to keep FLOPs at the baseline's. The result is derived by Eq. 4-5 from the
controller's probabilities.

Departures from seed 000 (README, "Departures"):
* paired hyperparameter reward: Q(W*) minus W's accuracy on the same validation batch
  (variance reduction, unbiased because the distributions are independent);
* phase-wise search gives each phase half of the budget (the paper does not say);
* only learned parameters are derived by Eq. 4-5; a parameter whose distribution is no
  more concentrated than noise would leave it keeps the baseline's value
  (:mod:`hasearch.autohas.derivation`);
* a diverged sample (non-finite loss or W*) gets the worst reward of its group: Q = 0,
  and -accuracy(W) as its paired reward;
* warm-up steps score no rewards (no validation forwards) except the last
  :func:`priming_steps` before the first update and the history's: the moving-average
  baselines leave out rewards that would weigh at most 1% in them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from hasearch.artifacts import load_weights, restoring
from hasearch.autohas.controller import Controller, uniform_entropy
from hasearch.autohas.derivation import derivation_notes, derive_learned, entropy_warning
from hasearch.autohas.engine import SharedWeightsTrainer, reward_precision
from hasearch.autohas.history import History
from hasearch.checkpoint_clock import checkpoint_clock
from hasearch.device import global_rng_state, restore_global_rng_state
from hasearch.errors import UserError
from hasearch.fieldkinds import checked_options
from hasearch.loop import ELAPSED
from hasearch.problem import Problem
from hasearch.space import BasisSet, Role
from hasearch.strategies.base import SearchContext, SingleRunResult, SingleRunStrategy
from hasearch.supernet import (
    FixedNetwork,
    ResourceModel,
    has_supernet,
    resource_model,
    supernet_for,
)

MODES = ("joint", "hp-only", "arch-only", "phase-wise")
REWARD_PRECISIONS: dict[str, torch.dtype | None] = {"float32": None, "bfloat16": torch.bfloat16}
ARCH_GROUP, HP_GROUP = "architecture", "hyperparameter"
CHECKPOINT = "autohas/checkpoint.pt"
_CPU = torch.device("cpu")


@dataclass(frozen=True)
class AutoHASOptions:
    """Meta-hyperparameters of AutoHAS (seed 000 Sec. 3.1 defaults).

    Attributes:
        mode: joint, hp-only, arch-only or phase-wise.
        search: Names of the parameters to search (default: chosen by ``mode``); with
            phase-wise, architecture names are searched first, the others second.
        controller_lr: Adam learning rate of the controller.
        warmup: Fraction of each phase without controller updates.
        baseline_momentum: Momentum of the reward moving average.
        flops_beta: beta of the absolute reward (0 disables the FLOPs term).
        flops_target: F0 in MACs (default: the baseline's).
        val_batch: Validation images per reward.
        max_steps: Stop after this many steps (besides the time budget).
        history_every: Record the controller's probabilities every this many steps.
        checkpoint_seconds: Save a resumable checkpoint this often.
        paired_reward: Variance reduction: the hyperparameters' reward is Q(W*) minus the
            accuracy of W on the same validation batch (the architecture keeps Q(W*)).
            Unbiased because the distributions are independent; costs one extra forward.
        reward_precision: ``auto`` (bfloat16 where the device computes it natively, else
            float32), ``float32`` or ``bfloat16``: the precision of the reward forwards.
    """

    mode: str = "joint"
    search: tuple[str, ...] | None = None
    controller_lr: float = 0.05
    warmup: float = 0.3
    baseline_momentum: float = 0.95
    flops_beta: float = -0.1
    flops_target: float | None = None
    val_batch: int = 256
    max_steps: int | None = None
    history_every: int = 10
    checkpoint_seconds: float = 60.0
    paired_reward: bool = True
    reward_precision: str = "auto"

    #: What ``--option NAME=VALUE`` may set (:mod:`hasearch.strategies.tunables`).
    TUNABLE: ClassVar[dict[str, str]] = {
        "warmup": "share of each phase without controller updates, in [0, 1)",
        "baseline_momentum": "momentum of the reward's moving average, in [0, 1)",
        "flops_beta": "beta of the absolute FLOPs reward (<= 0; 0 disables it)",
        "val_batch": "validation images per reward",
        "paired_reward": "the hyperparameters' reward is Q(W*) - Q(W) (true) or Q(W*) (false)",
        "reward_precision": "auto, float32 or bfloat16 reward forwards",
        "max_steps": "stop after this many steps",
    }

    def reward_dtype(self, device: torch.device = _CPU) -> torch.dtype | None:
        """The reward forwards' autocast dtype on ``device`` (None: float32)."""
        if self.reward_precision == "auto":
            return reward_precision(device)
        return REWARD_PRECISIONS[self.reward_precision]


class AutoHAS(SingleRunStrategy):
    """AutoHAS: weight-sharing supernet + REINFORCE controller over the unified basis."""

    def __init__(self, *, options: AutoHASOptions | None = None, seed: int = 0) -> None:
        self.options = checked_options(options, AutoHASOptions, owner="AutoHAS")
        if self.options.mode not in MODES:
            raise UserError(f"AutoHAS mode must be one of {', '.join(MODES)}, got {self.options.mode!r}")
        if self.options.reward_precision not in ("auto", *REWARD_PRECISIONS):
            raise UserError(f"AutoHAS reward precision must be auto, float32 or bfloat16, got {self.options.reward_precision!r}")
        o = self.options
        ranges = 0 <= o.warmup < 1 and 0 <= o.baseline_momentum < 1 and -10 <= o.flops_beta <= 0 and 0 < o.controller_lr <= 1 and o.val_batch >= 1
        counts = (o.max_steps is None or o.max_steps >= 1) and o.history_every >= 1 and 0 < o.checkpoint_seconds < math.inf
        if not (ranges and counts and (o.flops_target is None or 0 < o.flops_target < math.inf)):
            raise UserError(
                "AutoHAS needs warmup and baseline_momentum in [0, 1), flops_beta in [-10, 0] (TuNAS: -0.07), controller_lr in (0, 1], val_batch >= 1, "
                "max_steps >= 1, history_every >= 1, and positive finite checkpoint_seconds and flops_target"
            )
        self.seed = seed

    # ------------------------------------------------------------------ setup
    def phases(self, problem: Problem) -> list[tuple[str, ...]]:
        """The parameter names searched in each phase."""
        space = problem.space
        arch = {p.name for p in space.with_role(Role.ARCHITECTURE)}
        names = self.options.search
        if names is None:
            by_mode = {"hp-only": lambda p: p.name not in arch, "arch-only": lambda p: p.name in arch}
            keep = by_mode.get(self.options.mode, lambda p: True)
            names = tuple(p.name for p in space.params if keep(p))
        for name in names:
            space[name]  # raises a SpaceError naming an unknown parameter
        if self.options.mode != "phase-wise":
            return [tuple(names)]
        return [p for p in (tuple(n for n in names if n in arch), tuple(n for n in names if n not in arch)) if p]

    def check(self, problem: Problem, time_budget: float | None) -> None:
        if time_budget is None and self.options.max_steps is None:
            raise UserError("AutoHAS needs a time budget (--budget)")
        arch = {p.name for p in problem.space.with_role(Role.ARCHITECTURE)}
        searches_arch = any(n in arch for phase in self.phases(problem) for n in phase)
        if searches_arch and not has_supernet(problem.definition.family):
            raise UserError(f"AutoHAS has no supernet for model {problem.definition.family.name!r}; use autohas-hp")
        if self.options.mode == "phase-wise" and len(self.phases(problem)) < 2:
            raise UserError(
                "phase-wise AutoHAS needs architecture and non-architecture parameters to search "
                "(it searches the architecture first, then the rest); use joint mode for one kind"
            )

    @staticmethod
    def _network(problem: Problem) -> nn.Module:
        family, data = problem.definition.family, problem.data
        if has_supernet(family):
            return supernet_for(family, problem.space, data.input_shape, data.num_classes)
        return FixedNetwork(problem.build(problem.space.baseline))

    # -------------------------------------------------------------------- run
    def run(self, context: SearchContext) -> SingleRunResult:
        problem, options = context.problem, self.options
        self.check(problem, context.time_budget)
        phases = self.phases(problem)
        torch.manual_seed(self.seed)
        net = self._network(problem)
        trainer = SharedWeightsTrainer(
            net, problem.data, seed=self.seed, val_batch=options.val_batch,
            reward_dtype=options.reward_dtype(problem.compute.torch_device), compute=problem.compute,
        )  # fmt: skip
        state = _RunState(base=dict(problem.space.baseline))
        if context.resume and context.run.has(CHECKPOINT):
            with restoring(context.run.file(CHECKPOINT)):
                state = _load(context, trainer)
                problem.space.complete(state.base, field="the checkpoint's configuration")
        history = History(context.run, state.history, state.phase_results)
        macs = None if isinstance(net, FixedNetwork) else resource_model(problem.definition.family, problem.data.input_shape, problem.data.num_classes)
        target = options.flops_target or (macs.cost(problem.space.baseline) if macs else None)
        while state.phase < len(phases):
            runner = _Phase(self, context, trainer, net, phases[state.phase], state, macs, target, history)
            state.base = runner.run(len(phases))
            state.done_seconds += state.elapsed
            state.phase, state.step, state.elapsed, state.controller = state.phase + 1, 0, 0.0, None
            _save(context, trainer, state, history)
        history.save(final=state.base)
        return SingleRunResult(state.base, [n for r in history.phase_results for n in r.get("notes", [])])


@dataclass
class _RunState:
    """What a checkpoint restores."""

    base: dict[str, Any]
    phase: int = 0
    step: int = 0
    elapsed: float = 0.0
    controller: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    done_seconds: float = 0.0  # search time of finished phases
    phase_results: list[dict[str, Any]] | None = None  # derivation and notes of finished phases


class _Phase:
    """One phase: Alg. 1 until the phase's share of the budget is spent."""

    def __init__(
        self,
        owner: AutoHAS,
        context: SearchContext,
        trainer: SharedWeightsTrainer,
        net: nn.Module,
        names: Sequence[str],
        state: _RunState,
        macs: ResourceModel | None,
        target: float | None,
        history: History,
    ) -> None:
        self.o, self.ctx, self.trainer, self.net, self.names = owner.options, context, trainer, net, tuple(names)
        self.state, self.macs, self.target, self.history = state, macs, target, history
        self.bases = BasisSet(context.problem.space)
        arch = {p.name for p in context.problem.space.with_role(Role.ARCHITECTURE)}
        self.controller = Controller(
            {n: len(self.bases[n]) for n in self.names},
            groups={n: ARCH_GROUP if n in arch else HP_GROUP for n in self.names},
            lr=self.o.controller_lr,
            baseline_momentum=self.o.baseline_momentum,
            seed=owner.seed + state.phase,
        )
        if state.controller is not None:
            self.controller.load_state_dict(state.controller)
        self.seconds: float | None = None  # this phase's budget (set by run)
        self.steps: int | None = None
        self.scored_seconds: float | None = None  # moving average of a scored step's duration
        self.priming_steps = priming_steps(self.o.baseline_momentum)

    def run(self, n_phases: int) -> dict[str, Any]:
        seconds = None if self.ctx.time_budget is None else self.ctx.time_budget / n_phases
        steps = None if self.o.max_steps is None else max(1, self.o.max_steps // n_phases)
        self.seconds, self.steps = seconds, steps
        key = f"autohas phase {self.state.phase + 1}/{n_phases}"
        self.ctx.reporter.start(key, key, 1.0)
        start = time.monotonic() - self.state.elapsed
        with checkpoint_clock(seconds=self.o.checkpoint_seconds, save=self._save_checkpoint) as clock:
            while True:
                elapsed = time.monotonic() - start
                progress = max(elapsed / seconds if seconds else 0.0, self.state.step / steps if steps else 0.0)
                if progress >= 1.0:
                    break
                self._step(progress)
                self.state.step, self.state.elapsed = self.state.step + 1, time.monotonic() - start
                self.ctx.reporter.update(key, completed=progress, description=f"{key} entropy {self.controller.entropy():.2f}")
                clock.tick()
        self.ctx.reporter.stop(key)
        return self._derive()

    def _save_checkpoint(self) -> None:
        self.state.controller = self.controller.state_dict()
        _save(self.ctx, self.trainer, self.state, self.history)

    def _derive(self) -> dict[str, Any]:
        """Eq. 4-5 for the parameters the controller learned, the base value for the rest."""
        probabilities = self.controller.probabilities()
        derived, report = derive_learned(
            self.bases, probabilities, self.controller.updates, self.state.base,
            lr=self.o.controller_lr, baseline_momentum=self.o.baseline_momentum,
        )
        start = uniform_entropy({n: len(p) for n, p in probabilities.items()})
        warning = entropy_warning(start, self.controller.entropy(), self.state.step, self.state.elapsed)
        notes = derivation_notes(report) + ([warning] if warning else [])
        self.history.phase_results.append(
            {
                "phase": self.state.phase,
                "steps": self.state.step,
                "probabilities": probabilities,
                "derivation": [d.to_dict() for d in report],
                "derived": derived,
                "notes": notes,
            }
        )
        return derived

    def _step(self, progress: float) -> None:
        start = time.monotonic()
        sample = self.controller.sample()
        config = self.bases.from_indices(sample.indices, base=self.state.base)
        arch = self.net.arch_of(config)
        lr_scale = 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine decay of the shared weights' rate
        paired = self.o.paired_reward and HP_GROUP in self.controller.baselines  # architecture-only: Q(W*) alone
        scored = self._scored(progress)
        result = self.trainer.step(config, arch, lr_scale, paired=paired, scored=scored)  # W has taken its step (unless diverged)
        if result.accuracy is None:
            return  # a warm-up step whose reward nothing would read: W's training only
        reward = result.accuracy
        if self.macs is not None and self.target and self.o.flops_beta and ARCH_GROUP in self.controller.baselines:
            reward += self.o.flops_beta * abs(self.macs.cost(config) / self.target - 1.0)  # TuNAS absolute reward
        difference = result.accuracy - result.accuracy_before if result.accuracy_before is not None else reward
        rewards = {ARCH_GROUP: reward, HP_GROUP: difference}
        active = [n for n in self.names if n in config]
        if progress >= self.o.warmup:
            self.controller.update(sample, rewards, active)
        else:
            self.controller.observe(rewards)
        if self.state.step % self.o.history_every == 0:
            self.history.record(self.state, progress, result, reward, self.controller)
        seconds = time.monotonic() - start
        self.scored_seconds = seconds if self.scored_seconds is None else 0.8 * self.scored_seconds + 0.2 * seconds

    def _scored(self, progress: float) -> bool:
        """Whether this step scores its rewards. During warm-up (no controller updates,
        seed 000 Sec. 3.1) a reward only feeds the moving-average baselines, in which a
        reward k steps before the first update weighs momentum^k: only the last
        :func:`priming_steps` of warm-up are scored, and every ``history_every``-th step
        for the history. The others train W alone, at a standalone step's cost."""
        if progress >= self.o.warmup or self.state.step % self.o.history_every == 0:
            return True
        rates = [1.0 / self.steps] if self.steps else []  # progress per step
        if self.seconds:
            if self.scored_seconds is None:
                return True
            rates.append(self.scored_seconds / self.seconds)
        return not rates or round((self.o.warmup - progress) / max(rates), 6) <= self.priming_steps  # steps left, this one included


def priming_steps(momentum: float, weight: float = 0.01) -> int:
    """Scored steps before the first controller update after which the rewards before them
    weigh at most ``weight`` in a moving average of ``momentum`` (90 for 0.95)."""
    return 1 if momentum <= 0.0 else math.ceil(math.log(weight) / math.log(momentum))


def _save(context: SearchContext, trainer: SharedWeightsTrainer, state: _RunState, history: History) -> None:
    path = context.run.file(CHECKPOINT)
    blob = {
        "base": state.base,
        "phase": state.phase,
        "step": state.step,
        "elapsed": state.elapsed,
        "controller": state.controller,
        "done_seconds": state.done_seconds,
        "history": history.entries,
        "phase_results": history.phase_results,
        "network": trainer.net.state_dict(),
        "optimizers": {n: o.state_dict() for n, o in trainer.optimizers.items()},
        "generator": trainer.generator.get_state(),
        **global_rng_state(),
    }
    with context.run.writing(path) as tmp:
        torch.save(blob, tmp)
    context.run.db.put(ELAPSED, state.done_seconds + state.elapsed)
    history.save()


def _load(context: SearchContext, trainer: SharedWeightsTrainer) -> _RunState:
    blob = load_weights(context.run.file(CHECKPOINT))
    trainer.net.load_state_dict(blob["network"])
    for name, optimizer in trainer.optimizers.items():
        optimizer.load_state_dict(blob["optimizers"][name])
    trainer.generator.set_state(blob["generator"])
    restore_global_rng_state(blob)
    return _RunState(
        blob["base"], blob["phase"], blob["step"], blob["elapsed"], blob["controller"], blob["history"], blob["done_seconds"],
        blob.get("phase_results"),  # checkpoints of earlier versions lack them
    )
