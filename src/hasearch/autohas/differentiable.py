"""The differentiable variant of seed 000 Table 3: a DARTS-style softmax mixture of every
architecture candidate instead of REINFORCE sampling.

Each MBConv layer outputs sum_{k,e} p(kernel=k) p(expansion=e) * block_{k,e}(x): all
candidates run and stay in memory for the backward pass, which is what makes the
differentiable search memory-hungry (the paper: 6.1 GB vs 1.8 GB). The architecture
logits are trained by Adam (betas 0.5, 0.999, as DARTS) on the validation loss of W*
(first-order); the hyperparameters keep AutoHAS's REINFORCE controller, so both variants
search the same joint space. The architecture is derived by Eq. 4 (argmax), the
hyperparameters by Eq. 4-5.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hasearch.autohas.controller import Controller
from hasearch.autohas.engine import SharedWeightsTrainer, all_finite
from hasearch.autohas.history import History
from hasearch.autohas.temporary import temporary_weights
from hasearch.errors import UserError
from hasearch.models.family import InputShape
from hasearch.models.mbconv import MBConvFamily
from hasearch.problem import Problem
from hasearch.space import BasisSet, Role, SearchSpace
from hasearch.strategies.base import SearchContext, SingleRunResult, SingleRunStrategy
from hasearch.supernet import MBCONV_FAMILIES
from hasearch.supernet.elastic import BNMode
from hasearch.supernet.mbconv import MBConvSupernet, space_values


class MixtureSupernet(MBConvSupernet):
    """An ``MBConvSupernet`` whose blocks mix every (kernel, expansion) candidate by softmax
    weights; depths, widths and input scale stay at the baseline's."""

    def __init__(self, family: MBConvFamily, space: SearchSpace, input_shape: InputShape, num_classes: int) -> None:
        super().__init__(family, space, input_shape, num_classes)
        self.base = self.arch_of(space.baseline)
        self.slot_choices: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.arch_logits: dict[str, Tensor] = {}
        for s, choices in enumerate(self.base.blocks):
            for b in range(len(choices)):
                i = self.first_slot[s] + b
                kernels = tuple(int(v) for v in space_values(space, f"kernel_{i}", 3))
                expansions = tuple(int(v) for v in space_values(space, f"expansion_{i}", 6))
                self.slot_choices[i] = (kernels, expansions)
                self.arch_logits[f"kernel_{i}"] = torch.zeros(len(kernels), requires_grad=True)
                self.arch_logits[f"expansion_{i}"] = torch.zeros(len(expansions), requires_grad=True)

    def forward(self, x: Tensor, arch: Any = None) -> Tensor:
        x = self.stem_forward(x, self.base.scale)
        for s, (width, choices) in enumerate(zip(self.base.widths, self.base.blocks, strict=True)):
            for b in range(len(choices)):
                i = self.first_slot[s] + b
                kernels, expansions = self.slot_choices[i]
                pk = torch.softmax(self.arch_logits[f"kernel_{i}"], 0)
                pe = torch.softmax(self.arch_logits[f"expansion_{i}"], 0)
                block = self.blocks[i]
                x = sum(
                    pk[a] * pe[c] * block(x, width, k, e, self.mode) for a, k in enumerate(kernels) for c, e in enumerate(expansions)
                )
        return self.head_forward(x)

    def derived_arch(self) -> dict[str, int]:
        """Eq. 4: the argmax candidate of every architecture choice."""
        out = {}
        for i, (kernels, expansions) in self.slot_choices.items():
            out[f"kernel_{i}"] = kernels[int(self.arch_logits[f"kernel_{i}"].argmax())]
            out[f"expansion_{i}"] = expansions[int(self.arch_logits[f"expansion_{i}"].argmax())]
        return out


class DifferentiableAutoHAS(SingleRunStrategy):
    """Softmax-mixture architecture search + REINFORCE hyperparameter search (Table 3's 'Differentiable')."""

    supports_cuda = False  # the mixture's architecture logits are CPU tensors

    def __init__(self, *, arch_lr: float = 3e-3, controller_lr: float = 0.05, warmup: float = 0.3, seed: int = 0) -> None:
        self.arch_lr, self.controller_lr, self.warmup, self.seed = arch_lr, controller_lr, warmup, seed

    def check(self, problem: Problem, time_budget: float | None) -> None:
        if problem.definition.family.name not in MBCONV_FAMILIES or time_budget is None:
            raise UserError("the differentiable variant needs an MBConv model family (mbconv, mobilenetv2) and a time budget (--budget)")

    def run(self, context: SearchContext) -> SingleRunResult:
        problem = context.problem
        self.check(problem, context.time_budget)
        assert context.time_budget is not None
        torch.manual_seed(self.seed)
        family = MBCONV_FAMILIES[problem.definition.family.name]
        net = MixtureSupernet(family, problem.space, problem.data.input_shape, problem.data.num_classes)
        trainer = SharedWeightsTrainer(net, problem.data, seed=self.seed)
        arch_names = {p.name for p in problem.space.with_role(Role.ARCHITECTURE)}
        hp_names = [p.name for p in problem.space.params if p.name not in arch_names]
        bases = BasisSet(problem.space)
        controller = Controller({n: len(bases[n]) for n in hp_names}, lr=self.controller_lr, seed=self.seed)
        arch_optimizer = torch.optim.Adam(list(net.arch_logits.values()), lr=self.arch_lr, betas=(0.5, 0.999))
        history = History(context.run)
        start, step = time.monotonic(), 0
        context.reporter.start("differentiable", "differentiable search", 1.0)
        while (progress := (time.monotonic() - start) / context.time_budget) < 1.0:
            sample = controller.sample()
            config = bases.from_indices(sample.indices)
            active = [n for n in hp_names if n in config]
            optimizer = trainer.configure(config, 0.5 * (1 + math.cos(math.pi * progress)))
            w_star = self._w_star(trainer, config, optimizer)
            if w_star is None:  # diverged: the worst reward (Q = 0) teaches the controller; W is not updated
                self._feedback(controller, sample, 0.0, active, progress)
                continue
            accuracy = self._arch_step(trainer, net, arch_optimizer, w_star)
            self._feedback(controller, sample, accuracy, active, progress)
            optimizer.step()
            step += 1
            context.reporter.update("differentiable", completed=progress)
        context.reporter.stop("differentiable")
        derived = bases.derive(controller.probabilities(), base={**problem.space.baseline, **net.derived_arch()})
        logits = {k: v.tolist() for k, v in net.arch_logits.items()}
        history.phase_results.append({"probabilities": controller.probabilities(), "arch_logits": logits, "steps": step})
        history.save(final=derived)
        return SingleRunResult(derived)

    @staticmethod
    def _w_star(trainer: SharedWeightsTrainer, config: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Tensor] | None:
        """W* after the sampled step, or ``None`` when the loss or W* is not finite."""
        if not math.isfinite(trainer.gradient(config, None)):
            return None
        w_star = temporary_weights(optimizer, trainer.names)
        return w_star if all_finite(list(w_star.values())) else None

    def _feedback(self, controller: Controller, sample: Any, reward: float, active: list[str], progress: float) -> None:
        if progress >= self.warmup:
            controller.update(sample, reward, active)
        else:
            controller.observe(reward)

    @staticmethod
    def _arch_step(trainer: SharedWeightsTrainer, net: MixtureSupernet, optimizer: torch.optim.Optimizer, w_star: dict[str, Tensor]) -> float:
        """First-order DARTS step of the architecture logits on a validation batch, at W*."""
        x, y = trainer._val_batch()
        params = dict(net.named_parameters())
        saved = {n: params[n].detach().clone() for n in w_star}
        try:
            with torch.no_grad():
                for n, v in w_star.items():
                    params[n].copy_(v)
            with net.bn_mode(BNMode.BATCH):
                out = net(x)
            loss = F.cross_entropy(out, y)
            grads = torch.autograd.grad(loss, list(net.arch_logits.values()))
        finally:
            with torch.no_grad():
                for n, v in saved.items():
                    params[n].copy_(v)
        for logits, grad in zip(net.arch_logits.values(), grads, strict=True):
            logits.grad = grad
        optimizer.step()
        return float((out.argmax(1) == y).float().mean())

