"""The elastic supernet of the MBConv families (``mbconv``, ``mobilenetv2``).

Every block slot keeps the largest weights the space allows (kernel, expansion, input and
output channels); a child (:class:`~hasearch.models.mbconv.MBConvArch`) runs the first
``depth_s`` blocks of each stage at its widths, kernels and expansions, on the input
resized to its scale, and nothing else, so time and memory per step are the child's.
:meth:`MBConvSupernet.export` returns the child as a standalone
:class:`~hasearch.models.mbconv.MBConvNet` whose outputs equal the supernet's for it.
Sharing keeps far fewer weights than separate candidates and trains the shared core at
every step; as in OFA, unused slices still follow their momentum and weight decay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hasearch.models.family import InputShape
from hasearch.models.mbconv import (
    MBConvArch,
    MBConvFamily,
    MBConvNet,
    conv_bn,
    resize,
    scaled_size,
    stem_stride,
)
from hasearch.space import SearchSpace
from hasearch.supernet.elastic import (
    BNMode,
    BNModeSwitch,
    bn_state,
    elastic_bn,
    kaiming,
    kernel_slice,
    recalibrate_bn,
    sliced,
)
from hasearch.supernet.folded import batch_bn_relu6, can_fold, can_fuse, folded_pointwise_bn_relu6


class ElasticMBConvBlock(nn.Module):
    """An MBConv block holding its largest weights; a call runs one child's slice of them."""

    def __init__(self, cin: int, cout: int, *, max_kernel: int, max_expansion: int, stride: int) -> None:
        super().__init__()
        self.stride, self.max_kernel = stride, max_kernel
        mid = cin * max_expansion
        self.expand_weight = kaiming((mid, cin, 1, 1))
        self.expand_bn = nn.BatchNorm2d(mid)
        self.depthwise_weight = kaiming((mid, 1, max_kernel, max_kernel))
        self.depthwise_bn = nn.BatchNorm2d(mid)
        self.project_weight = kaiming((cout, mid, 1, 1))
        self.project_bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor, cout: int, kernel: int, expansion: int, mode: BNMode) -> Tensor:
        cin = x.shape[1]
        mid = cin * expansion
        y = x
        if expansion != 1:
            y = pointwise_bn_relu6(x, self.expand_weight[:mid, :cin], self.expand_bn, mid, mode)
        k = kernel_slice(self.max_kernel, kernel)
        y = F.conv2d(y, sliced(self.depthwise_weight[:mid, :, k, k], y), stride=self.stride, padding=kernel // 2, groups=mid)
        y = bn_relu6(y, self.depthwise_bn, mid, mode)
        y = elastic_bn(F.conv2d(y, sliced(self.project_weight[:cout, :mid], y)), self.project_bn, cout, mode)
        return x + y if self.stride == 1 and cin == cout else y

    def child_state(self, prefix: str, cin: int, cout: int, kernel: int, expansion: int) -> dict[str, Tensor]:
        """This block's slice as the standalone ``MBConvBlock`` names it."""
        mid, k = cin * expansion, kernel_slice(self.max_kernel, kernel)
        out: dict[str, Tensor] = {}
        if expansion != 1:
            out[f"{prefix}.expand.0.weight"] = self.expand_weight[:mid, :cin]
            out |= bn_state(f"{prefix}.expand.1", self.expand_bn, mid)
        out[f"{prefix}.depthwise.0.weight"] = self.depthwise_weight[:mid, :, k, k]
        out |= bn_state(f"{prefix}.depthwise.1", self.depthwise_bn, mid)
        out[f"{prefix}.project.0.weight"] = self.project_weight[:cout, :mid]
        out |= bn_state(f"{prefix}.project.1", self.project_bn, cout)
        return out


class MBConvSupernet(BNModeSwitch, nn.Module):
    """The supernet of an MBConv family over the values a space allows."""

    def __init__(self, family: MBConvFamily, space: SearchSpace, input_shape: InputShape, num_classes: int) -> None:
        super().__init__()
        self.family, self.input_shape, self.num_classes = family, input_shape, num_classes
        plan = family.plan
        self.stem = conv_bn(input_shape[0], plan.stem, 3, stem_stride(input_shape))
        blocks, cin = [], plan.stem
        for i, (s, b) in enumerate(plan.slots):
            stage = plan.stages[s]
            cout = max(1, round(_largest(space, f"width_{s}", 1.0) * stage.channels))
            blocks.append(
                ElasticMBConvBlock(
                    cin if b == 0 else cout,
                    cout,
                    max_kernel=int(_largest(space, f"kernel_{i}", 3)),
                    max_expansion=int(_largest(space, f"expansion_{i}", 6)),
                    stride=stage.stride if b == 0 else 1,
                )
            )
            cin = cout if b == stage.max_depth - 1 else cin
        self.blocks = nn.ModuleList(blocks)
        self.first_slot = [sum(st.max_depth for st in plan.stages[:s]) for s in range(len(plan.stages))]
        self.head = conv_bn(cin, plan.head, 1)
        self.classifier = nn.Linear(plan.head, num_classes)
        self.dropout = 0.0
        self.mode = BNMode.TRAIN

    def arch_of(self, config: Mapping[str, Any]) -> MBConvArch:
        """The child ``config`` describes (missing values: the family's defaults)."""
        return self.family.arch_of(config)

    def forward(self, x: Tensor, arch: MBConvArch) -> Tensor:
        x = self.stem_forward(x, arch.scale)
        for s, (width, choices) in enumerate(zip(arch.widths, arch.blocks, strict=True)):
            for b, (kernel, expansion) in enumerate(choices):
                x = self.blocks[self.first_slot[s] + b](x, width, kernel, expansion, self.mode)
        return self.head_forward(x)

    def stem_forward(self, x: Tensor, scale: float) -> Tensor:
        x = resize(x, scaled_size(self.input_shape, scale))
        return bn_relu6(self.stem[0](x), self.stem[1], self.stem[1].num_features, self.mode)

    def head_forward(self, x: Tensor) -> Tensor:
        """Head on the first ``x.shape[1]`` input channels, pooling, dropout, classifier."""
        head_conv, head_bn = self.head[0], self.head[1]
        x = pointwise_bn_relu6(x, head_conv.weight[:, : x.shape[1]], head_bn, head_bn.num_features, self.mode)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(F.dropout(x, self.dropout, self.training))

    def child_state_dict(self, config: Mapping[str, Any]) -> dict[str, Tensor]:
        """The child's weights, keyed like the standalone ``MBConvNet`` (detached copies)."""
        arch = self.arch_of(config)
        state = {f"stem.{k}": v for k, v in self.stem.state_dict().items()}
        cin, index = self.family.plan.stem, 0
        for s, (width, choices) in enumerate(zip(arch.widths, arch.blocks, strict=True)):
            for b, (kernel, expansion) in enumerate(choices):
                state |= self.blocks[self.first_slot[s] + b].child_state(f"blocks.{index}", cin, width, kernel, expansion)
                cin, index = width, index + 1
        state["head.0.weight"] = self.head[0].weight[:, :cin]
        state |= {f"head.1.{k}": v for k, v in self.head[1].state_dict().items()}
        state |= {f"classifier.{k}": v for k, v in self.classifier.state_dict().items()}
        return {k: v.detach().clone() for k, v in state.items()}

    def export(self, config: Mapping[str, Any]) -> MBConvNet:
        """The child of ``config`` as a standalone network holding its slice of the weights."""
        child = self.family.build(config, self.input_shape, self.num_classes)
        child.load_state_dict(self.child_state_dict(config))
        return child

    def recalibrate(self, arch: MBConvArch, images: Tensor) -> None:
        """Re-estimate BatchNorm statistics for one child before it is scored (OFA)."""
        recalibrate_bn(lambda x: self(x, arch), self, images)


def pointwise_bn_relu6(x: Tensor, weight: Tensor, bn: nn.BatchNorm2d, n: int, mode: BNMode) -> Tensor:
    """ReLU6 of the first ``n`` channels of ``bn`` after a 1x1 convolution; scored on batch
    statistics without a gradient, the BatchNorm folds into the convolution
    (:mod:`hasearch.supernet.folded`: the reward forward's expansions, measured faster)."""
    if mode is BNMode.BATCH and can_fold(x, n):
        return folded_pointwise_bn_relu6(x, weight, bn.weight[:n], bn.bias[:n], bn.eps)
    return bn_relu6(F.conv2d(x, sliced(weight, x)), bn, n, mode)


def bn_relu6(y: Tensor, bn: nn.BatchNorm2d, n: int, mode: BNMode) -> Tensor:
    """ReLU6 of the first ``n`` channels of ``bn`` on ``y``; on batch statistics without a
    gradient, fused into one normalising pass (:func:`~hasearch.supernet.folded.batch_bn_relu6`)."""
    if mode is BNMode.BATCH and can_fuse(y):
        return batch_bn_relu6(y, bn.weight[:n], bn.bias[:n], bn.eps)
    return F.relu6(elastic_bn(y, bn, n, mode))


def space_values(space: SearchSpace, name: str, default: float) -> tuple[float, ...]:
    """The values ``name`` takes in ``space`` (an int range: every integer; fixed: the baseline's)."""
    if name in space:
        p = space[name]
        if p.choices:
            return tuple(float(c) for c in p.choices)
        return tuple(float(v) for v in range(int(p.low), int(p.high) + 1))  # type: ignore[arg-type]
    return (float(space.baseline.get(name, default)),)


def _largest(space: SearchSpace, name: str, default: float) -> float:
    return max(space_values(space, name, default))
