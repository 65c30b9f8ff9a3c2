"""Elastic operations shared by every supernet (Once-for-All style, seed 003 Fig. 1).

A supernet layer keeps its largest weight; a child uses a slice of it:

* width: the first ``cout`` output and first ``cin`` input channels (seed 003 Sec. 3.2,
  Fig. 1b), BatchNorm sliced with them (:func:`elastic_bn`);
* kernel: the centre ``k x k`` crop of the largest kernel (:func:`kernel_slice`);
* depth and resolution live in the networks (first d blocks; resized input).

Slices are views; :func:`sliced` copies them into the activations' memory format, since
oneDNN otherwise falls back to slow reorders (4x slower forward on CPU, measured).

BatchNorm statistics of a shared supernet are stale for any particular child, so
:class:`BNMode` selects per call: ``TRAIN`` (batch statistics, running statistics
updated), ``BATCH`` (batch statistics only: scoring a sampled child on a validation batch)
or ``RUNNING`` (running statistics, after :func:`recalibrate_bn` for one child).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BNMode(Enum):
    TRAIN = "train"
    BATCH = "batch"
    RUNNING = "running"


def elastic_bn(x: Tensor, bn: nn.BatchNorm2d, n: int, mode: BNMode) -> Tensor:
    """BatchNorm on the first ``n`` channels of ``bn`` (views: running stats update in place)."""
    if mode is BNMode.BATCH:
        return F.batch_norm(x, None, None, bn.weight[:n], bn.bias[:n], True, 0.0, bn.eps)
    training = mode is BNMode.TRAIN
    momentum = bn.momentum or 0.0
    if training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:  # cumulative moving average, as nn.BatchNorm2d does
            momentum = 1.0 / float(bn.num_batches_tracked)
    return F.batch_norm(x, bn.running_mean[:n], bn.running_var[:n], bn.weight[:n], bn.bias[:n], training, momentum, bn.eps)


def bn_state(prefix: str, bn: nn.BatchNorm2d, n: int) -> dict[str, Tensor]:
    """The first ``n`` channels of ``bn`` as a standalone ``nn.BatchNorm2d(n)`` names them."""
    return {
        f"{prefix}.weight": bn.weight[:n],
        f"{prefix}.bias": bn.bias[:n],
        f"{prefix}.running_mean": bn.running_mean[:n],
        f"{prefix}.running_var": bn.running_var[:n],
        f"{prefix}.num_batches_tracked": bn.num_batches_tracked,
    }


def kernel_slice(max_kernel: int, kernel: int) -> slice:
    """The centre ``kernel`` rows (or columns) of a ``max_kernel`` kernel."""
    start = (max_kernel - kernel) // 2
    return slice(start, start + kernel)


def memory_format(x: Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def sliced(weight: Tensor, x: Tensor) -> Tensor:
    """A sliced weight, contiguous in the memory format of the activations ``x`` and, under
    autocast, already in its precision: one copy instead of the slice's copy and then
    autocast's cast of it (the values autocast would give the convolution)."""
    fmt = memory_format(x)
    if torch.is_autocast_enabled(x.device.type) and weight.dtype == torch.float32:
        return weight.to(dtype=torch.get_autocast_dtype(x.device.type), memory_format=fmt)
    return weight.contiguous(memory_format=fmt)


def kaiming(shape: tuple[int, ...]) -> nn.Parameter:
    """A weight initialised as ``nn.Conv2d`` initialises its own."""
    weight = torch.empty(shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return nn.Parameter(weight)


class BNModeSwitch:
    """``with net.bn_mode(BNMode.BATCH): ...`` for networks with a ``mode`` attribute."""

    mode: BNMode
    dropout: float

    def set_training_config(self, config: Mapping[str, Any]) -> None:
        """Apply the sampled hyperparameters that live inside the network (dropout here)."""
        self.dropout = float(config.get("dropout", 0.0))

    @contextmanager
    def bn_mode(self, mode: BNMode) -> Iterator[None]:
        previous, self.mode = self.mode, mode
        try:
            yield
        finally:
            self.mode = previous


@torch.no_grad()
def recalibrate_bn(forward: Callable[[Tensor], Tensor], network: nn.Module, images: Tensor, batch_size: int = 250) -> None:
    """Reset and re-estimate the BatchNorm running statistics of one child on ``images``
    (OFA: about 2,000 training images); ``forward`` runs that child through ``network``."""
    bns = [m for m in network.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    was_training = network.training
    network.train()
    try:
        with _mode(network, BNMode.TRAIN):
            for start in range(0, len(images), batch_size):
                forward(images[start : start + batch_size])
    finally:
        for bn in bns:
            bn.momentum = 0.1
        network.train(was_training)


@contextmanager
def _mode(network: nn.Module, mode: BNMode) -> Iterator[None]:
    switch = getattr(network, "bn_mode", None)
    if switch is None:
        yield
        return
    with switch(mode):
        yield
