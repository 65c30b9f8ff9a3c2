"""NES (seed 003): ordered architecture hyperparameters (channels, depth, input resolution)
by natural-evolution-strategy gradients on a weight-sharing network, under a resource target.

Alg. 1 at CPU scale, alternating until the time budget is spent:

1. weight training (Eq. 8): ``weight_steps`` steps, each on the child ``int(H + n)``,
   n ~ N(0, sigma), with the baseline's training hyperparameters;
2. ``updates`` architecture updates (Eq. 5-7, 9): on one evaluation batch, the loss
   L = L_c + rho (R / R_t - 1)^2 (Eq. 2) of H's child and of ``samples`` perturbed children;
   G = 1 / (sigma M) sum_i (L_i - L(H)) n_i; H <- H - alpha G.

sigma and alpha decay linearly to 0 over the budget (App. B). The result is H's child,
projected onto the target if it is more than 5% off (:func:`~hasearch.nes.target.project`),
retrained from scratch by the final comparison as seed 003 does.

Choices the paper leaves open (README, "Departures"):
* the perturbed and unperturbed losses of one update share one evaluation batch (common
  random numbers: the batch's difficulty cancels in L_i - L(H));
* BatchNorm: each child is scored on the evaluation batch's own statistics (as AutoHAS's
  reward), not recalibrated per child (``recalibrate=True`` does that, OFA style);
* int(.) is rounding to the nearest step (:mod:`hasearch.nes.coordinates`);
* an update moves each coordinate by at most one step (:func:`~hasearch.nes.estimator.nes_update`);
* children that coincide after rounding are scored once per update (the same batch gives
  the same loss);
* non-ordered parameters (kernel, expansion, optimizer, ...) stay at the baseline's values.
* H0 is the baseline (``start="uniform"``: the uniform rescale that meets the target).
* the weights are trained around H only, as Eq. 8 says (``sandwich=True``: every other step
  on the largest child, BigNAS's sandwich rule; a departure, off by default).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hasearch.artifacts import load_weights, restoring
from hasearch.autohas.engine import SharedWeightsTrainer, reward_precision, scored_logits
from hasearch.checkpoint_clock import checkpoint_clock
from hasearch.device import global_rng_state, restore_global_rng_state
from hasearch.errors import UserError
from hasearch.fieldkinds import checked_options
from hasearch.loop import ELAPSED
from hasearch.nes.coordinates import DIMENSIONS, OrderedCoordinates, dimension_names
from hasearch.nes.estimator import Schedule, estimate, nes_update
from hasearch.nes.history import NESHistory
from hasearch.nes.target import (
    ResourceTarget,
    penalty_gradient,
    project,
    resource_target,
    uniform_rescale,
)
from hasearch.strategies.base import SearchContext, SingleRunResult, SingleRunStrategy
from hasearch.supernet import has_supernet, supernet_for
from hasearch.supernet.scoring import calibration_images, recalibrated_logits

if TYPE_CHECKING:
    from hasearch.problem import Problem

CHECKPOINT = "search/nes_checkpoint.pt"
STARTS = ("baseline", "uniform")
RESOURCE_GRADIENTS = ("nes", "exact")
UNIFORM_DIMENSIONS = ("channel", "input")  # what a uniform rescale scales (depth stays)


@dataclass(frozen=True)
class NESOptions:
    """Meta-hyperparameters of NES (seed 003 App. B, scaled to a CPU budget).

    Attributes:
        dimensions: Which ordered parameters to search: any of ``channel``, ``input``,
            ``depth`` (None: every ordered architecture parameter of the space).
        target_macs: R_t in MACs per image.
        target_latency: R_t in ms per image from this device's latency table (instead).
            Neither: the baseline's MACs.
        rho: Weight of the resource term (Eq. 2; R in units of R_t).
        schedule: sigma and alpha, linearly decayed to 0 (App. B: 1.25 and 5).
        samples: Perturbations M per update (App. B: 100).
        weight_steps: Weight-training steps N between architecture updates (App. B: 2000).
        updates: Architecture updates after each weight-training round (App. B: 20).
        eval_batch: Evaluation images per update (one batch shared by all M + 1 losses).
        recalibrate: Recalibrate each scored child's BatchNorm on fixed training images
            (OFA) instead of using the evaluation batch's statistics.
        mirrored: Draw the M perturbations as antithetic pairs n, -n (a departure; see
            :func:`~hasearch.nes.estimator.perturbations`).
        resource_gradient: How G gets the resource term's part: ``nes`` (Eq. 5-7 on the
            whole L of Eq. 2, as the paper) or ``exact`` (a departure: NES on L_c only, plus
            sigma * rho * the central difference of the penalty at H's child, the paper's
            expectation sigma * grad without its sampling noise; see README "Departures").
        start: H0, where the search starts: ``baseline`` (the space's baseline, 1x) or
            ``uniform`` (the uniform channel / input rescale of the searched dimensions that
            meets the target, depth at the baseline's; a choice Alg. 1 leaves open, line 1:
            "A0 = A(H0)").
        sandwich: Every other weight step trains the largest child of the searched
            dimensions instead of one around H (a departure: BigNAS's sandwich rule, so the
            channels only wide children use are trained too; seed 003 trains around H only).
        max_updates: Stop after this many architecture updates (besides the time budget).
        checkpoint_seconds: Save a resumable checkpoint this often.
    """

    dimensions: tuple[str, ...] | None = None
    target_macs: float | None = None
    target_latency: float | None = None
    rho: float = 10.0
    schedule: Schedule = field(default_factory=Schedule)
    samples: int = 20
    weight_steps: int = 20
    updates: int = 1
    eval_batch: int = 256
    recalibrate: bool = False
    mirrored: bool = False
    start: str = "baseline"
    resource_gradient: str = "nes"
    sandwich: bool = False
    max_updates: int | None = None
    checkpoint_seconds: float = 60.0

    #: What ``--option NAME=VALUE`` may set (:mod:`hasearch.strategies.tunables`).
    TUNABLE: ClassVar[dict[str, str]] = {
        "rho": "weight of the resource term of Eq. 2 (>= 0)",
        "samples": "perturbations M per update (App. B: 100)",
        "weight_steps": "weight-training steps between architecture updates",
        "updates": "architecture updates after each weight-training round",
        "eval_batch": "evaluation images per update",
        "recalibrate": "recalibrate each scored child's BatchNorm (OFA) instead of batch statistics",
        "mirrored": "perturbations in antithetic pairs n, -n",
        "start": "H0: baseline (the 1x network) or uniform (the uniform rescale that meets the target)",
        "resource_gradient": "the resource term's part of G: nes (Eq. 5-7, the paper) or exact (central difference)",
        "sandwich": "every other weight step trains the largest child (BigNAS sandwich rule; a departure)",
        "max_updates": "stop after this many architecture updates",
    }


@dataclass
class _State:
    h: np.ndarray
    step: int = 0
    update: int = 0
    elapsed: float = 0.0


class _OutOfTime(Exception):
    """The time budget ran out inside an architecture update (which is then not applied)."""


class NES(SingleRunStrategy):
    """NES over the ordered architecture parameters of a space with an elastic supernet."""

    def __init__(self, *, options: NESOptions | None = None, seed: int = 0) -> None:
        self.options = checked_options(options, NESOptions, owner="NES")
        self.seed = seed
        o = self.options
        if o.samples < 1 or o.weight_steps < 0 or o.updates < 1 or o.rho < 0 or o.eval_batch < 1 or (o.max_updates is not None and o.max_updates < 1):
            raise UserError("NES needs samples >= 1, weight_steps >= 0, updates >= 1, rho >= 0, eval_batch >= 1 and max_updates >= 1")
        if o.start not in STARTS:
            raise UserError(f"NES start {o.start!r} is not one of: {', '.join(STARTS)}")
        if o.resource_gradient not in RESOURCE_GRADIENTS:
            raise UserError(f"NES resource_gradient {o.resource_gradient!r} is not one of: {', '.join(RESOURCE_GRADIENTS)}")

    def check(self, problem: Problem, time_budget: float | None) -> None:
        if time_budget is None and self.options.max_updates is None:
            raise UserError("NES needs a time budget (--budget)")
        if not has_supernet(problem.definition.family):
            raise UserError(f"NES needs an elastic supernet; model {problem.definition.family.name!r} has none")
        coords = OrderedCoordinates(problem.space, dimension_names(problem.space, self.options.dimensions))
        self.target(problem).check_reachable(coords, problem.space.baseline)

    def target(self, problem: Problem) -> ResourceTarget:
        return resource_target(problem, macs=self.options.target_macs, latency=self.options.target_latency)

    def run(self, context: SearchContext) -> SingleRunResult:
        problem = context.problem
        self.check(problem, context.time_budget)
        torch.manual_seed(self.seed)
        search = _Search(self, context)
        if context.resume and context.run.has(CHECKPOINT):
            with restoring(context.run.file(CHECKPOINT)):
                search.load()
        return search.run()


class _Search:
    """One NES run: the shared network, H, and the loop of Alg. 1."""

    def __init__(self, owner: NES, context: SearchContext) -> None:
        problem, o = context.problem, owner.options
        self.o, self.ctx = o, context
        self.base = dict(problem.space.baseline)
        self.coords = OrderedCoordinates(problem.space, dimension_names(problem.space, o.dimensions))
        self.target = owner.target(problem)
        self.net = supernet_for(problem.definition.family, problem.space, problem.data.input_shape, problem.data.num_classes)
        self.trainer = SharedWeightsTrainer(self.net, problem.data, seed=owner.seed, val_batch=o.eval_batch, compute=problem.compute)
        self.dtype = reward_precision(problem.compute.torch_device)
        self.rng = np.random.default_rng(owner.seed)
        self.calibration = calibration_images(problem.data.train, count=500, seed=owner.seed) if o.recalibrate else None
        self.state = _State(self.coords.indices_of(_start_config(o.start, problem, self.coords, self.target)))
        self.history = NESHistory(context.run, self.coords.names)
        self.deadline = math.inf  # monotonic time at which the budget is spent (checked inside a round too)

    def run(self) -> SingleRunResult:
        budget, key = self.ctx.time_budget, "nes"
        self.ctx.reporter.start(key, "nes", 1.0)
        start = time.monotonic() - self.state.elapsed
        self.deadline = start + budget if budget else math.inf
        with checkpoint_clock(seconds=self.o.checkpoint_seconds, save=self.save) as clock:
            while (progress := self._progress(time.monotonic() - start, budget)) < 1.0:
                self._train_weights(progress)
                for _ in range(self.o.updates):
                    self._update_h(progress)
                self.state.elapsed = time.monotonic() - start
                self.ctx.reporter.update(key, completed=progress, description=self._status())
                clock.tick()
        self.ctx.reporter.stop(key)
        self.save()  # a resume of the finished search derives the same result without searching again
        return self._result()

    def _status(self) -> str:
        if not self.history.entries:
            return "nes: training the shared weights"
        latest = self.history.entries[-1]
        return f"nes: H's child at {latest['relative']:.2f} x target, sigma {latest['sigma']:.2f}, alpha {latest['alpha']:.2f}"

    def _progress(self, elapsed: float, budget: float | None) -> float:
        by_time = elapsed / budget if budget else 0.0
        by_updates = self.state.update / self.o.max_updates if self.o.max_updates else 0.0
        return max(by_time, by_updates)

    def _train_weights(self, progress: float) -> None:
        """Eq. 8: weight steps on children int(H + n), n ~ N(0, sigma) (with ``sandwich``,
        every other step on the largest child)."""
        sigma = self.o.schedule.sigma(progress)
        lr_scale = 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine decay, as AutoHAS's shared weights
        for _ in range(self.o.weight_steps):
            if time.monotonic() >= self.deadline:
                return
            config = self._weight_child(sigma)
            optimizer = self.trainer.configure(config, lr_scale)
            if math.isfinite(self.trainer.gradient(config, self.net.arch_of(config))):
                optimizer.step()
            self.state.step += 1

    def _weight_child(self, sigma: float) -> dict[str, Any]:
        """The configuration the next weight step trains."""
        if self.o.sandwich and self.state.step % 2 == 1:
            return self.coords.config(tuple(int(u) for u in self.coords.upper), self.base)
        return self.coords.config(self.coords.child(self.state.h + self.rng.normal(0.0, sigma, len(self.state.h))), self.base)

    def _update_h(self, progress: float) -> None:
        """Eq. 5-7 and 9 on one evaluation batch."""
        sigma, alpha = self.o.schedule.sigma(progress), self.o.schedule.alpha(progress)
        x, y = self.trainer._val_batch()
        memo: dict[tuple[int, ...], float] = {}
        exact = self.o.resource_gradient == "exact"
        rho_in_nes = 0.0 if exact else self.o.rho
        try:
            gradient, loss = estimate(self.state.h, lambda point: self._loss(self.coords.child(point), x, y, memo, rho_in_nes), sigma=sigma, samples=self.o.samples, rng=self.rng, mirrored=self.o.mirrored)
        except _OutOfTime:
            return  # an estimate from part of the M samples is not Eq. 7's; H stays
        if exact:  # E[G] of Eq. 7 is sigma * grad L: the resource part's, without its sampling noise
            at = self.coords.child(self.state.h)
            gradient = gradient + sigma * self.o.rho * penalty_gradient(at, self.coords, self.base, self.target)
            loss += self.o.rho * self.target.penalty(self.coords.config(at, self.base))
        self.state.h = self.coords.clip(nes_update(self.state.h, gradient, alpha))
        self.state.update += 1
        child = self.coords.config(self.coords.child(self.state.h), self.base)
        self.history.record(
            {
                "update": self.state.update, "step": self.state.step, "progress": progress, "sigma": sigma, "alpha": alpha,
                "h": [round(float(v), 4) for v in self.state.h], "child": {n: child[n] for n in self.coords.names},
                "resource": self.target.cost(child), "relative": self.target.relative(child), "loss": loss,
                "children_scored": len(memo),
            }
        )  # fmt: skip

    def _loss(self, indices: tuple[int, ...], x: Tensor, y: Tensor, memo: dict[tuple[int, ...], float], rho: float) -> float:
        """L = L_c + rho (R / R_t - 1)^2 of one child (Eq. 2), once per child and batch."""
        if indices not in memo:
            if time.monotonic() >= self.deadline:
                raise _OutOfTime
            config = self.coords.config(indices, self.base)
            memo[indices] = float(F.cross_entropy(self._logits(config, x), y)) + rho * self.target.penalty(config)
        return memo[indices]

    def _logits(self, config: dict[str, Any], x: Tensor) -> Tensor:
        arch = self.net.arch_of(config)
        if self.calibration is None:
            return scored_logits(self.net, x, arch, dtype=self.dtype)
        return recalibrated_logits(self.net, arch, self.calibration, x)

    def _result(self) -> SingleRunResult:
        rounded = self.coords.child(self.state.h)
        chosen = project(self.state.h, self.coords, self.base, self.target)
        config = self.coords.config(chosen, self.base)
        shape = ", ".join(f"{n}={config[n]}" for n in self.coords.names)
        notes = [f"NES found {shape}: {self.target.describe(config)}."]
        if chosen != rounded:
            notes.append(f"H's own child was {self.target.describe(self.coords.config(rounded, self.base))}; it was projected onto the target (within 5%).")
        if not self.target.meets(config):
            notes.append(f"No configuration near the found shape is within 5% of {self.target.name}.")
        result = {"steps": self.state.step, "updates": self.state.update, "h": [float(v) for v in self.state.h], "notes": notes,
                  "target": {"name": self.target.name, "value": self.target.value, "unit": self.target.unit},
                  "resource": self.target.cost(config)}  # fmt: skip
        self.history.save(final=config, result=result)
        return SingleRunResult(config, notes)

    # ------------------------------------------------------------- checkpoints
    def save(self) -> None:
        blob = {
            "h": [float(v) for v in self.state.h], "step": self.state.step, "update": self.state.update,
            "elapsed": self.state.elapsed, "history": self.history.entries, "network": self.trainer.net.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.trainer.optimizers.items()},
            "generator": self.trainer.generator.get_state(), **global_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
        }  # fmt: skip
        with self.ctx.run.writing(self.ctx.run.file(CHECKPOINT)) as tmp:
            torch.save(blob, tmp)
        self.ctx.run.db.put(ELAPSED, self.state.elapsed)
        self.history.save()

    def load(self) -> None:
        blob = load_weights(self.ctx.run.file(CHECKPOINT))
        self.trainer.net.load_state_dict(blob["network"])
        for name, optimizer in self.trainer.optimizers.items():
            optimizer.load_state_dict(blob["optimizers"][name])
        self.trainer.generator.set_state(blob["generator"])
        restore_global_rng_state(blob)
        self.rng.bit_generator.state = blob["numpy_rng"]
        h = np.array(blob["h"], dtype=float)
        if h.shape != (len(self.coords.names),) or not np.isfinite(h).all():
            bad = int((~np.isfinite(h)).sum())
            raise ValueError(f"H must hold {len(self.coords.names)} finite coordinates, got {h.size} values ({bad} not finite)")
        self.state = _State(h, blob["step"], blob["update"], blob["elapsed"])
        self.history = NESHistory(self.ctx.run, self.coords.names, blob["history"])


def _start_config(start: str, problem: Problem, coords: OrderedCoordinates, target: ResourceTarget) -> dict[str, Any]:
    """H0's configuration: the baseline, or the uniform rescale (seed 003 Table 1's baseline
    rows) of the searched channel and input parameters that meets the target."""
    base = dict(problem.space.baseline)
    if start == "baseline":
        return base
    groups = [g for d in UNIFORM_DIMENSIONS if (g := _group(coords, d)) is not None]
    return uniform_rescale(groups, base, target) if groups else base


def _group(coords: OrderedCoordinates, dimension: str) -> OrderedCoordinates | None:
    """The searched parameters of one dimension (None if NES searches none of them)."""
    names = tuple(n for n in coords.names if n.startswith(DIMENSIONS[dimension]))
    return OrderedCoordinates(coords.space, names) if names else None
