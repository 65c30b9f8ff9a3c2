"""One DHA iteration (seed 001 Alg. 1) on a weight-sharing network.

Per step, on one training batch B (Alg. 1 line 2):

1. each sample's pair of operations drawn from the policy tau (line 3, Sec. 3.1), then the
   base configuration's cutout; as in the reference's DA transform, the policy takes the
   place of the data set's random crop and flip (its translations and the rest). Without a
   policy: the standard augmentation (crop, flip, cutout). Measured, CIFAR-10 subset,
   NAS + DA, 3 epochs, seeds 0 / 1: 38.9 / 41.65% test with crop and flip before the
   policy, 41.9 / 41.45% without;
2. one forward of the architecture's current child (lines 4-5) with per-sample losses;
3. tau <- tau - grad of Eq. 2's importance-weighted loss (line 6);
4. one backward of the mean loss gives the weights' and the architecture parameters'
   gradients (single level, as the reference: one backward per step);
5. the architecture parameters take an Adam step (betas 0.5, 0.999; line 8);
6. theta^{t+1} = SGD step of Eq. 3 with the learning rate and weight decay as tensors, kept
   in the graph (line 7); a training loss at theta^{t+1} is back-propagated to them and they
   are updated (Eq. 4, line 9); theta^{t+1} is the real step (the look-ahead is committed).

The loss of Eq. 4 (``held_batch``): by default the *next step's* training batch. Step t+1
computes grad L(theta^{t+1}; B_{t+1}) anyway, and dL/deta = grad L . dtheta^{t+1}/deta is
exact, so ``eta`` is updated at the start of step t+1, before its own SGD step: the same
schedule as a separate held batch after step t, at no extra forward or backward (the
hypergradient descent of Baydin et al. 2018). Departure: the reference draws another
batch; with ``held_batch="fresh"`` a fresh, un-augmented training batch is drawn and run
at theta^{t+1} (BatchNorm on its statistics), which costs a forward and a backward: 48%
of a full DHA step on the CIFAR-10 subset (``benchmarks/dha_step_profile.py``). A resumed
run skips the first update (the pending look-ahead is not checkpointed).

Components that are not searched keep the base configuration's values: no policy (only the
standard augmentation), a fixed learning rate and weight decay (the same SGD arithmetic),
or a fixed architecture. So every ablation row of Table 3 runs this one step.

Departures (README, "Departures"): the learned learning rate is multiplied by a cosine decay
over the search (the reference has no schedule; a constant rate trains worse at CPU-scale
budgets); lr and weight decay start at the base configuration's values (the reference: the
middle of their range) and move in log space; the weights' gradient is clipped at norm 5
(DARTS, ISTA-NAS, the DHA reference).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.data.augment import BatchAugmenter
from hasearch.data.splits import DataSplits
from hasearch.dha.architecture import ArchitectureSearch
from hasearch.dha.hypergrad import LearnedHyperparameters, commit, hypergradient_step, lookahead_sgd
from hasearch.dha.policy import AugmentationPolicy
from hasearch.errors import UserError
from hasearch.supernet.elastic import BNMode
from hasearch.train.hparams import AugmentationSettings, TrainingHyperparameters

GRADIENT_CLIP = 5.0
HELD_BATCHES = ("next", "fresh")


@dataclass(frozen=True)
class StepRecord:
    """What one step measured (for the history)."""

    loss: float
    held_loss: float | None
    lr: float
    weight_decay: float
    diverged: bool = False


class DHAEngine:
    """The state DHA trains: supernet weights and momentum, tau, eta, the architecture.

    Args:
        arch: The architecture search (its ``net`` is the supernet).
        data: The splits (training batches only: DHA never looks at the validation split).
        base: The base configuration (batch size, momentum, label smoothing, augmentation,
            and the values of everything not searched).
        policy: The augmentation policy to learn, or None (standard augmentation only);
            its logits take Adam steps of ``policy_lr`` (the reference: SGD, rate not published).
        hyper: Learned lr / weight decay, or None (the base configuration's, fixed).
        seed: Seeds the batch order, augmentation and Gumbel draws.
        held_batch: Eq. 4's batch: ``"next"`` (the next step's training batch, free) or
            ``"fresh"`` (an extra un-augmented training batch, a forward and backward more).
    """

    def __init__(
        self,
        *,
        arch: ArchitectureSearch,
        data: DataSplits,
        base: Mapping[str, Any],
        policy: AugmentationPolicy | None,
        hyper: LearnedHyperparameters | None,
        seed: int,
        policy_lr: float = 1e-3,
        held_batch: str = "next",
    ) -> None:
        if held_batch not in HELD_BATCHES:
            raise UserError(f"held_batch must be one of {', '.join(HELD_BATCHES)}, not {held_batch!r}")
        self.arch, self.net, self.data, self.base = arch, arch.net.to(memory_format=torch.channels_last), data, dict(base)
        self.hp = TrainingHyperparameters.from_config(base)
        self.policy, self.hyper = policy, hyper
        self.standard, self.cutout = _standard_augmentation(AugmentationSettings.from_config(base), data, policy is not None)
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self.params = dict(self.net.named_parameters())
        self.decay = frozenset(n for n, p in self.params.items() if p.ndim > 1)
        self.buffers: dict[str, Tensor] = {}
        self.arch_optimizer = _arch_optimizer(arch)
        self.policy_optimizer = torch.optim.Adam(policy.parameters(), lr=policy_lr, betas=(0.5, 0.999)) if policy is not None else None
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=self.hp.label_smoothing, reduction="none")
        self.held_batch = held_batch
        self._pending: dict[str, Tensor] = {}  # theta^{t+1}(eta) of the last step, for "next"

    # ----------------------------------------------------------------- batches
    def _batch(self) -> tuple[Tensor, Tensor]:
        size = min(self.hp.batch_size, len(self.data.train))
        if len(self._order) < size:
            self._order = torch.randperm(len(self.data.train), generator=self.generator)
        idx, self._order = self._order[:size], self._order[size:]
        return self.data.train.x.index_select(0, idx), self.data.train.y.index_select(0, idx)

    def steps_per_epoch(self) -> int:
        return max(1, len(self.data.train) // self.hp.batch_size)

    # ------------------------------------------------------------------- step
    def step(self, progress: float) -> StepRecord:
        """One iteration of Alg. 1; ``progress`` in [0, 1] drives the cosine decay and freezing."""
        x, y = self._batch()
        x = self.standard(x)
        weights_p = None
        if self.policy is not None:
            x, _, weights_p = self.policy.augment_normalised(x, self.data.mean, self.data.std, self.generator)
            x = self.cutout(x)
        x = x.contiguous(memory_format=torch.channels_last)
        step_weights = self.arch.step_weights()
        self.net.set_training_config(self.base)
        if not self.net.training:
            self.net.train()  # once: a supernet has thousands of modules
        with self.net.bn_mode(BNMode.TRAIN):
            losses = self.loss_fn(self.net(x, step_weights), y)
        loss = losses.mean()
        lr, wd = self._hyperparameters(progress)
        if not bool(torch.isfinite(loss)):
            return StepRecord(float(loss.detach()), None, float(lr.detach()), float(wd.detach()), diverged=True)  # W untouched: a failed step
        if self.policy_optimizer is not None and weights_p is not None:  # Eq. 2, line 6
            self.policy_optimizer.zero_grad(set_to_none=True)
            AugmentationPolicy.policy_loss(weights_p, losses).backward(retain_graph=True)
            self.policy_optimizer.step()
        grads, raw = self._gradients(loss)
        next_loss = self._next_batch_hypergradient(raw, float(loss.detach()))
        if next_loss is not None:
            lr, wd = self._hyperparameters(progress)  # eta^{t+1}, updated on this batch
        fresh_loss = self._weights_step(grads, lr, wd, step_weights)
        held = fresh_loss if fresh_loss is not None else next_loss
        self.arch.after_update(progress)
        return StepRecord(float(loss.detach()), held, float(lr.detach()), float(wd.detach()))

    def _gradients(self, loss: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """One backward: the gradients of the weights the child used (clipped at norm 5, and
        as computed: returned) and of the architecture parameters (Adam step). Weights the
        child did not use get no gradient and are not touched, as torch.optim skips them."""
        names = list(self.params)
        arch_params = self.arch.parameters()
        grads = torch.autograd.grad(loss, [self.params[n] for n in names] + arch_params, allow_unused=True)
        used = {n: g for n, g in zip(names, grads[: len(names)], strict=True) if g is not None}
        raw = used
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in used.values()])))
        if norm > GRADIENT_CLIP:
            used = {n: g * (GRADIENT_CLIP / norm) for n, g in used.items()}
        if self.arch_optimizer is not None:
            for p, g in zip(arch_params, grads[len(names) :], strict=True):
                p.grad = g
            self.arch_optimizer.step()
            self.arch_optimizer.zero_grad(set_to_none=True)
        return used, raw

    def _next_batch_hypergradient(self, raw: Mapping[str, Tensor], loss: float) -> float | None:
        """Eq. 4 on this step's batch for the previous step's look-ahead (``held_batch="next"``):
        grad L(theta^{t+1}) . theta^{t+1}(eta), back-propagated to eta (exact, first order in
        theta^{t+1}). Returns this batch's loss, or None where nothing was pending."""
        pending, self._pending = self._pending, {}
        common = [n for n in raw if n in pending]
        if self.hyper is None or not common:
            return None
        self.hyper.update(torch.stack([(raw[n].detach() * pending[n]).sum() for n in common]).sum())
        return loss

    def _hyperparameters(self, progress: float) -> tuple[Tensor, Tensor]:
        """This step's lr (cosine decay over the search) and weight decay, as tensors."""
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        if self.hyper is None:
            return torch.tensor(self.hp.lr * cosine), torch.tensor(self.hp.weight_decay)
        return self.hyper.lr_tensor() * cosine, self.hyper.wd_tensor()

    def _weights_step(self, grads: dict[str, Tensor], lr: Tensor, wd: Tensor, step_weights: Any) -> float | None:
        """Eq. 3 (the real step) and, with learned hyperparameters, Eq. 4 on a held batch."""
        pending = self.hyper is not None and self.held_batch == "next"
        # the pending look-ahead's graph keeps w (for d/dwd): a copy, since commit overwrites w in place
        params = {n: self.params[n].detach().clone() if pending else self.params[n].detach() for n in grads}
        momentum = {n: self.buffers[n] for n in grads if n in self.buffers}
        new, buffers = lookahead_sgd(params, grads, momentum, lr=lr, weight_decay=wd, momentum=self.hp.momentum, decay=self.decay)
        held = None
        if pending:
            self._pending = new
        elif self.hyper is not None:
            xh, yh = self._batch()
            xh = xh.contiguous(memory_format=torch.channels_last)
            held = hypergradient_step(self.net, new, xh, yh, self.hyper, forward=self._held_forward(_detached(step_weights)))
        commit(self.params, new, buffers, self.buffers)
        return held

    def _held_forward(self, step_weights: Any) -> Any:
        def forward(params: dict[str, Tensor], x: Tensor) -> Tensor:
            # training mode (the reference's training loss, Sec. 3.2); BatchNorm on the held
            # batch's statistics, the running ones untouched
            with self.net.bn_mode(BNMode.BATCH):
                return torch.func.functional_call(self.net, params, (x, step_weights), strict=False)

        return forward

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "network": self.net.state_dict(), "momentum": dict(self.buffers), "arch": self.arch.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict() if self.arch_optimizer else None,
            "policy": self.policy.state_dict() if self.policy is not None else None,
            "policy_optimizer": self.policy_optimizer.state_dict() if self.policy_optimizer else None,
            "hyper": self.hyper.state_dict() if self.hyper is not None else None,
            "generator": self.generator.get_state(), "order": self._order,
        }  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["network"])
        self.buffers = dict(state["momentum"])
        self.arch.load_state_dict(state["arch"])
        self.arch_optimizer = _arch_optimizer(self.arch)
        if self.arch_optimizer is not None and state["arch_optimizer"] is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        if self.policy is not None:
            self.policy.load_state_dict(state["policy"])
            assert self.policy_optimizer is not None
            self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        if self.hyper is not None:
            self.hyper.load_state_dict(state["hyper"])
        self.generator.set_state(state["generator"])
        self._order = state["order"]


def _standard_augmentation(settings: AugmentationSettings, data: DataSplits, with_policy: bool) -> tuple[BatchAugmenter, BatchAugmenter]:
    """(before the policy, after it): everything then nothing without a policy; with one,
    nothing before it (no crop, no flip) and the cutout after it."""
    none = AugmentationSettings(crop_padding=0, flip=False)
    if not with_policy:
        return BatchAugmenter.for_data(settings, data), BatchAugmenter.for_data(none, data)
    return BatchAugmenter.for_data(none, data), BatchAugmenter.for_data(replace(none, cutout=settings.cutout), data)


def _arch_optimizer(arch: ArchitectureSearch) -> torch.optim.Optimizer | None:
    """Adam with betas (0.5, 0.999) on the architecture parameters (DARTS, ISTA-NAS)."""
    params = arch.parameters()
    return torch.optim.Adam(params, lr=arch.learning_rate, betas=(0.5, 0.999), weight_decay=arch.weight_decay) if params else None


def _detached(step_weights: Any) -> Any:
    """The step's architecture argument without its graph (the held forward trains eta only)."""
    if isinstance(step_weights, Tensor):
        return step_weights.detach()
    if isinstance(step_weights, Mapping):
        return {k: _detached(v) for k, v in step_weights.items()}
    if isinstance(step_weights, list | tuple) and not hasattr(step_weights, "_fields"):
        return type(step_weights)(_detached(v) for v in step_weights)
    if hasattr(step_weights, "gates"):
        return type(step_weights)(step_weights.arch, [g.detach() for g in step_weights.gates])
    return step_weights
