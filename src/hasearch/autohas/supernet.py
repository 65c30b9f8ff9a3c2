"""Weight-sharing supernets: one network holding every candidate child (seed 000 Sec. 2.3).

:class:`MBConvSupernet` shares weights as Once-for-All does: each layer keeps the largest
kernel and expansion and a sampled child slices them (a 3x3 kernel is the centre of the
5x5 one; expansion 3 uses the first 3*cin channels of expansion 6). A forward pass runs
only the child's path, so time and memory per step are those of the child. Sharing keeps
4x fewer weights than separate candidates and trains the shared core at every step; like
OFA, unused slices still follow their momentum and weight decay.

BatchNorm statistics of a shared supernet are stale for any particular child, so
:class:`BNMode` selects per call: ``TRAIN`` (batch statistics, running statistics
updated), ``BATCH`` (batch statistics only: scoring a sampled child on a validation batch)
or ``RUNNING`` (running statistics, after :func:`recalibrate_bn` for one child).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.mbconv import HEAD_CHANNELS, LAYERS, STEM_CHANNELS, conv_bn, stem_stride
from hasearch.space import SearchSpace

Arch = tuple[tuple[int, int], ...]  # (kernel, expansion) per layer


class BNMode(Enum):
    TRAIN = "train"
    BATCH = "batch"
    RUNNING = "running"


def _bn(x: Tensor, bn: nn.BatchNorm2d, n: int, mode: BNMode) -> Tensor:
    """BatchNorm on the first ``n`` channels of ``bn`` (views: running stats update in place)."""
    if mode is BNMode.BATCH:
        return F.batch_norm(x, None, None, bn.weight[:n], bn.bias[:n], True, 0.0, bn.eps)
    training = mode is BNMode.TRAIN
    momentum = bn.momentum or 0.0
    if training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:  # cumulative moving average, as nn.BatchNorm2d does
            momentum = 1.0 / float(bn.num_batches_tracked)
    return F.batch_norm(
        x, bn.running_mean[:n], bn.running_var[:n], bn.weight[:n], bn.bias[:n], training, momentum, bn.eps
    )


def _format(x: Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def _kaiming(shape: tuple[int, ...]) -> nn.Parameter:
    weight = torch.empty(shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # nn.Conv2d's default initialisation
    return nn.Parameter(weight)


class _BNModeSwitch:
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


class SuperMBConvBlock(nn.Module):
    """An MBConv layer holding all (kernel, expansion) candidates in shared weights."""

    def __init__(self, cin: int, cout: int, *, kernels: tuple[int, ...], expansions: tuple[int, ...], stride: int) -> None:
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.max_kernel = max(kernels)
        mid = cin * max(expansions)
        self.expand_weight = _kaiming((mid, cin, 1, 1))
        self.expand_bn = nn.BatchNorm2d(mid)
        self.depthwise_weight = _kaiming((mid, 1, self.max_kernel, self.max_kernel))
        self.depthwise_bn = nn.BatchNorm2d(mid)
        self.project_weight = _kaiming((cout, mid, 1, 1))
        self.project_bn = nn.BatchNorm2d(cout)
        self.residual = stride == 1 and cin == cout

    def kernel_slice(self, kernel: int) -> slice:
        start = (self.max_kernel - kernel) // 2
        return slice(start, start + kernel)

    def forward(self, x: Tensor, kernel: int, expansion: int, mode: BNMode) -> Tensor:
        mid = self.cin * expansion
        fmt = _format(x)
        y = x
        if expansion != 1:
            y = F.relu6(_bn(F.conv2d(x, self.expand_weight[:mid].contiguous(memory_format=fmt)), self.expand_bn, mid, mode))
        k = self.kernel_slice(kernel)
        # Sliced weights are strided views: copy them into the activations' memory format, or
        # oneDNN falls back to slow reorders (4x slower forward on CPU).
        weight = self.depthwise_weight[:mid, :, k, k].contiguous(memory_format=fmt)
        y = F.conv2d(y, weight, stride=self.stride, padding=kernel // 2, groups=mid)
        y = F.relu6(_bn(y, self.depthwise_bn, mid, mode))
        y = F.conv2d(y, self.project_weight[:, :mid].contiguous(memory_format=fmt))
        y = _bn(y, self.project_bn, self.cout, mode)
        return x + y if self.residual else y

    def child_state(self, prefix: str, kernel: int, expansion: int) -> dict[str, Tensor]:
        """This layer's weights as the standalone ``MBConvBlock`` names them."""
        mid = self.cin * expansion
        k = self.kernel_slice(kernel)
        out: dict[str, Tensor] = {}
        if expansion != 1:
            out[f"{prefix}.expand.0.weight"] = self.expand_weight[:mid]
            out.update(_bn_state(f"{prefix}.expand.1", self.expand_bn, mid))
        out[f"{prefix}.depthwise.0.weight"] = self.depthwise_weight[:mid, :, k, k]
        out.update(_bn_state(f"{prefix}.depthwise.1", self.depthwise_bn, mid))
        out[f"{prefix}.project.0.weight"] = self.project_weight[:, :mid]
        out.update(_bn_state(f"{prefix}.project.1", self.project_bn, self.cout))
        return out


def _bn_state(prefix: str, bn: nn.BatchNorm2d, n: int) -> dict[str, Tensor]:
    return {
        f"{prefix}.weight": bn.weight[:n],
        f"{prefix}.bias": bn.bias[:n],
        f"{prefix}.running_mean": bn.running_mean[:n],
        f"{prefix}.running_var": bn.running_var[:n],
        f"{prefix}.num_batches_tracked": bn.num_batches_tracked,
    }


class MBConvSupernet(_BNModeSwitch, nn.Module):
    """The ``mbconv`` family's supernet over the kernel/expansion choices of a space."""

    def __init__(self, space: SearchSpace, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.choices = [(_choices(space, f"kernel_{i}", 3), _choices(space, f"expansion_{i}", 6)) for i in range(len(LAYERS))]
        self.stem = conv_bn(input_shape[0], STEM_CHANNELS, 3, stem_stride(input_shape))
        blocks, cin = [], STEM_CHANNELS
        for (cout, stride), (kernels, expansions) in zip(LAYERS, self.choices, strict=True):
            blocks.append(SuperMBConvBlock(cin, cout, kernels=kernels, expansions=expansions, stride=stride))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = conv_bn(cin, HEAD_CHANNELS, 1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)
        self.dropout = 0.0
        self.mode = BNMode.TRAIN

    def arch_of(self, config: Mapping[str, Any]) -> Arch:
        """The (kernel, expansion) per layer of ``config`` (missing: the family default)."""
        return tuple((int(config.get(f"kernel_{i}", 3)), int(config.get(f"expansion_{i}", 6))) for i in range(len(LAYERS)))

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        x = self._stem_head(self.stem, x)
        for block, (kernel, expansion) in zip(self.blocks, arch, strict=True):
            x = block(x, kernel, expansion, self.mode)
        x = self._stem_head(self.head, x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(F.dropout(x, self.dropout, self.training))

    def _stem_head(self, seq: nn.Sequential, x: Tensor) -> Tensor:
        conv, bn = seq[0], seq[1]
        return F.relu6(_bn(conv(x), bn, bn.num_features, self.mode))

    def child_state_dict(self, config: Mapping[str, Any]) -> dict[str, Tensor]:
        """The sampled child's weights, keyed like the standalone ``MBConvNet``."""
        state = {f"stem.{k}": v for k, v in self.stem.state_dict().items()}
        state |= {f"head.{k}": v for k, v in self.head.state_dict().items()}
        state |= {f"classifier.{k}": v for k, v in self.classifier.state_dict().items()}
        for i, (block, (kernel, expansion)) in enumerate(zip(self.blocks, self.arch_of(config), strict=True)):
            state |= block.child_state(f"blocks.{i}", kernel, expansion)
        return {k: v.detach().clone() for k, v in state.items()}


def _choices(space: SearchSpace, name: str, default: int) -> tuple[int, ...]:
    if name in space:
        p = space[name]
        return tuple(int(c) for c in p.choices) if p.choices else tuple(range(int(p.low), int(p.high) + 1))
    return (int(space.baseline.get(name, default)),)


@torch.no_grad()
def recalibrate_bn(supernet: MBConvSupernet, arch: Arch, images: Tensor, batch_size: int = 250) -> None:
    """Reset and re-estimate BatchNorm running statistics for one child (OFA's ~2,000 images)."""
    for module in supernet.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    was_training = supernet.training
    supernet.train()
    with supernet.bn_mode(BNMode.TRAIN):
        for start in range(0, len(images), batch_size):
            supernet(images[start : start + batch_size], arch)
    for module in supernet.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    supernet.train(was_training)


class FixedNetwork(_BNModeSwitch, nn.Module):
    """A standalone child as the 'supernet' of hyperparameter-only search (any model family)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.mode = BNMode.TRAIN
        self.choices: list[Any] = []

    def arch_of(self, config: Mapping[str, Any]) -> Arch:
        return ()

    def set_training_config(self, config: Mapping[str, Any]) -> None:
        """Dropout, plus whatever the model family applies per step (e.g. ShakeDrop's rate)."""
        super().set_training_config(config)
        apply = getattr(self.model, "apply_training_config", None)
        if apply is not None:
            apply(config)

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        if self.mode is BNMode.BATCH:  # batch statistics, running statistics left as they are
            bns = [m for m in self.model.modules() if isinstance(m, nn.BatchNorm2d)]
            saved = [(m.momentum, m.training) for m in bns]
            for m in bns:  # batch statistics even when the rest of the network is in eval mode
                m.momentum = 0.0
                m.train()
            try:
                return self.model(x)
            finally:
                for m, (momentum, training) in zip(bns, saved, strict=True):
                    m.momentum = momentum
                    m.train(training)
        return self.model(x)

    @property
    def dropout(self) -> float:
        return next((m.p for m in self.model.modules() if isinstance(m, nn.Dropout)), 0.0)

    @dropout.setter
    def dropout(self, p: float) -> None:
        for m in self.model.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
