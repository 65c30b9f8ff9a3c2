"""The elastic supernet of the ``resnet-joint`` family (seed 002 Eq. 1 ResNets).

Every weight is kept at the largest size the space allows and sliced per child, as in
:mod:`hasearch.supernet.mbconv`: the stem's and each stage's width (``filters``, then
``round(widen_j * width_{j-1})``) are the first channels of the widest; a stage runs its
first ``res_blocks_j`` blocks (depth); a block runs its first ``res_branches_j`` branches
(combined by Shake-Shake, or ShakeDrop for one branch, at the child's death-rate schedule).
:meth:`ResNetJointSupernet.export` returns the standalone
:class:`~hasearch.models.resnet_joint.ResNetJoint` with equal outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.family import InputShape
from hasearch.models.resnet_joint import (
    FAMILY,
    MAIN_BLOCKS,
    STRIDES,
    ResNetJoint,
    build_resnet_joint,
    stage_widths,
)
from hasearch.models.shake import shake_drop, shake_shake
from hasearch.space import SearchSpace
from hasearch.supernet.elastic import (
    BNMode,
    BNModeSwitch,
    bn_state,
    elastic_bn,
    kaiming,
    recalibrate_bn,
    sliced,
)
from hasearch.supernet.mbconv import space_values


@dataclass(frozen=True)
class ResNetArch:
    """One child: stem width, per stage width, blocks and branches."""

    filters: int
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    branches: tuple[int, ...]

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> ResNetArch:
        c = FAMILY.resolve(config)
        js = range(1, MAIN_BLOCKS + 1)
        widths = stage_widths(int(c["filters"]), [float(c[f"widen_factor_{j}"]) for j in js])
        return cls(int(c["filters"]), tuple(widths), tuple(int(c[f"res_blocks_{j}"]) for j in js), tuple(int(c[f"res_branches_{j}"]) for j in js))


class _ElasticConvBN(nn.Module):
    """A convolution and its BatchNorm at the largest size; ``forward`` uses a slice."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.weight = kaiming((cout, cin, kernel, kernel))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor, cout: int, stride: int, mode: BNMode) -> Tensor:
        k = self.weight.shape[-1]
        return elastic_bn(F.conv2d(x, sliced(self.weight[:cout, : x.shape[1]], x), stride=stride, padding=k // 2), self.bn, cout, mode)

    def state(self, conv: str, bn: str, cin: int, cout: int) -> dict[str, Tensor]:
        return {conv: self.weight[:cout, :cin]} | bn_state(bn, self.bn, cout)


class _ElasticBlock(nn.Module):
    """A residual block with its largest branches and (for a stage's first block) projection."""

    def __init__(self, cin: int, cout: int, *, branches: int, stride: int, first: bool) -> None:
        super().__init__()
        self.stride = stride
        self.branches = nn.ModuleList(nn.ModuleList([_ElasticConvBN(cin, cout, 3), _ElasticConvBN(cout, cout, 3)]) for _ in range(branches))
        self.projection = _ElasticConvBN(cin, cout, 1) if first else None

    def forward(self, x: Tensor, cout: int, branches: int, death_rate: float, mode: BNMode) -> Tensor:
        outs = []
        for conv1, conv2 in list(self.branches)[:branches]:
            y = F.relu(conv1(F.relu(x), cout, self.stride, mode))
            outs.append(conv2(y, cout, 1, mode))
        y = shake_drop(outs[0], death_rate, self.training) if branches == 1 else shake_shake(outs, self.training)
        if self.stride == 1 and x.shape[1] == cout:
            return x + y
        assert self.projection is not None, "only a stage's first block changes shape"
        return self.projection(x[:, :, :: self.stride, :: self.stride], cout, 1, mode) + y

    def child_state(self, prefix: str, cin: int, cout: int, branches: int) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for b, (conv1, conv2) in enumerate(list(self.branches)[:branches]):
            out |= conv1.state(f"{prefix}.branches.{b}.1.weight", f"{prefix}.branches.{b}.2", cin, cout)
            out |= conv2.state(f"{prefix}.branches.{b}.4.weight", f"{prefix}.branches.{b}.5", cout, cout)
        if (self.stride != 1 or cin != cout) and self.projection is not None:
            out |= self.projection.state(f"{prefix}.shortcut.0.conv.weight", f"{prefix}.shortcut.1", cin, cout)
        return out


class ResNetJointSupernet(BNModeSwitch, nn.Module):
    """The ``resnet-joint`` supernet over the values a space allows."""

    def __init__(self, space: SearchSpace, input_shape: InputShape, num_classes: int) -> None:
        super().__init__()
        self.input_shape, self.num_classes = input_shape, num_classes
        top = lambda name, default: max(space_values(space, name, default))
        filters = int(top("filters", 16))
        widths = stage_widths(filters, [top(f"widen_factor_{j}", 2.0) for j in range(1, MAIN_BLOCKS + 1)])  # the widest
        self.stem_stride = 2 if min(input_shape[1:]) >= 24 else 1
        self.stem = _ElasticConvBN(input_shape[0], filters, 3)
        stages, cin = [], filters
        for j, (width, stride) in enumerate(zip(widths, STRIDES, strict=True), start=1):
            depth, branches = int(top(f"res_blocks_{j}", 2)), int(top(f"res_branches_{j}", 2))
            stages.append(nn.ModuleList(_ElasticBlock(cin if k == 0 else width, width, branches=branches, stride=stride if k == 0 else 1, first=k == 0) for k in range(depth)))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(cin, num_classes)
        self.dropout, self.death_rate, self.mode = 0.0, 0.0, BNMode.TRAIN

    def set_training_config(self, config: Mapping[str, Any]) -> None:
        super().set_training_config(config)
        self.death_rate = float(config.get("shakedrop_death_rate", 0.0))

    def arch_of(self, config: Mapping[str, Any]) -> ResNetArch:
        return ResNetArch.of(config)

    def forward(self, x: Tensor, arch: ResNetArch) -> Tensor:
        x = self.stem(x, arch.filters, self.stem_stride, self.mode)
        total, index = sum(arch.blocks), 0
        for stage, width, depth, branches in zip(self.stages, arch.widths, arch.blocks, arch.branches, strict=True):
            for block in list(stage)[:depth]:
                index += 1  # ShakeDrop's linear decay: block l of L drops with p_l = l / L * p_L
                x = block(x, width, branches, self.death_rate * index / total, self.mode)
        x = torch.flatten(F.adaptive_avg_pool2d(F.relu(x), 1), 1)
        return F.linear(F.dropout(x, self.dropout, self.training), self.classifier.weight[:, : x.shape[1]], self.classifier.bias)

    def child_state_dict(self, config: Mapping[str, Any]) -> dict[str, Tensor]:
        arch = self.arch_of(config)
        state = self.stem.state("stem.0.weight", "stem.1", self.input_shape[0], arch.filters)
        cin, index = arch.filters, 0
        for stage, width, depth, branches in zip(self.stages, arch.widths, arch.blocks, arch.branches, strict=True):
            for block in list(stage)[:depth]:
                state |= block.child_state(f"blocks.{index}", cin, width, branches)
                cin, index = width, index + 1
        state |= {"classifier.weight": self.classifier.weight[:, :cin], "classifier.bias": self.classifier.bias}
        return {k: v.detach().clone() for k, v in state.items()}

    def export(self, config: Mapping[str, Any]) -> ResNetJoint:
        child = build_resnet_joint(config, self.input_shape, self.num_classes)
        child.load_state_dict(self.child_state_dict(config))
        return child

    def recalibrate(self, arch: ResNetArch, images: Tensor) -> None:
        recalibrate_bn(lambda x: self(x, arch), self, images)

