"""MobileNetV2-style MBConv networks: the ``mbconv`` family (seed 000 Sec. 3.2) and the
``mobilenetv2`` family (seed 003 Table 4 at CPU scale).

Both are stages of inverted-residual blocks after a 3x3 stem and before a 1x1 head. A
:class:`Plan` fixes each stage's base channels, stride and largest depth; a configuration
chooses, per block slot, the kernel size and expansion ratio (``kernel_i``,
``expansion_i``; slots are numbered stage by stage over the largest depths), per stage the
depth (``depth_s``: the first d blocks run) and the width (``width_s``: a multiplier of
the stage's base channels), and ``input_scale`` (the input is resized to that fraction of
its native size before the stem, seed 003 Fig. 1a). The stem halves inputs of 24 pixels or
more (native size, so a scale changes no weight shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.family import InputShape, ModelFamily


@dataclass(frozen=True)
class Stage:
    """Base output channels (width 1.0), stride of the first block, default and largest depth."""

    channels: int
    stride: int
    depth: int
    max_depth: int


@dataclass(frozen=True)
class Plan:
    """The fixed skeleton of an MBConv family."""

    stages: tuple[Stage, ...]
    stem: int = 16
    head: int = 128

    @property
    def slots(self) -> list[tuple[int, int]]:
        """(stage, block within the stage) of every block slot, in order."""
        return [(s, b) for s, stage in enumerate(self.stages) for b in range(stage.max_depth)]


@dataclass(frozen=True)
class MBConvArch:
    """One child: per stage depth and output channels; per block (kernel, expansion) of the
    blocks that run; the input scale."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    blocks: tuple[tuple[tuple[int, int], ...], ...]  # per stage, (kernel, expansion) per running block
    scale: float = 1.0


def stem_stride(input_shape: InputShape) -> int:
    """Inputs of 24 pixels or more are halved by the stem (keeps CPU step time low)."""
    return 2 if min(input_shape[1:]) >= 24 else 1


def scaled_size(input_shape: InputShape, scale: float) -> tuple[int, int]:
    """The input's height and width after ``input_scale`` (at least 4 pixels)."""
    return max(4, round(scale * input_shape[1])), max(4, round(scale * input_shape[2]))


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Seed 003 Fig. 1a: rescale the input, weights unchanged (bilinear, antialiased)."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


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
    """The standalone child network of an MBConv family."""

    def __init__(self, plan: Plan, arch: MBConvArch, *, dropout: float, input_shape: InputShape, num_classes: int) -> None:
        super().__init__()
        self.size = scaled_size(input_shape, arch.scale)
        self.stem = conv_bn(input_shape[0], plan.stem, 3, stem_stride(input_shape))
        blocks, cin = [], plan.stem
        for stage, width, choices in zip(plan.stages, arch.widths, arch.blocks, strict=True):
            for b, (kernel, expansion) in enumerate(choices):
                stride = stage.stride if b == 0 else 1
                blocks.append(MBConvBlock(cin, width, kernel=kernel, expansion=expansion, stride=stride))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(cin, plan.head, 1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(plan.head, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(resize(x, self.size))))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(self.dropout(x))


@dataclass(frozen=True)
class MBConvFamily:
    """A plan and the names its configurations use."""

    plan: Plan

    def arch_of(self, config: Mapping[str, Any]) -> MBConvArch:
        """The child ``config`` describes (missing values: the plan's defaults)."""
        depths, widths, blocks, slot = [], [], [], 0
        for s, stage in enumerate(self.plan.stages):
            depth = int(config.get(f"depth_{s}", stage.depth))
            depths.append(depth)
            widths.append(max(1, round(float(config.get(f"width_{s}", 1.0)) * stage.channels)))
            choices = [(int(config.get(f"kernel_{slot + b}", 3)), int(config.get(f"expansion_{slot + b}", 6))) for b in range(depth)]
            blocks.append(tuple(choices))
            slot += stage.max_depth
        return MBConvArch(tuple(depths), tuple(widths), tuple(blocks), float(config.get("input_scale", 1.0)))

    def build(self, config: Mapping[str, Any], input_shape: InputShape, num_classes: int) -> MBConvNet:
        dropout = float(config.get("dropout", 0.0))
        return MBConvNet(self.plan, self.arch_of(config), dropout=dropout, input_shape=input_shape, num_classes=num_classes)

    def defaults(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for i in range(len(self.plan.slots)):
            d[f"kernel_{i}"] = 3
            d[f"expansion_{i}"] = 6
        for s, stage in enumerate(self.plan.stages):
            d[f"width_{s}"] = 1.0
            if stage.max_depth > 1:
                d[f"depth_{s}"] = stage.depth
        d["input_scale"] = 1.0
        d["dropout"] = 0.0
        return d

    def checks(self) -> dict[str, Any]:
        kernel = (lambda v: v in (1, 3, 5, 7), "odd kernel size 1, 3, 5 or 7")
        expansion = (lambda v: float(v).is_integer() and 1 <= v <= 8, "integer expansion ratio in [1, 8]")
        c: dict[str, Any] = {
            "dropout": (lambda v: 0.0 <= v < 1.0, "dropout in [0, 1)"),
            "input_scale": (lambda v: 0.1 <= v <= 2.0, "input scale in [0.1, 2]"),
        }
        for i in range(len(self.plan.slots)):
            c[f"kernel_{i}"] = kernel
            c[f"expansion_{i}"] = expansion
        for s, stage in enumerate(self.plan.stages):
            c[f"width_{s}"] = (lambda v: 0.0 < v <= 4.0, "width multiplier in (0, 4]")
            if stage.max_depth > 1:
                c[f"depth_{s}"] = (
                    lambda v, top=stage.max_depth: float(v).is_integer() and 1 <= v <= top,
                    f"integer depth in [1, {stage.max_depth}]",
                )
        return c

    def model_family(self, name: str, description: str) -> ModelFamily:
        return ModelFamily(name=name, description=description, build=self.build, defaults=self.defaults(), checks=self.checks())


# seed 000's stack: six layers (16 s1), (24 s2, 24), (32 s2, 32), (64): depth and width fixed by default
MBCONV = MBConvFamily(Plan((Stage(16, 1, 1, 1), Stage(24, 2, 2, 2), Stage(32, 2, 2, 2), Stage(64, 1, 1, 1))))
# seed 003's MobileNetV2 space at CPU scale: the same default network, stages up to 3 blocks deep
MOBILENETV2 = MBConvFamily(Plan((Stage(16, 1, 1, 1), Stage(24, 2, 2, 3), Stage(32, 2, 2, 3), Stage(64, 1, 1, 3))))

FAMILY = MBCONV.model_family("mbconv", "MobileNetV2-style MBConv stack, per-layer kernel and expansion (seed 000)")
MOBILENETV2_FAMILY = MOBILENETV2.model_family(
    "mobilenetv2", "MobileNetV2 stages with elastic width, depth, kernel, expansion and input scale (seed 003)"
)


def build_mbconv(config: Mapping[str, Any], input_shape: InputShape, num_classes: int) -> MBConvNet:
    """Build the ``mbconv`` child described by ``config`` (missing values: family defaults)."""
    return MBCONV.build(config, input_shape, num_classes)
