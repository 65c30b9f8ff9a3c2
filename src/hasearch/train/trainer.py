"""Train one child network for a budget and report validation metrics per epoch.

The hot step is kept lean: batches are slices of in-memory tensors, augmentation runs on
the whole batch, the learning rate follows a per-step cosine schedule, and networks
run in channels_last (1.2-1.9x faster per step on CPU, docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.data.augment import BatchAugmenter, mixup
from hasearch.data.splits import DataSplits, Split
from hasearch.device import CPU, Compute
from hasearch.errors import TrialFailed
from hasearch.train.hparams import AugmentationSettings, TrainingHyperparameters

EVAL_BATCH = 1000


@dataclass(frozen=True)
class EpochReport:
    """Metrics after a (possibly fractional) epoch of training."""

    epoch: float
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float  # training time so far, evaluation excluded


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train_child`."""

    val_accuracy: float
    val_loss: float
    epochs: float  # epochs of training the weights have seen
    start_epoch: float  # where this call started (> 0 when continuing a checkpoint)
    steps: int
    seconds: float
    history: tuple[EpochReport, ...]


@dataclass
class TrainState:
    """Where a training run stopped, so a larger budget continues instead of restarting."""

    step: int = 0
    seconds: float = 0.0
    optimizer: dict[str, Any] | None = None
    history: list[EpochReport] = field(default_factory=list)


EpochCallback = Callable[[EpochReport], None]


@dataclass(frozen=True)
class Budget:
    """How long to train: ``epochs`` of a cosine schedule that spans ``schedule_epochs``.

    Multi-fidelity methods train budget b as the first b epochs of the max-budget schedule,
    so continuing from b to a larger budget equals training the larger budget directly.
    ``max_seconds`` stops training on a time budget (training time, evaluation excluded);
    with ``schedule_seconds`` the learning rate follows training time instead of steps
    (seed 002 budgets are seconds).
    """

    epochs: float
    schedule_epochs: float | None = None
    max_seconds: float | None = None
    schedule_seconds: float | None = None

    @property
    def schedule(self) -> float:
        return self.schedule_epochs or self.epochs


def train_child(
    model: nn.Module,
    config: Mapping[str, Any],
    data: DataSplits,
    budget: Budget,
    *,
    seed: int = 0,
    train_split: Split | None = None,
    eval_split: Split | None = None,
    on_epoch: EpochCallback | None = None,
    state: TrainState | None = None,
    channels_last: bool = True,
    compute: Compute = CPU,
) -> TrainResult:
    """Train ``model`` with the hyperparameters in ``config`` for ``budget``.

    Args:
        model: The child network (trained in place).
        config: A configuration; the trainer reads the names of ``TrainingHyperparameters``
            and ``AugmentationSettings`` and ignores the rest.
        data: The splits; trains on ``data.train`` and reports on ``data.val`` unless
            ``train_split`` / ``eval_split`` say otherwise.
        budget: Epochs to train and the length of the learning-rate schedule.
        seed: Seeds batch order, augmentation and mixup.
        on_epoch: Called after every epoch with its metrics.
        state: Continue from here (updated in place); ``None`` starts fresh.
        channels_last: Train in channels_last (NHWC): 1.2-1.9x faster per step on CPU for
            every built-in space (docs/benchmarks.md).
        compute: The training precision (``model`` and ``data`` are already on its device).

    Raises:
        TrialFailed: if the training loss becomes non-finite.
    """
    train_split = train_split or data.train
    eval_split = eval_split or data.val
    state = state if state is not None else TrainState()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    run = TrainingRun.for_config(
        model, config, data, budget, seed=seed, fmt=fmt, state=state, train_size=len(train_split), compute=compute
    )
    steps = run.steps_per_epoch
    end_step = max(1, round(budget.epochs * steps)) if math.isfinite(budget.epochs) else math.inf
    start_epoch = state.step / steps
    while state.step < end_step and not run.out_of_time(state.seconds):
        train_loss = run.train_until(train_split, state, min(end_step, (state.step // steps + 1) * steps))
        report = EpochReport(state.step / steps, train_loss, *evaluate(model, eval_split, memory_format=fmt), state.seconds)
        state.history.append(report)
        if on_epoch is not None:
            on_epoch(report)
    state.optimizer = run.optimizer.state_dict()
    if not state.history:  # the budget was already reached: report the current weights
        state.history.append(EpochReport(start_epoch, math.nan, *evaluate(model, eval_split, memory_format=fmt), state.seconds))
    last = state.history[-1]
    if not math.isfinite(last.val_loss):
        raise TrialFailed(f"validation loss is {last.val_loss} after {last.epoch:.2f} epochs")
    return TrainResult(
        last.val_accuracy, last.val_loss, last.epoch, start_epoch, state.step, state.seconds, tuple(state.history)
    )


class TrainingRun:
    """The per-step machinery of one :func:`train_child` call (also used by benchmarks)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        augment: BatchAugmenter,
        hp: TrainingHyperparameters,
        fmt: torch.memory_format,
        steps_per_epoch: int,
        budget: Budget,
        seed: int,
        compute: Compute = CPU,
    ) -> None:
        self.model, self.optimizer, self.augment, self.hp, self.fmt = model, optimizer, augment, hp, fmt
        self.compute = compute
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = max(1, round(budget.schedule * steps_per_epoch)) if math.isfinite(budget.schedule) else 0
        self.budget, self.seed = budget, seed
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=hp.label_smoothing)

    @classmethod
    def for_config(
        cls,
        model: nn.Module,
        config: Mapping[str, Any],
        data: DataSplits,
        budget: Budget,
        *,
        seed: int,
        fmt: torch.memory_format,
        state: TrainState,
        train_size: int,
        compute: Compute = CPU,
    ) -> TrainingRun:
        """Set up ``model`` (memory format), its optimizer (restored from ``state``) and augmentation."""
        hp = TrainingHyperparameters.from_config(config)
        model.to(memory_format=fmt)
        optimizer = hp.make_optimizer(model)
        if state.optimizer is not None:
            optimizer.load_state_dict(state.optimizer)
        augment = BatchAugmenter.for_data(AugmentationSettings.from_config(config), data)
        return cls(model, optimizer, augment, hp, fmt, max(1, train_size // hp.batch_size), budget, seed, compute)

    def out_of_time(self, seconds: float) -> bool:
        return self.budget.max_seconds is not None and seconds >= self.budget.max_seconds

    def lr_at(self, step: int, seconds: float = 0.0) -> float:
        """Cosine annealing without restarts (Loshchilov & Hutter 2017), per step or by time."""
        if self.budget.schedule_seconds:
            progress = min(seconds / self.budget.schedule_seconds, 1.0)
        else:
            progress = min(step / self.total_steps, 1.0)
        return self.hp.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def train_until(self, split: Split, state: TrainState, end_step: float) -> float:
        """Train from ``state.step`` to ``end_step`` (within one epoch); mean training loss."""
        self.model.train()
        epoch = state.step // self.steps_per_epoch
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        torch.manual_seed(self.seed * 100_003 + state.step)
        losses: list[Tensor] = []
        start = time.perf_counter()
        for xb, yb in _batches(split, self.hp.batch_size, gen, skip=state.step % self.steps_per_epoch):
            seconds = state.seconds + time.perf_counter() - start
            if state.step >= end_step or self.out_of_time(seconds):
                break
            losses.append(self.step(xb, yb, gen, state.step, seconds))
            state.step += 1
        state.seconds += time.perf_counter() - start
        if not losses:
            return math.nan
        mean = float(torch.stack(losses).mean())
        if not math.isfinite(mean):
            raise TrialFailed(f"training loss became {mean} at step {state.step}")
        return mean

    def step(self, xb: Tensor, yb: Tensor, gen: torch.Generator, step: int, seconds: float = 0.0) -> Tensor:
        """One training step on batch (xb, yb); returns the (detached) loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step, seconds)
        xb = self.augment(xb).contiguous(memory_format=self.fmt)
        xb, ya, yb2, lam = mixup(xb, yb, self.hp.mixup_alpha, gen)
        with self.compute.autocast():  # bf16 forward and loss on float32 master weights (--precision)
            out = self.model(xb)
            loss = self.loss_fn(out, ya)
            if lam < 1.0:
                loss = lam * loss + (1.0 - lam) * self.loss_fn(out, yb2)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def _batches(split: Split, batch_size: int, gen: torch.Generator, skip: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
    """Shuffled full batches (the last partial batch is dropped), skipping ``skip`` of them.

    The order is drawn on the CPU (the same batches on every device) and moved to the
    data's device once per epoch, not per batch."""
    n = len(split)
    size = min(batch_size, n)
    order = torch.randperm(n, generator=gen).to(split.x.device)
    for start in range(skip * size, n - size + 1, size):
        idx = order[start : start + size]
        yield split.x.index_select(0, idx), split.y.index_select(0, idx)


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, *, memory_format: torch.memory_format = torch.contiguous_format) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split``."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(split), EVAL_BATCH):
        x = split.x[start : start + EVAL_BATCH].contiguous(memory_format=memory_format)
        y = split.y[start : start + EVAL_BATCH]
        out = model(x)
        total_loss += float(nn.functional.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
    return total_loss / len(split), correct / len(split)
