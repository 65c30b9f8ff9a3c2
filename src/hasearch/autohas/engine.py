"""One AutoHAS search step (seed 000 Alg. 1, Sec. 2.3) on a shared-weights network.

Per step: sample (alpha, h); compute the gradient of the sampled child's training loss
under h (augmentation, mixup, label smoothing, dropout) on a training batch; W* = one step
of h's optimizer (h's learning rate, weight decay, momentum); reward Q = accuracy of W* on
a validation batch (BatchNorm on that batch's statistics); the caller updates the
controller.

Reuse: the paper computes f_h twice on the same batch, once out of place for W* (scored,
then discarded) and once for the real update of W. Both see the same gradient and
hyperparameters, so W* *is* the updated W: here W's paired reward is scored first, then
the optimizer's step runs once and W* is scored (:mod:`hasearch.autohas.undo` puts W back
when W* diverged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.autohas.undo import StepUndo
from hasearch.data.augment import BatchAugmenter, mixup
from hasearch.data.splits import DataSplits
from hasearch.device import CPU, Compute
from hasearch.supernet.elastic import BNMode
from hasearch.train.hparams import OPTIMIZERS, AugmentationSettings, TrainingHyperparameters


@dataclass(frozen=True)
class StepResult:
    train_loss: float
    accuracy: float | None  # Q(alpha, h): validation-batch accuracy of W* (None: not scored)
    accuracy_before: float | None = None  # the same batch's accuracy of W (paired rewards)
    diverged: bool = False  # non-finite loss or W*: the sample fails and W is not updated


class SharedWeightsTrainer:
    """Trains a supernet with per-step sampled hyperparameters and scores samples with W*.

    Args:
        supernet: A supernet of :mod:`hasearch.supernet` (or a ``FixedNetwork``).
        data: The splits (training batches for W, validation batches for rewards).
        seed: Seeds batch order and validation batches.
        val_batch: Validation images per reward.
        reward_dtype: The reward forwards' autocast precision (``torch.bfloat16``), or None
            for float32 (:func:`reward_precision` picks the default).
        compute: The training forward's precision; the supernet is moved to the data's device.
            W* and the real update stay float32 (autocast lowers only the forward).
    """

    def __init__(
        self,
        supernet: nn.Module,
        data: DataSplits,
        *,
        seed: int,
        val_batch: int = 256,
        reward_dtype: torch.dtype | None = None,
        compute: Compute = CPU,
    ) -> None:
        self.net = supernet.to(device=data.device, memory_format=torch.channels_last)
        self.data, self.compute = data, compute
        self.val_batch, self.reward_dtype = val_batch, reward_dtype
        decay = [p for p in supernet.parameters() if p.ndim > 1]
        no_decay = [p for p in supernet.parameters() if p.ndim <= 1]
        groups = lambda: [{"params": decay, "weight_decay": 0.0}, {"params": no_decay, "weight_decay": 0.0}]
        self.optimizers = {name: make(groups(), TrainingHyperparameters()) for name, make in OPTIMIZERS.items()}
        self.names = {p: n for n, p in supernet.named_parameters()}
        self._augmenters: dict[AugmentationSettings, BatchAugmenter] = {}
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._undo = StepUndo(self.net)

    def _augmenter(self, config: Mapping[str, Any]) -> BatchAugmenter:
        settings = AugmentationSettings.from_config(config)
        if settings not in self._augmenters:
            self._augmenters[settings] = BatchAugmenter.for_data(settings, self.data)
        return self._augmenters[settings]

    def _train_batch(self, size: int) -> tuple[Tensor, Tensor]:
        if len(self._order) < size:  # drawn on the CPU (the same batches on every device), moved once per epoch
            self._order = torch.randperm(len(self.data.train), generator=self.generator).to(self.data.device)
        idx, self._order = self._order[:size], self._order[size:]
        return self.data.train.x.index_select(0, idx), self.data.train.y.index_select(0, idx)

    def _val_batch(self) -> tuple[Tensor, Tensor]:
        n = len(self.data.val)
        idx = torch.randperm(n, generator=self.generator)[: min(self.val_batch, n)].to(self.data.device)
        x = self.data.val.x.index_select(0, idx).contiguous(memory_format=torch.channels_last)
        return x, self.data.val.y.index_select(0, idx)

    def configure(self, config: Mapping[str, Any], lr_scale: float) -> torch.optim.Optimizer:
        """The optimizer chosen by ``config``, with its hyperparameters for this step."""
        hp = TrainingHyperparameters.from_config(config)
        optimizer = self.optimizers[hp.optimizer]
        for i, group in enumerate(optimizer.param_groups):
            group["lr"] = hp.lr * lr_scale
            group["weight_decay"] = hp.weight_decay if i == 0 else 0.0
            if "momentum" in group:
                group["momentum"] = hp.momentum
        if hp.momentum > 0:
            _add_missing_momentum_buffers(optimizer)
        return optimizer

    def gradient(self, config: Mapping[str, Any], arch: Any) -> float:
        """Backpropagate the sampled child's training loss under ``config``; returns the loss."""
        hp = TrainingHyperparameters.from_config(config)
        x, y = self._train_batch(min(hp.batch_size, len(self.data.train)))
        x = self._augmenter(config)(x).contiguous(memory_format=torch.channels_last)
        x, ya, yb, lam = mixup(x, y, hp.mixup_alpha, self.generator)
        self.net.set_training_config(config)
        self.net.train()
        loss_fn = nn.CrossEntropyLoss(label_smoothing=hp.label_smoothing)
        with self.net.bn_mode(BNMode.TRAIN), self.compute.autocast():
            out = self.net(x, arch)
            loss = loss_fn(out, ya) if lam >= 1.0 else lam * loss_fn(out, ya) + (1 - lam) * loss_fn(out, yb)
        self.net.zero_grad(set_to_none=True)
        loss.backward()
        return float(loss.detach())

    def _accuracy(self, x: Tensor, y: Tensor, arch: Any) -> float:
        return scored_accuracy(self.net, x, y, arch, dtype=self.reward_dtype)

    def step(
        self, config: Mapping[str, Any], arch: Any, lr_scale: float, *, paired: bool = False, scored: bool = True
    ) -> StepResult:
        """Gradient, the real step W <- W* = f_h(W), and the reward Q = accuracy of W* on a
        validation batch; with ``paired`` also W's accuracy on the same batch, before the step.

        Seed 000 computes W* out of place, scores it, discards it, then updates W by f_h on
        the same batch: both steps see the same gradient and hyperparameters, so W* *is* the
        updated W. Here the optimizer's own step makes it once (no second copy of the update
        arithmetic, no swapping W* in and out). A diverged sample (non-finite loss or W*)
        leaves W and the optimizer state as they were (:class:`StepUndo`). ``scored=False``
        (warm-up steps whose reward nothing reads): W's step alone, no validation forwards,
        accuracy None.
        """
        optimizer = self.configure(config, lr_scale)
        loss = self.gradient(config, arch)
        if not scored:
            return StepResult(loss, None, diverged=not self._update(optimizer, loss))
        x, y = self._val_batch()
        before = self._accuracy(x, y, arch) if paired else None
        if not self._update(optimizer, loss):
            return StepResult(loss, 0.0, before, diverged=True)  # Q = 0; paired: the worst the batch allows
        return StepResult(loss, self._accuracy(x, y, arch), before)

    def _update(self, optimizer: torch.optim.Optimizer, loss: float) -> bool:
        """W <- f_h(W); False, with W and the optimizer state as they were, when the loss or
        the new W is not finite."""
        if not math.isfinite(loss):
            return False
        self._undo.save(optimizer)
        optimizer.step()
        if all_finite(list(self.net.parameters())):
            return True
        self._undo.restore(optimizer)
        return False


@torch.no_grad()
def all_finite(tensors: list[Tensor]) -> bool:
    """Whether every element of ``tensors`` is finite, in a few foreach kernels and one sync.
    Multiplying by 0 first keeps it exact: 0 * x is 0 for finite x and NaN for inf or NaN,
    whereas the norm of large finite values (1e20 and up in float32) would overflow."""
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(torch._foreach_mul(tensors, 0.0)))).all())


def reward_precision(device: torch.device) -> torch.dtype | None:
    """bfloat16 where the device computes it natively (a CPU with AVX512-BF16 / AMX: a reward
    forward of 256 images took 35 ms against 121 ms in float32; a CUDA GPU with bf16), else
    None (float32). Departure from seed 000, which scores W* in the training precision:
    ``benchmarks/reward_precision.py`` measures that the rewards keep their correlation with
    the full validation set's."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


@torch.no_grad()
def scored_logits(net: nn.Module, x: Tensor, arch: Any, *, dtype: torch.dtype | None) -> Tensor:
    """A supernet child's float32 logits on ``x`` as rewards score it: eval mode, BatchNorm on
    the batch's statistics, autocast to ``dtype`` (None: float32)."""
    was_training = net.training
    net.eval()
    try:
        with net.bn_mode(BNMode.BATCH), torch.autocast(x.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            return net(x, arch).float()
    finally:
        net.train(was_training)


def scored_accuracy(net: nn.Module, x: Tensor, y: Tensor, arch: Any, *, dtype: torch.dtype | None) -> float:
    """Accuracy of :func:`scored_logits`."""
    return float((scored_logits(net, x, arch, dtype=dtype).argmax(1) == y).float().mean())


def _add_missing_momentum_buffers(optimizer: torch.optim.Optimizer) -> None:
    """RMSprop creates its momentum buffer only if momentum > 0 at a parameter's first step;
    a shared optimizer first used with momentum 0 would raise KeyError later. Add the zero
    buffer torch would have created."""
    if not isinstance(optimizer, torch.optim.RMSprop):
        return
    for state in optimizer.state.values():
        if state and "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(state["square_avg"], memory_format=torch.preserve_format)
