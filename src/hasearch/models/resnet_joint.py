"""Multi-branch ResNet of seed 002 (Zela et al.) Sec. 3.3, Eq. 1 and Table 3.

Net = stack_{j=1..3} MainBlock_j; MainBlock_j = stack of ResBlocks_j residual blocks;
ResBlock = x + add_{i=1..ResBranches_j} ResBranch_i(x), each branch
ReLU-Conv3x3-BN-ReLU-Conv3x3-BN-Mul, where Mul is Shake-Shake for several branches and
ShakeDrop for a single branch; Filters_j = round(WidenFactor_j * Filters_{j-1}).
First layer a 3x3 convolution, then the three main blocks (strides 1, 2, 2), global
average pooling and a linear classifier. For CPU budgets the stem halves inputs of 24
pixels or more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.models.family import InputShape, ModelFamily
from hasearch.models.shake import shake_drop, shake_shake

MAIN_BLOCKS = 3
STRIDES = (1, 2, 2)


def _branch(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        nn.BatchNorm2d(cout),
    )


class StridedProjection(nn.Module):
    """A 1x1 convolution with stride s, computed as subsampling then a stride-1 1x1 conv.

    Identical output (a 1x1 kernel at stride s reads exactly the pixels ``x[..., ::s, ::s]``),
    but avoids a torch 2.13 CPU bug: the backward pass of a strided 1x1 conv in
    channels_last with fewer than 16 input channels corrupts the heap (SIGSEGV/abort).
    """

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x)


class ResBlock(nn.Module):
    """x (or its projection) + Mul(branches(x)); Mul = Shake-Shake or ShakeDrop."""

    def __init__(self, cin: int, cout: int, *, stride: int, branches: int, death_rate: float) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_branch(cin, cout, stride) for _ in range(branches))
        self.death_rate = death_rate
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(StridedProjection(cin, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        if len(outs) == 1:
            y = shake_drop(outs[0], self.death_rate, self.training)
        else:
            y = shake_shake(outs, self.training)
        return self.shortcut(x) + y


def stage_widths(filters: int, widen: list[float]) -> list[int]:
    """Filters_j = round(WidenFactor_j * Filters_{j-1}) (seed 002 Eq. 1), at least 1."""
    widths, prev = [], filters
    for w in widen:
        prev = max(1, round(w * prev))
        widths.append(prev)
    return widths


class ResNetJoint(nn.Module):
    """The standalone child network of the ``resnet-joint`` family."""

    def __init__(
        self,
        *,
        filters: int,
        blocks: list[int],
        branches: list[int],
        widen: list[float],
        death_rate: float,
        input_shape: InputShape,
        num_classes: int,
    ) -> None:
        super().__init__()
        stem_stride = 2 if min(input_shape[1:]) >= 24 else 1
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], filters, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(filters)
        )
        total, layers, cin, index = sum(blocks), [], filters, 0
        self.depth_fractions: list[float] = []
        for width, n, b, stride in zip(stage_widths(filters, widen), blocks, branches, STRIDES, strict=True):
            for k in range(n):
                index += 1
                self.depth_fractions.append(index / total)
                layers.append(ResBlock(cin, width, stride=stride if k == 0 else 1, branches=b, death_rate=0.0))
                cin = width
        self.blocks = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, num_classes)
        self.set_death_rate(death_rate)

    def set_death_rate(self, death_rate: float) -> None:
        """ShakeDrop's linear decay rule: block l of L drops with p_l = l / L * p_L."""
        for block, fraction in zip(self.blocks, self.depth_fractions, strict=True):
            block.death_rate = death_rate * fraction

    def apply_training_config(self, config: Mapping[str, Any]) -> None:
        """Per-step hyperparameters of weight-sharing search (AutoHAS samples p_L each step)."""
        if "shakedrop_death_rate" in config:
            self.set_death_rate(float(config["shakedrop_death_rate"]))

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build_resnet_joint(config: Mapping[str, Any], input_shape: InputShape, num_classes: int) -> ResNetJoint:
    """Build the child network described by ``config`` (missing values: family defaults)."""
    c = FAMILY.resolve(config)
    js = range(1, MAIN_BLOCKS + 1)
    return ResNetJoint(
        filters=int(c["filters"]),
        blocks=[int(c[f"res_blocks_{j}"]) for j in js],
        branches=[int(c[f"res_branches_{j}"]) for j in js],
        widen=[float(c[f"widen_factor_{j}"]) for j in js],
        death_rate=float(c["shakedrop_death_rate"]),
        input_shape=input_shape,
        num_classes=num_classes,
    )


def _defaults() -> dict[str, Any]:
    d: dict[str, Any] = {"filters": 16, "shakedrop_death_rate": 0.0}
    for j in range(1, MAIN_BLOCKS + 1):
        d[f"res_blocks_{j}"] = 2
        d[f"res_branches_{j}"] = 2
        d[f"widen_factor_{j}"] = 1.0 if j == 1 else 2.0
    return d


def _checks() -> dict[str, Any]:
    positive_int = (lambda v: float(v).is_integer() and 1 <= v <= 256, "integer in [1, 256]")
    c: dict[str, Any] = {
        "filters": positive_int,
        "shakedrop_death_rate": (lambda v: 0.0 <= v <= 1.0, "rate in [0, 1]"),
    }
    for j in range(1, MAIN_BLOCKS + 1):
        c[f"res_blocks_{j}"] = positive_int
        c[f"res_branches_{j}"] = (lambda v: float(v).is_integer() and 1 <= v <= 8, "integer in [1, 8]")
        c[f"widen_factor_{j}"] = (lambda v: 0.0 < v <= 16.0, "factor in (0, 16]")
    return c


FAMILY = ModelFamily(
    name="resnet-joint",
    description="multi-branch Shake-Shake/ShakeDrop ResNet, 10 architecture choices (seed 002)",
    build=build_resnet_joint,
    defaults=_defaults(),
    checks=_checks(),
)
