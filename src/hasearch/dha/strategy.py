"""DHA (seed 001): data-augmentation policy, learning rate / weight decay and architecture
searched together in one training run whose network is the result, without retraining.

Stages: one-stage DHA and its joint ablations run one stage of :class:`DHAEngine` steps with
the chosen components (Table 3: NAS + DA, NAS + HPO, all three). The sequential variants
(Appendix B) run two: NAS alone with the base configuration's augmentation and
hyperparameters for ``search_fraction`` of the budget, then the derived architecture trained
from scratch with the online components (Sequential DHA: DA + HPO). Every stage is one
cosine schedule over its share of the budget (seconds, or ``epochs`` when given).

The result is the last stage's trained child, exported as a standalone network of the space's
model family (its BatchNorm statistics re-estimated on 2,000 clean training images, as
Once-for-All does after sampling a child: the training statistics are of policy-augmented
images), with the learned policy saved as ``search/policy.json``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from hasearch.artifacts import load_weights, restoring
from hasearch.checkpoint_clock import checkpoint_clock
from hasearch.device import global_rng_state, restore_global_rng_state
from hasearch.dha.components import Stage, build_engine, check_components, stages_for
from hasearch.dha.engine import HELD_BATCHES, DHAEngine
from hasearch.dha.history import POLICY, DHAHistory
from hasearch.errors import UserError
from hasearch.fieldkinds import checked_options
from hasearch.loop import ELAPSED
from hasearch.strategies.base import SearchContext, SingleRunResult, SingleRunStrategy
from hasearch.supernet.elastic import recalibrate_bn
from hasearch.supernet.scoring import calibration_images

if TYPE_CHECKING:
    from hasearch.problem import Problem

CHECKPOINT = "search/dha_checkpoint.pt"


MAX_STEP = 10.0  # policy_lr and hyper_lr: steps in logit and log space; 1e308 overflowed float32


@dataclass(frozen=True)
class DHAOptions:
    """What DHA searches and for how long.

    Attributes:
        components: Any of ``nas``, ``da``, ``hpo`` (searched together in one stage).
        sequential: NAS first with the base configuration's augmentation and
            hyperparameters, then the derived architecture from scratch with the other
            components (Appendix B; Table 3's sequential rows).
        search_fraction: The first stage's share of the budget (sequential only).
        epochs: Length of the run in epochs of the training split (all stages together);
            None: the time budget alone.
        freeze_at: Share of a stage after which the architecture is fixed at its current
            child (the rest trains exactly the child that is returned). None: 0.25 on the
            darts cells (chosen on validation accuracy; departure: ISTA-NAS trains as long
            as it searched, i.e. 0.5), 0.5 on the MBConv choices.
        policy_lr: Adam's step on the policy logits.
        hyper_lr: The step of log lr and log weight decay on their hypergradient.
        held_batch: Eq. 4's batch: ``"next"``, the next step's training batch (no extra
            forward or backward), or ``"fresh"``, an extra un-augmented training batch
            (the reference's; see :mod:`hasearch.dha.engine`).
        recovery: How a darts node's alpha comes from its code b (Eq. 5-6): ``"ista"``,
            1,000 ISTA steps from 0 (an early-stopped, dense alpha; departure, measured in
            :mod:`hasearch.dha.ista`), or ``"lasso"``, the exact LASSO solution (the paper's
            and ISTA-NAS's).
        history_every: Steps between history entries.
        checkpoint_seconds: Save a resumable checkpoint this often.
    """

    components: frozenset[str] = frozenset({"nas", "da", "hpo"})
    sequential: bool = False
    search_fraction: float = 0.5
    epochs: float | None = None
    freeze_at: float | None = None
    policy_lr: float = 1e-3
    hyper_lr: float = 0.01
    held_batch: str = "next"
    recovery: str = "ista"
    history_every: int = 10
    checkpoint_seconds: float = 60.0

    #: What ``--option NAME=VALUE`` may set (:mod:`hasearch.strategies.tunables`).
    TUNABLE: ClassVar[dict[str, str]] = {
        "search_fraction": "the first stage's share of a sequential run, in (0, 1)",
        "freeze_at": "share of a stage after which the architecture is fixed, in [0, 1]",
        "policy_lr": "Adam's step on the augmentation policy's logits (>= 0)",
        "hyper_lr": "step of log lr and log weight decay on their hypergradient (>= 0)",
        "held_batch": "Eq. 4's batch: next (the next step's) or fresh (an extra one)",
        "recovery": "darts nodes' alpha from b: ista (1,000 ISTA steps, default) or lasso (the exact LASSO solution, as the paper)",
        "history_every": "steps between history entries",
        "epochs": "length of the run in epochs of the training split (the schedules follow it; --budget still bounds the time)",
    }

    @property
    def method(self) -> str:
        name = "dha" if self.components == {"nas", "da", "hpo"} else "dha-" + "-".join(c for c in ("nas", "da", "hpo") if c in self.components)
        name = "ista" if self.components == {"nas"} else name
        return name + ("-sequential" if self.sequential else "")


RECOVERIES = ("ista", "lasso")


@dataclass
class _State:
    stage: int = 0
    step: int = 0  # within the stage
    total_steps: int = 0
    elapsed: float = 0.0  # all stages
    stage_elapsed: float = 0.0
    derived: dict[str, Any] = field(default_factory=dict)  # the first stage's architecture (sequential)


class DHA(SingleRunStrategy):
    """One-stage (or sequential) DHA on any space with a differentiable architecture relaxation."""

    returns_network = True
    supports_cuda = False  # the ISTA codes, Gumbel gates, policy and hypergradient tensors are CPU tensors

    def __init__(self, *, options: DHAOptions | None = None, seed: int = 0) -> None:
        self.options = checked_options(options, DHAOptions, owner="DHA")
        self.seed = seed
        check_components(self.options.components)
        o = self.options
        rates = 0 <= o.policy_lr <= MAX_STEP and 0 <= o.hyper_lr <= MAX_STEP and o.history_every >= 1 and (o.epochs is None or 0 < o.epochs < math.inf)
        if not (0.0 < o.search_fraction < 1.0 and 0.0 <= (o.freeze_at or 0.0) <= 1.0 and rates):
            raise UserError(
                f"DHA needs 0 < search_fraction < 1, 0 <= freeze_at <= 1, policy_lr and hyper_lr in [0, {MAX_STEP:g}], history_every >= 1 and epochs > 0"
            )
        if o.held_batch not in HELD_BATCHES:
            raise UserError(f"DHA's held_batch must be one of {', '.join(HELD_BATCHES)}, got {o.held_batch!r}")
        if o.recovery not in RECOVERIES:
            raise UserError(f"DHA's recovery must be one of {', '.join(RECOVERIES)}, got {o.recovery!r}")

    def check(self, problem: Problem, time_budget: float | None) -> None:
        if time_budget is None and self.options.epochs is None:
            raise UserError(f"{self.options.method} needs a time budget (--budget)")
        for stage in stages_for(self.options):
            build_engine(problem, stage, {}, self.options, self.seed)

    def run(self, context: SearchContext) -> SingleRunResult:
        self.check(context.problem, context.time_budget)
        torch.manual_seed(self.seed)
        return _Search(self, context).run()


class _Search:
    """One DHA run: its stages, the checkpoint, the result."""

    def __init__(self, owner: DHA, context: SearchContext) -> None:
        self.o, self.ctx, self.seed = owner.options, context, owner.seed
        self.stages = stages_for(self.o)
        self.state = _State()
        self.history = DHAHistory(context.run, self.o.method)
        blob = load_weights(context.run.file(CHECKPOINT)) if context.resume and context.run.has(CHECKPOINT) else None
        if blob is None:
            self.engine = self._engine()
            return
        with restoring(context.run.file(CHECKPOINT)):
            self.state = _State(**blob["state"])
            self.history = DHAHistory(context.run, self.o.method, blob["history"], blob["phases"])
            self.engine = self._engine()
            self.engine.load_state_dict(blob["engine"])
            restore_global_rng_state(blob)

    def _engine(self) -> DHAEngine:
        stage = self.stages[self.state.stage]
        return build_engine(self.ctx.problem, stage, self.state.derived, self.o, self.seed + self.state.stage)

    def run(self) -> SingleRunResult:
        while self.state.stage < len(self.stages):
            self._run_stage(self.stages[self.state.stage])
            if self.state.stage + 1 == len(self.stages):
                break
            self.state = replace(self.state, stage=self.state.stage + 1, step=0, stage_elapsed=0.0, derived=self.engine.arch.config())
            self.engine = self._engine()
        self.save()
        return self._result()

    def _budget(self, stage: Stage) -> tuple[float | None, int | None]:
        """The stage's seconds and steps (either may be None)."""
        seconds = None if self.ctx.time_budget is None else self.ctx.time_budget * stage.share
        steps = None if self.o.epochs is None else max(1, round(self.o.epochs * stage.share * self.engine.steps_per_epoch()))
        return seconds, steps

    def _progress(self, stage: Stage) -> float:
        seconds, steps = self._budget(stage)
        return max(self.state.stage_elapsed / seconds if seconds else 0.0, self.state.step / steps if steps else 0.0)

    def _run_stage(self, stage: Stage) -> None:
        key = f"{self.o.method}: {stage.name}"
        self.ctx.reporter.start(key, key, 1.0)
        start = time.monotonic() - self.state.stage_elapsed
        last: tuple[float, Any] | None = None  # the last step not yet in the history
        with checkpoint_clock(seconds=self.o.checkpoint_seconds, save=self.save) as clock:
            while (progress := self._progress(stage)) < 1.0:
                record = self.engine.step(progress)
                last = (progress, record)
                self.state.step += 1
                self.state.total_steps += 1
                now = time.monotonic()
                self.state.elapsed += now - start - self.state.stage_elapsed
                self.state.stage_elapsed = now - start
                if self.state.step % self.o.history_every == 0 or self.state.step == 1:
                    self._record(stage, progress, record)
                    last = None
                    self.ctx.reporter.update(key, completed=progress, description=f"{key}: loss {record.loss:.3f}, lr {record.lr:.3g}")
                clock.tick()
        if last is not None:  # the history ends at the stage's final state
            self._record(stage, *last)
        self.ctx.reporter.stop(key)
        self.history.phases.append({"stage": stage.name, "components": sorted(stage.components), "steps": self.state.step,
                                    "last_step": self.state.total_steps, "seconds": self.state.stage_elapsed,
                                    "derived": self.engine.arch.config(), "notes": []})  # fmt: skip

    def _record(self, stage: Stage, progress: float, record: Any) -> None:
        policy = self.engine.policy
        entry: dict[str, Any] = {
            "step": self.state.total_steps, "stage": stage.name, "progress": round(progress, 4), "loss": record.loss,
            "held_loss": record.held_loss, "lr": record.lr, "weight_decay": record.weight_decay, "diverged": record.diverged,
            "architecture": self.engine.arch.record(),
        }  # fmt: skip
        if policy is not None:
            entry["policy_entropy"] = policy.entropy()
            entry["top_pairs"] = [[a, b, round(p, 5)] for a, b, p in policy.top_pairs(5)]
        self.history.record(entry)

    # --------------------------------------------------------------- result
    def _result(self) -> SingleRunResult:
        engine, problem = self.engine, self.ctx.problem
        network = engine.arch.export()
        images = calibration_images(problem.data.train, seed=self.seed)
        network.to(memory_format=torch.channels_last)
        recalibrate_bn(network, network, images.contiguous(memory_format=torch.channels_last))
        config = {**problem.space.baseline, **self.state.derived, **engine.arch.config()}
        if engine.hyper is not None:
            config |= engine.hyper.values()
        config = problem.space.complete({k: v for k, v in config.items() if k in problem.space}, field="DHA result")
        notes = self._notes(engine)
        if engine.policy is not None:
            engine.policy.save(self.ctx.run.file(POLICY))
        self.history.save(final=config)
        epochs = self.state.step / engine.steps_per_epoch()  # the returned network's own training (last stage)
        return SingleRunResult(config, notes, network=network.eval(), epochs=epochs)

    def _notes(self, engine: DHAEngine) -> list[str]:
        steps, epochs = self.state.step, self.state.step / engine.steps_per_epoch()
        notes = [f"{self.o.method} trained one network for {steps} steps ({epochs:.1f} epochs); it is the result, no retraining"]
        if len(self.stages) > 1:
            first = self.history.phases[0]
            notes[0] = (f"{self.o.method}: architecture search for {first['steps']} steps, then the derived architecture trained "
                        f"from scratch for {steps} steps ({epochs:.1f} epochs); that network is the result, no retraining")  # fmt: skip
        if engine.hyper is not None:
            values = engine.hyper.values()
            notes.append(f"learned lr {values['lr']:.4g} (times the cosine decay), weight decay {values['weight_decay']:.3g}")
        if engine.policy is not None:
            top = ", ".join(f"{a}+{b} {100 * p:.2f}%" for a, b, p in engine.policy.top_pairs(3))
            notes.append(f"augmentation policy entropy {engine.policy.entropy():.3f} (1 = uniform); top pairs {top}; saved as {POLICY}")
        return notes

    # ---------------------------------------------------------- checkpoints
    def save(self) -> None:
        blob = {"state": self.state.__dict__, "history": self.history.entries, "phases": self.history.phases,
                "engine": self.engine.state_dict(), **global_rng_state()}  # fmt: skip
        with self.ctx.run.writing(self.ctx.run.file(CHECKPOINT)) as tmp:
            torch.save(blob, tmp)
        self.ctx.run.db.put(ELAPSED, self.state.elapsed)
        self.history.save()
