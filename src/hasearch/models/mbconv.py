"""MobileNetV2-style MBConv stack: the AutoHAS / ProxylessNAS space of seed 000 Sec. 3.2.

Per layer the kernel size {3, 5} and the expansion ratio {3, 6} are searchable. The
stack is sized for 28x28 and 32x32 inputs on a CPU: the stem halves inputs of 24 pixels
or more, then six MBConv layers (two stride-2) and a 1x1 head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.models.family import InputShape, ModelFamily

# (output channels, stride) of each MBConv layer.
LAYERS: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (64, 1))
STEM_CHANNELS = 16
HEAD_CHANNELS = 128


def stem_stride(input_shape: InputShape) -> int:
    """Inputs of 24 pixels or more are halved by the stem (keeps CPU step time low)."""
    return 2 if min(input_shape[1:]) >= 24 else 1


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 project (+ identity shortcut)."""

    def __init__(self, cin: int, cout: int, *, kernel: int, expansion: int, stride: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.expand = conv_bn(cin, mid, 1) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class MBConvNet(nn.Module):
    """The standalone child network of the ``mbconv`` family."""

    def __init__(
        self, *, kernels: list[int], expansions: list[int], dropout: float, input_shape: InputShape, num_classes: int
    ) -> None:
        super().__init__()
        self.stem = conv_bn(input_shape[0], STEM_CHANNELS, 3, stem_stride(input_shape))
        blocks, cin = [], STEM_CHANNELS
        for (cout, stride), k, e in zip(LAYERS, kernels, expansions, strict=True):
            blocks.append(MBConvBlock(cin, cout, kernel=k, expansion=e, stride=stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(cin, HEAD_CHANNELS, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(self.dropout(x))


def build_mbconv(config: Mapping[str, Any], input_shape: InputShape, num_classes: int) -> MBConvNet:
    """Build the child network described by ``config`` (missing values: family defaults)."""
    c = FAMILY.resolve(config)
    n = len(LAYERS)
    return MBConvNet(
        kernels=[int(c[f"kernel_{i}"]) for i in range(n)],
        expansions=[int(c[f"expansion_{i}"]) for i in range(n)],
        dropout=float(c["dropout"]),
        input_shape=input_shape,
        num_classes=num_classes,
    )


def _defaults() -> dict[str, Any]:
    d: dict[str, Any] = {}
    for i in range(len(LAYERS)):
        d[f"kernel_{i}"] = 3
        d[f"expansion_{i}"] = 6
    d["dropout"] = 0.0
    return d


def _checks() -> dict[str, Any]:
    kernel = (lambda v: v in (1, 3, 5, 7), "odd kernel size 1, 3, 5 or 7")
    expansion = (lambda v: float(v).is_integer() and 1 <= v <= 8, "integer expansion ratio in [1, 8]")
    c: dict[str, Any] = {"dropout": (lambda v: 0.0 <= v < 1.0, "dropout in [0, 1)")}
    for i in range(len(LAYERS)):
        c[f"kernel_{i}"] = kernel
        c[f"expansion_{i}"] = expansion
    return c


FAMILY = ModelFamily(
    name="mbconv",
    description="MobileNetV2-style MBConv stack, per-layer kernel and expansion (seed 000)",
    build=build_mbconv,
    defaults=_defaults(),
    checks=_checks(),
)
