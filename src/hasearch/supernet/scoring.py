"""Scoring a sampled child of a supernet the way Once-for-All does: recalibrate its BatchNorm
statistics on a fixed set of training images, then evaluate it with those statistics.

Shared BatchNorm running statistics belong to no child in particular, so a child scored
with them is meaningless (../shared/notes/method-facts.md, "Elastic networks"). NES (seed
003) compares children on the evaluation split; this is the call it needs. (AutoHAS's
one-step reward instead uses the validation batch's own statistics, ``BNMode.BATCH``.)
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor, nn

from hasearch.data.splits import Split
from hasearch.supernet.elastic import BNMode

CALIBRATION_IMAGES = 2000  # OFA's default


class Supernet(Protocol):
    def recalibrate(self, arch: Any, images: Tensor) -> None: ...

    def bn_mode(self, mode: BNMode) -> Any: ...

    def __call__(self, x: Tensor, arch: Any) -> Tensor: ...


def calibration_images(train: Split, *, count: int = CALIBRATION_IMAGES, seed: int = 0) -> Tensor:
    """A fixed, seeded subset of the training images (the same for every child)."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(train), generator=generator)[: min(count, len(train))]
    return train.x[index.to(train.x.device)]


@torch.no_grad()
def running_logits(net: Supernet, x: Tensor, arch: Any) -> Tensor:
    """A child's float32 logits in eval mode on the BatchNorm running statistics (those
    :meth:`recalibrate` just estimated); the training mode is restored afterwards."""
    assert isinstance(net, nn.Module)
    was_training = net.training
    net.eval()
    try:
        with net.bn_mode(BNMode.RUNNING):
            return net(x, arch).float()
    finally:
        net.train(was_training)


def recalibrated_logits(net: Supernet, arch: Any, images: Tensor, x: Tensor) -> Tensor:
    """A child's logits on ``x`` after recalibrating its BatchNorm on ``images`` (OFA)."""
    net.recalibrate(arch, images)
    return running_logits(net, x, arch)


@torch.no_grad()
def score_child(net: Supernet, arch: Any, images: Tensor, split: Split, *, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of one child on ``split``, after recalibrating its
    BatchNorm statistics on ``images``. The supernet's shared statistics are overwritten:
    callers that keep training restore or re-estimate them."""
    net.recalibrate(arch, images)
    total_loss, correct = 0.0, 0
    for start in range(0, len(split), batch_size):
        out = running_logits(net, split.x[start : start + batch_size], arch)
        y = split.y[start : start + batch_size]
        total_loss += float(nn.functional.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
    return total_loss / len(split), correct / len(split)
